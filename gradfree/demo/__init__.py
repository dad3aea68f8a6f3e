"""``gradfree demo``: five short acts, one per family, beside what users would otherwise use.

1. a network with step activations fitted by CMA-ES, against scipy's Nelder-Mead,
   Powell and BFGS (`gradfree.demo._blackbox`);
2. digits trained without backpropagation by a local rule, online alternating
   minimization and EKI, against scikit-learn's `MLPClassifier` (`._digits`);
3. a Bayesian inverse problem by EKI and UKI, against the exact posterior and scipy's
   `curve_fit` (`._inverse`);
4. a Gaussian mixture by the method of moments, against EM (`._moments`);
5. a batch job that checkpoints, is interrupted and resumes to the same result
   (`._batch`).

Every number printed is measured in the run; with matplotlib installed the demo also
draws ``demo.png``. ``quick=True`` shrinks every act for CI.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from threadpoolctl import threadpool_limits

from .._validate import check_int
from ._batch import batch_act
from ._blackbox import blackbox_act
from ._digits import digits_act
from ._inverse import inverse_act
from ._moments import moments_act
from ._table import Act

__all__ = ["ACTS", "Act", "run_demo"]

ACTS: dict[str, Callable[..., Act]] = {
    "blackbox": blackbox_act,
    "digits": digits_act,
    "inverse": inverse_act,
    "moments": moments_act,
    "batch": batch_act,
}
"""The acts in order: name -> ``act(quick=, seed=, maxfev=) -> Act``."""


def run_demo(
    *,
    quick: bool = False,
    seed: int = 0,
    maxfev: int | None = None,
    figure: str | Path | None = "demo.png",
    acts: Any = None,
    out: TextIO | None = None,
) -> list[Act]:
    """Run the acts, print each one's table as it finishes, and draw the figure.

    Parameters
    ----------
    quick : bool, default=False
        Smaller problems and budgets (a few seconds in all; for CI).
    seed : int, default=0
        Seed of the data and of every run.
    maxfev : int, optional
        Evaluation budget of the black-box runs (acts 1 and 5); default 10000 and
        30000 (2000 and 3000 with `quick`).
    figure : path or None, default='demo.png'
        Where to draw the figure; None draws none. Without matplotlib the figure is
        skipped with a note.
    acts : sequence of str, optional
        A subset of `ACTS` (default: all five).
    out : file-like, optional
        Where the tables go (default: standard output).

    Returns
    -------
    list of Act
        What each act measured (`Act.rows`, `Act.plot`).

    Examples
    --------
    >>> import io
    >>> stream = io.StringIO()
    >>> [act] = run_demo(quick=True, acts=["inverse"], figure=None, out=stream)
    >>> act.header[:3], "truth" in stream.getvalue()
    (['method', 'A', 'k'], True)
    """
    stream = sys.stdout if out is None else out
    names = list(ACTS) if acts is None else list(acts)
    unknown = sorted(set(names) - set(ACTS))
    if unknown:
        raise ValueError(f"unknown `acts` {unknown}; choose from {list(ACTS)}.")
    if maxfev is not None:
        check_int(maxfev, "maxfev", low=1)
    start = time.perf_counter()
    size = " (--quick: small sizes)." if quick else "."
    print(
        "gradfree demo: each act runs a gradfree family beside the tool one would otherwise "
        f"use;\nevery number below is measured now{size}",
        file=stream,
    )
    done = []
    with threadpool_limits(limits=1):  # small matrices: one BLAS thread is fastest
        for name in names:
            act = ACTS[name](quick=quick, seed=seed, maxfev=maxfev)
            print("\n" + act.render(), file=stream, flush=True)
            done.append(act)
    tail = f"\nAll acts: {time.perf_counter() - start:.1f} s."
    if figure is not None:
        try:
            from ._figure import draw

            tail += f" Figure: {draw(done, figure)}"
        except ImportError:
            tail += " No figure: pip install matplotlib (or gradfree[plot]) to draw demo.png."
    print(tail, file=stream)
    return done
