"""Termination statuses and the `scipy.optimize.OptimizeResult` every run returns."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from scipy.optimize import OptimizeResult

__all__ = ["Status", "build_result"]


class Status(IntEnum):
    """Why a run stopped; ``result.status`` holds one of these.

    Only ``CONVERGED`` counts as ``success``; ``message`` gives the detail (which
    tolerance or which method-specific rule fired).

    Examples
    --------
    >>> Status(2).name, Status.MAXFEV.default_message
    ('MAXFEV', 'Maximum number of function evaluations (`maxfev`) reached.')
    """

    CONVERGED = 0
    MAXITER = 1
    MAXFEV = 2
    CALLBACK = 3
    NONFINITE = 4
    WALLTIME = 5

    @property
    def default_message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    Status.CONVERGED: "Converged.",
    Status.MAXITER: "Maximum number of iterations (`maxiter`) reached.",
    Status.MAXFEV: "Maximum number of function evaluations (`maxfev`) reached.",
    Status.CALLBACK: "`callback` raised `StopIteration`.",
    Status.NONFINITE: "Every value of a generation was NaN or inf; the run cannot continue.",
    Status.WALLTIME: "`walltime` reached; resume from the checkpoint to continue.",
}


def build_result(
    *,
    x: Any,
    fun: float,
    nit: int,
    nfev: int,
    status: Status | None = None,
    message: str | None = None,
    **extra: Any,
) -> OptimizeResult:
    """Assemble an `OptimizeResult`; without `status` it is an intermediate result.

    Examples
    --------
    >>> r = build_result(x=[0.0], fun=0.0, nit=1, nfev=4, status=Status.MAXITER)
    >>> r.success, r.status, r.message
    (False, 1, 'Maximum number of iterations (`maxiter`) reached.')
    """
    res = OptimizeResult(x=x, fun=float(fun), nit=nit, nfev=nfev, **extra)
    if status is not None:
        res.status = int(status)
        res.success = status is Status.CONVERGED
        res.message = message or status.default_message
    return res
