"""Step-size schedulers of ensemble Kalman inversion (the algorithm time step ``dt``).

The Kalman update with step ``dt`` uses the noise covariance ``Gamma / dt``; the sum
of the steps is the algorithm time ``t``. For a linear forward map and a Gaussian
prior, perturbed-observation EKI that stops at ``t = 1`` approximates the posterior
(Bayesian tempering); running ``t -> inf`` approaches the least-squares solution.

A scheduler sees the data misfits of the successful members (host floats) and their
whitened residuals ``Gamma^{-1/2} (G(u_j) - y)`` (an ``(n, m)`` array in the run's
namespace) and returns the next step; ``stop_message`` ends a run once its time
budget is spent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .._array import get_xp, to_host
from .._typing import Array
from .._validate import check_choice, check_positive

__all__ = [
    "DataMisfitController",
    "DefaultScheduler",
    "EKSStable",
    "Scheduler",
    "as_scheduler",
]


@runtime_checkable
class Scheduler(Protocol):
    """``step_size(time, last_dt, misfits, residuals) -> dt``; ``stop_message(time)``.

    Examples
    --------
    >>> isinstance(DataMisfitController(), Scheduler), isinstance(0.5, Scheduler)
    (True, False)
    """

    def step_size(
        self, time: float, last_dt: float | None, misfits: np.ndarray, residuals: Array
    ) -> float: ...

    def stop_message(self, time: float) -> str | None: ...


@dataclass(frozen=True)
class DefaultScheduler:
    """A constant step ``dt`` (EnsembleKalmanProcesses.jl's ``DefaultScheduler``).

    Parameters
    ----------
    dt : float, default=1.0
        Algorithm time step, > 0.

    Examples
    --------
    >>> DefaultScheduler(0.5).step_size(0.0, None, np.ones(3), np.zeros((3, 2)))
    0.5
    """

    dt: float = 1.0

    def __post_init__(self) -> None:
        check_positive(self.dt, "dt")

    def step_size(
        self, time: float, last_dt: float | None, misfits: np.ndarray, residuals: Array
    ) -> float:
        del time, last_dt, misfits, residuals
        return float(self.dt)

    def stop_message(self, time: float) -> str | None:
        del time
        return None


@dataclass(frozen=True)
class DataMisfitController:
    """Adaptive step from the data misfits (Iglesias & Yang 2021); stops at time `terminate_at`.

    With ``Phi_j = 0.5 * ||Gamma^{-1/2} (y - G(u_j))||^2`` over the successful
    members and ``m`` observations, the next step is

    ``q = max(m / (2 mean(Phi)), sqrt(m / (2 var(Phi))))``,  ``dt = min(q, T - t)``

    (sample variance with ``J - 1``), so the algorithm time ``t`` reaches
    ``T = terminate_at`` exactly. Early steps are small while the misfit is large. The
    rule controls the symmetrised Kullback-Leibler divergence between consecutive
    tempered measures (Iglesias & Yang 2021) and is EnsembleKalmanProcesses.jl's default.

    Parameters
    ----------
    terminate_at : float, default=1.0
        Algorithm time ``T`` (> 0, may be ``inf``). ``T = 1`` gives the posterior
        approximation of Bayesian tempering.
    on_terminate : {'stop', 'continue', 'continue_fixed'}, default='stop'
        At ``t = T``: stop the run with a message; keep adapting with ``dt = q``;
        or repeat the last step.

    References
    ----------
    M. Iglesias and Y. Yang, "Adaptive regularisation for ensemble Kalman inversion",
    Inverse Problems 37 (2021) 025008, sec. 4 (adaptive choice of the step and
    stopping at t = 1).

    Examples
    --------
    >>> dmc, r = DataMisfitController(), np.zeros((3, 4))   # residuals: m = 4
    >>> dmc.step_size(0.0, None, np.asarray([4.0, 4.0, 4.0]), r)  # q = 4 / (2 * 4)
    0.5
    >>> round(dmc.step_size(0.9, 0.5, np.asarray([1.0, 2.0, 3.0]), r), 12)  # capped at T - t
    0.1
    >>> dmc.stop_message(0.5) is None
    True
    >>> dmc.stop_message(1.0)[:42]
    'DataMisfitController: algorithm time t = 1'
    """

    terminate_at: float = 1.0
    on_terminate: str = "stop"

    def __post_init__(self) -> None:
        t = self.terminate_at
        if not (isinstance(t, (int, float)) and not isinstance(t, bool)):
            raise TypeError(f"`terminate_at` must be a real number; got {type(t).__name__}.")
        if not t > 0:  # inf is allowed
            raise ValueError(f"`terminate_at` must be > 0; got {t!r}.")
        check_choice(self.on_terminate, "on_terminate", ("stop", "continue", "continue_fixed"))

    def _reached(self, time: float) -> bool:
        return time >= self.terminate_at * (1 - 1e-12)

    def step_size(
        self, time: float, last_dt: float | None, misfits: np.ndarray, residuals: Array
    ) -> float:
        m = residuals.shape[1]
        mean = float(np.mean(misfits))
        var = float(np.var(misfits, ddof=1)) if misfits.shape[0] > 1 else 0.0
        q = max(
            m / (2 * mean) if mean > 0 else math.inf,
            math.sqrt(m / (2 * var)) if var > 0 else 0.0,
        )
        if self._reached(time):
            if self.on_terminate == "continue_fixed" and last_dt is not None:
                return last_dt
            dt = q
        else:
            dt = min(q, self.terminate_at - time)
        if not math.isfinite(dt):  # a perfect fit: any step leaves it unchanged
            dt = last_dt if last_dt is not None else 1.0
        return dt

    def stop_message(self, time: float) -> str | None:
        if self.on_terminate == "stop" and self._reached(time):
            return (
                f"DataMisfitController: algorithm time t = {self.terminate_at:g} reached "
                "(the ensemble approximates the posterior); pass "
                "`scheduler=DataMisfitController(on_terminate='continue')` to go on."
            )
        return None


@dataclass(frozen=True)
class EKSStable:
    """Step inversely proportional to the size of the ensemble drift (for samplers).

    ``dt = alpha / (||D||_F + eps)`` with the ``J x J`` matrix
    ``D_jk = <G(u_k) - mean G, Gamma^{-1} (G(u_j) - y)> / J`` of the successful members,
    which bounds the data-driven drift of a step. It is the adaptive step of Kovachki &
    Stuart (2019) that EnsembleKalmanProcesses.jl's ``EKSStableScheduler`` uses to keep
    the explicit part of the ensemble Kalman sampler stable; it never stops a run.

    Parameters
    ----------
    alpha : float, default=1.0
        Scale of the step (> 0).
    eps : float, default=1e-8
        Guard against division by zero (> 0).

    References
    ----------
    N. B. Kovachki and A. M. Stuart, "Ensemble Kalman inversion: a derivative-free
    technique for machine learning tasks", Inverse Problems 35 (2019) 095005.

    Examples
    --------
    >>> r = np.asarray([[1.0], [-1.0]])   # D = r (r - mean r)^T / 2 = [[.5, -.5], [-.5, .5]]
    >>> round(EKSStable().step_size(0.0, None, np.ones(2), r), 6)
    1.0
    """

    alpha: float = 1.0
    eps: float = 1e-8

    def __post_init__(self) -> None:
        check_positive(self.alpha, "alpha")
        check_positive(self.eps, "eps")

    def step_size(
        self, time: float, last_dt: float | None, misfits: np.ndarray, residuals: Array
    ) -> float:
        del time, last_dt, misfits
        xp, _ = get_xp(residuals)
        n = residuals.shape[0]
        D = (residuals @ (residuals - xp.mean(residuals, axis=0)).T) / n
        norm = float(to_host(xp.sqrt(xp.sum(D * D))))
        return self.alpha / (norm + self.eps)

    def stop_message(self, time: float) -> str | None:
        del time
        return None


def as_scheduler(value: Any) -> Any:
    """A scheduler from a scheduler object or a number (a constant step)."""
    if isinstance(value, bool):
        raise TypeError("`scheduler` must be a scheduler or a positive number; got bool.")
    if isinstance(value, (int, float)):
        return DefaultScheduler(float(check_positive(value, "scheduler")))
    if not (callable(getattr(value, "step_size", None)) and hasattr(value, "stop_message")):
        raise TypeError(
            "`scheduler` must be a number (constant step) or an object with step_size() "
            f"and stop_message(), such as DataMisfitController(); got {value!r}."
        )
    return value
