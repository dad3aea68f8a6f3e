"""A thin stateful ask/tell wrapper over the functional core, for people who own the loop."""

from __future__ import annotations

import os
from typing import Any

from array_api_compat import is_array_api_obj
from scipy.optimize import OptimizeResult

from ._array import asarray_like, get_xp
from ._checkpoint import load_checkpoint, save_checkpoint
from ._driver import Run
from ._evaluation import _row_values, not_real
from ._minimize import DEFAULT_METHOD, build_strategy
from ._random import check_rng
from ._typing import Array
from ._validate import check_x0

__all__ = ["Optimizer"]


class Optimizer:
    """Stateful ask/tell interface in pycma's style.

    Parameters
    ----------
    method : str or strategy, default='cma-es'
        As in `gradfree.minimize`.
    x0 : array of shape (d,)
        Starting point; its namespace, device and dtype are kept.
    rng, bounds, maxiter, maxfev, tol, history
        As in `gradfree.minimize`; they drive `stop`.
    **options
        Hyperparameters of the method.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfree import Optimizer
    >>> opt = Optimizer("openai-es", np.ones(3), rng=0, maxiter=200, learning_rate=0.05)
    >>> while not opt.stop():
    ...     X = opt.ask()
    ...     opt.tell(X, [float(x @ x) for x in X])
    >>> res = opt.result()
    >>> res.nit, res.fun < 1e-2
    (200, True)
    """

    def __init__(
        self,
        method: Any = DEFAULT_METHOD,
        x0: Any = None,
        *,
        rng: Any = None,
        bounds: Any = None,
        maxiter: int | None = None,
        maxfev: int | None = None,
        tol: float | None = None,
        history: int = 1000,
        **options: Any,
    ) -> None:
        if x0 is None:
            raise TypeError("`x0` is required.")
        x0 = check_x0(x0)
        strategy = build_strategy(method, options, bounds, x0)
        self._run = Run(
            strategy,
            x0,
            rng=check_rng(rng),
            maxiter=maxiter,
            maxfev=maxfev,
            tol=tol,
            history=history,
        )
        self._pending: Array | None = None

    @property
    def strategy(self) -> Any:
        """The configured strategy."""
        return self._run.strategy

    @property
    def state(self) -> Any:
        """The current strategy state."""
        return self._run.state

    def ask(self) -> Array:
        """The next population, shape ``(n, d)``, in the namespace of `x0`."""
        if self._pending is not None:
            raise RuntimeError("tell() the values of the last ask() before asking again.")
        X = self._run.ask()
        if self._run.status is not None:
            raise RuntimeError(
                f"the run has stopped ({self._run.result(final=True).message}); "
                "check stop() before ask()."
            )
        self._pending = X
        return X

    def tell(self, X: Array, values: Any) -> None:
        """Report the values of the population `X` returned by the last `ask`.

        `values` may be a list or an array of real numbers; NaN and inf count as the
        worst.

        Raises
        ------
        ValueError
            If `X` is neither the asked array nor equal to it (the strategy updates from
            the points it drew, so other points' values would be misattributed).
        TypeError
            If a value is not a real number (None, str, bool, complex); nothing is told
            then, and the same population can be told again.
        """
        pending = self._pending
        if pending is None:
            raise RuntimeError("tell() needs a preceding ask().")
        if X is not pending and not _same_population(X, pending):
            raise ValueError(
                "`X` must be the population returned by the last ask() (the same array or "
                f"an equal one, shape {tuple(pending.shape)}): the strategy updates from the "
                "points it drew, so values of other points would be misattributed."
            )
        n = pending.shape[0]
        if is_array_api_obj(values):
            why = not_real(values)
            if why is not None:
                raise TypeError(f"`values` must be real numbers; {why}.")
            values = asarray_like(values, pending)
        else:
            try:
                rows = list(values)
            except TypeError:
                raise TypeError(
                    f"`values` must be a list or an array of {n} values; "
                    f"got {type(values).__name__}."
                ) from None
            values = _row_values(rows, n, pending)
        self._pending = None
        self._run.tell(pending, values)

    def stop(self) -> dict[str, str]:
        """``{}`` while the run goes on, else ``{status name: message}``."""
        r = self._run
        return {} if r.status is None else {r.status.name.lower(): r.result(final=True).message}

    def result(self) -> OptimizeResult:
        """The result so far (final, with status, once `stop` is non-empty)."""
        return self._run.result(final=self._run.status is not None)

    # -- checkpoints ----------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a checkpoint (npz + JSON, atomic, never pickled); see `load`.

        A population asked for but not yet told is saved too: after `load`, `tell`
        its values (the population is `pending`).

        Raises
        ------
        ValueError
            If the configuration holds something that cannot be saved safely, such as
            a user function (``restart_x0``).
        """
        run = self._run
        driver = run.snapshot(pending=self._pending)
        save_checkpoint(path, strategy=run.strategy, state=run.state, rng=run.rng, driver=driver)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, x0: Any = None, method: Any = None
    ) -> Optimizer:
        """Continue an `Optimizer` saved with `save`; its asks and results are unchanged.

        Parameters
        ----------
        path : path
        x0 : array, optional
            Restore arrays to its namespace and device (shape and dtype of the saved
            ``x0``); default NumPy.
        method : str or strategy, optional
            Check that the checkpoint is of this method.

        Raises
        ------
        ValueError
            For a corrupt, truncated or mismatched checkpoint.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> path = os.path.join(tempfile.mkdtemp(), "opt.ckpt")
        >>> opt = Optimizer("cma-es", np.ones(3), rng=0, maxiter=20)
        >>> X = opt.ask(); opt.tell(X, [float(x @ x) for x in X])
        >>> opt.save(path)
        >>> again = Optimizer.load(path)
        >>> bool((again.ask() == opt.ask()).all())
        True
        """
        ckpt = load_checkpoint(path, x0=None if x0 is None else check_x0(x0), method=method)
        self = cls.__new__(cls)
        self._run = Run.restore(ckpt)
        self._pending = ckpt.driver.pending  # checked by Run.restore with the whole record
        return self

    @property
    def pending(self) -> Array | None:
        """The population of the last `ask` still waiting for `tell` (else None)."""
        return self._pending


def _same_population(X: Any, pending: Array) -> bool:
    """`X` equals the asked population exactly (same shape, namespace and values)."""
    if getattr(X, "shape", None) != pending.shape or not is_array_api_obj(X):
        return False
    try:
        xp, _ = get_xp(X, pending)
    except (TypeError, ValueError):  # another namespace or device
        return False
    return bool(xp.all(X == pending))
