"""The ``gradfree`` command line: ``gradfree demo`` runs every method on bundled problems."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import numpy as np

from . import __version__
from ._minimize import METHODS, minimize
from ._result import Status
from .testing import Rotated, ellipsoid, problem_for, rosenbrock, sphere

__all__ = ["main"]


def _demo_problems() -> list[tuple[str, Callable[..., Any], np.ndarray]]:
    return [
        ("sphere", sphere, np.full(10, 1.0)),
        ("rotated ellipsoid (cond 1e6)", Rotated(ellipsoid, 10, seed=0), np.full(10, 1.0)),
        ("rosenbrock", rosenbrock, np.zeros(2)),
    ]


def _rule(res: Any) -> str:
    """The stop rule in a word: the method's rule name, else the status name."""
    head = res.message.split(":", 1)[0]
    return head if ":" in res.message and " " not in head else Status(res.status).name.lower()


def demo(maxfev: int = 20_000, seed: int = 0, out: TextIO | None = None) -> list[dict[str, Any]]:
    """Run every registered method on the bundled problems and print a table.

    Parameters
    ----------
    maxfev : int, default=20000
        Evaluations per run.
    seed : int, default=0
        Seed of every run.
    out : file-like, optional
        Where the table goes (default: standard output).

    Returns
    -------
    list of dict
        One row per (method, problem).

    Examples
    --------
    >>> import io
    >>> rows = demo(maxfev=400, out=io.StringIO())
    >>> sorted(rows[0])
    ['d', 'f(x0)', 'fun', 'method', 'nfev', 'problem', 'seconds', 'status']
    """
    stream = sys.stdout if out is None else out
    rows = []
    for name, cls in sorted(METHODS.items()):
        for label, fun, x0 in _demo_problems():
            if getattr(cls, "vector_values", False):
                fun, label = problem_for(cls), "residual x - 1"
            start = time.perf_counter()
            res = minimize(fun, x0, method=name, rng=seed, maxfev=maxfev, workers="vectorized")
            rows.append(
                {
                    "method": name,
                    "problem": label,
                    "d": x0.shape[0],
                    "f(x0)": float(np.sum(fun(x0))),
                    "fun": res.fun,
                    "nfev": res.nfev,
                    "seconds": time.perf_counter() - start,
                    "status": _rule(res),
                }
            )
    header = (
        f"{'method':<12} {'problem':<30} {'d':>3} {'f(x0)':>10} {'best f':>10} "
        f"{'nfev':>7} {'time/s':>7}  stop"
    )
    print(header, file=stream)
    print("-" * len(header), file=stream)
    for r in rows:
        print(
            f"{r['method']:<12} {r['problem']:<30} {r['d']:>3} {r['f(x0)']:>10.3g} "
            f"{r['fun']:>10.3g} {r['nfev']:>7} {r['seconds']:>7.2f}  {r['status']}",
            file=stream,
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gradfree`` console script."""
    parser = argparse.ArgumentParser(prog="gradfree", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gradfree {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="run every method on bundled problems")
    p_demo.add_argument("--maxfev", type=int, default=20_000, help="evaluations per run")
    p_demo.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.maxfev < 1:
            parser.error("--maxfev must be >= 1")
        demo(maxfev=args.maxfev, seed=args.seed)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
