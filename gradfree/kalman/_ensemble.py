"""Shared machinery of the ensemble Kalman strategies: state, ask/tell, failures, stops.

Conventions. A strategy is told, per member ``j``, the whitened residual
``r_j = Gamma^{-1/2} (G(u_j) - y)`` (``gradfree.minimize`` on a residual function is
the case ``y = 0``, ``Gamma = I``; `gradfree.kalman.solve` whitens for you). The
ensemble ``U`` is ``(J, p)``, one member per row. All algebra is in ensemble space:
with ``A = U - mean(U)`` and ``B = R - mean(R)`` only ``J x J`` matrices are
factorized, so a step costs ``O(J^2 (p + m) + J^3)`` time and ``O(J (p + m))`` memory;
no ``p x p``, ``m x m`` or ``(p + m)^2`` matrix is formed.

Failures (EnsembleKalmanProcesses.jl's ``SampleSuccGauss``; Lopez-Gomez et al. 2022,
JAMES, doi:10.1029/2022MS003105): a member fails when any entry of its output is NaN
or +-inf (or its misfit overflows). The update is computed from the successful members
alone; each failed member is then replaced by a draw from the Gaussian with the mean
and the empirical covariance of the updated successful members, drawn in ensemble
space as ``mean + z^T A_s / sqrt(J_s - 1)`` with ``z ~ N(0, I_{J_s})`` (no ``p x p``
Cholesky). Fewer than 2 successful members is a `ValueError` from ``tell``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from .._array import get_xp, to_host
from .._base import StrategyBase, mean_scale
from .._random import normal
from .._typing import Array
from .._validate import check_int, check_nonnegative, check_positive
from ._accelerators import MomentumState, accelerate, as_accelerator
from ._gaussian import Gaussian, like
from ._inflation import as_inflation
from ._schedulers import DataMisfitController, as_scheduler

__all__ = ["EnsembleKalmanBase", "EnsembleKalmanState", "as_optimizer", "default_ensemble_size"]


def default_ensemble_size(p: int) -> int:
    """EnsembleKalmanProcesses.jl's rule of thumb: ``10 p`` members, between 10 and 100.

    Examples
    --------
    >>> default_ensemble_size(3), default_ensemble_size(50)
    (30, 100)
    """
    return max(10, min(10 * p, 100))


@dataclass(frozen=True)
class EnsembleKalmanState:
    """State of an ensemble Kalman strategy between generations.

    Host floats are diagnostics of the last evaluated ensemble; ``ensemble`` is the
    updated one (the next to evaluate, or the final answer once a run has stopped).

    Examples
    --------
    >>> from gradfree.kalman import ETKI
    >>> etki, rng = ETKI(n_ensemble=5, scheduler=0.5), np.random.default_rng(0)
    >>> X, state = etki.ask(etki.init(np.zeros(2), rng=rng), rng=rng)
    >>> state = etki.tell(state, X, X - 1.0)
    >>> state.ensemble.shape, state.time, state.generation, state.n_failed
    ((5, 2), 0.5, 1, 0)
    """

    ensemble: Array  # (J, p) members, one per row
    prior: Gaussian  # in the namespace and dtype of x0
    seed: int | None = None  # seeds the draws of the pending tell (perturbations, imputation)
    time: float = 0.0  # algorithm time: sum of the steps
    dt: float | None = None  # last step
    generation: int = 0
    misfit: float | None = None  # 0.5 ||Gamma^{-1/2} (y - mean of G)||^2, last generation
    spread: float | None = None  # sqrt(trace of the ensemble covariance), last generation
    spread0: float | None = None  # the same, first generation
    last_mean: Array | None = None  # (p,) mean of the last evaluated ensemble
    n_failed: int = 0  # failed members in the last generation
    message: str | None = None  # why the strategy asks to stop
    momentum: MomentumState | None = None  # the accelerator's memory (``u_k``, theta, k)


def half_squared_norm(values: Array) -> Array:
    """``0.5 ||r||^2`` per row of whitened residuals ``(n, m)`` (1-d values pass through)."""
    xp, _ = get_xp(values)
    if values.ndim != 2:
        return values
    return 0.5 * xp.sum(values * values, axis=1)


@dataclass(frozen=True)
class EnsembleKalmanBase(StrategyBase, ABC):
    """Options and the ask/tell loop shared by the ensemble Kalman strategies.

    Subclasses implement ``_analysis(state, U, R, dt, gen)`` (the update of the
    successful members from their residuals) and may augment the residuals in
    ``_residuals``; failures, schedulers and stop rules live here (module docstring).
    Options are documented in `gradfree.kalman.EKI`.

    After the update of every generation, the optional `accelerator` (momentum on the
    ensemble, `gradfree.kalman._accelerators`) gives the next ensemble to evaluate and
    the `inflation` (one or a sequence of `MultiplicativeInflation` /
    `AdditiveInflation`, applied in order) widens it; random draws come from the
    generator seeded in ``ask``, so ``tell`` is deterministic given its inputs.

    Examples
    --------
    >>> from gradfree.kalman import EKI, ETKI
    >>> issubclass(ETKI, EnsembleKalmanBase), EKI.vector_values
    (True, True)
    """

    n_ensemble: int | None = None
    sigma0: float = 1.0
    prior: Gaussian | None = None
    scheduler: Any = None
    discrepancy: float | None = None
    xtol: float | None = None
    collapse_tol: float | None = 1e-8
    inflation: Any = None
    accelerator: Any = None

    vector_values: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.n_ensemble is not None:
            check_int(self.n_ensemble, "n_ensemble", low=2)
        check_positive(self.sigma0, "sigma0")
        if self.prior is not None and not isinstance(self.prior, Gaussian):
            raise TypeError(
                "`prior` must be a gradfree.kalman.Gaussian or None; "
                f"got {type(self.prior).__name__}."
            )
        if self.scheduler is not None:
            object.__setattr__(self, "scheduler", as_scheduler(self.scheduler))
        if self.discrepancy is not None:
            check_positive(self.discrepancy, "discrepancy")
        for name in ("xtol", "collapse_tol"):
            if getattr(self, name) is not None:
                check_nonnegative(getattr(self, name), name)
        object.__setattr__(self, "inflation", as_inflation(self.inflation))
        object.__setattr__(self, "accelerator", as_accelerator(self.accelerator))

    @property
    def schedule(self) -> Any:
        """The scheduler in use: `scheduler`, or `DataMisfitController()` when unset.

        Unset means "the entry point's default": `gradfree.kalman.solve` keeps the
        Bayesian stop at algorithm time 1, while `gradfree.minimize` (and the other
        optimizer entry points) set ``DataMisfitController(on_terminate='continue')``
        through `as_optimizer`.
        """
        return DataMisfitController() if self.scheduler is None else self.scheduler

    # -- hooks for the update rules ------------------------------------------------
    def _residuals(self, state: EnsembleKalmanState, U: Array, values: Array) -> Array:
        """The residuals the update fits (augmented by TEKI); `values` are finite here."""
        del state, U
        return values

    @abstractmethod
    def _analysis(
        self, state: EnsembleKalmanState, U: Array, R: Array, dt: float, gen: np.random.Generator
    ) -> Array:
        """Update the successful members `U` (n, p) from their residuals `R` (n, M)."""

    # -- protocol -----------------------------------------------------------------
    def step_size(self, state: Any) -> float:
        """The ensemble's spread ``sqrt(trace C)`` in the last generation."""
        return mean_scale(state.spread)

    def init(self, x0: Array, *, rng: Any) -> EnsembleKalmanState:
        p = x0.shape[0]
        if self.prior is None:
            prior = Gaussian(x0, self.sigma0**2)
        else:
            if self.prior.dim != p:
                raise ValueError(
                    f"`prior` has dimension {self.prior.dim} but `x0` has {p} entries."
                )
            prior = self.prior.like(x0)
        J = self.n_ensemble if self.n_ensemble is not None else default_ensemble_size(p)
        ensemble = prior.color(normal(rng, (J, p), like=x0))
        return EnsembleKalmanState(ensemble=ensemble, prior=prior)

    def ask(self, state: EnsembleKalmanState, *, rng: Any) -> tuple[Array, EnsembleKalmanState]:
        seed = int(rng.integers(2**63))  # the draws of the coming tell, made there
        return state.ensemble, replace(state, seed=seed)

    def loss(self, values: Array) -> Array:
        """Data misfit ``0.5 * ||values||^2`` per member (values are whitened residuals).

        Examples
        --------
        >>> from gradfree.kalman import EKI
        >>> EKI().loss(np.asarray([[3.0, 4.0], [0.0, 1.0]]))
        array([12.5,  0.5])
        """
        return half_squared_norm(values)

    def stop(self, state: EnsembleKalmanState) -> str | None:
        return state.message

    def tell(self, state: EnsembleKalmanState, X: Array, values: Array) -> EnsembleKalmanState:
        U = state.ensemble
        J, p = U.shape
        if state.seed is None or tuple(X.shape) != (J, p):
            raise ValueError("`tell` needs the population of the preceding `ask`.")
        if values.ndim != 2 or values.shape[0] != J:
            raise ValueError(
                f"`values` must have shape ({J}, m), one model output per member; "
                f"got {tuple(values.shape)}."
            )
        xp, dev = get_xp(U)
        values = like(values, U)
        ok_rows = xp.all(xp.isfinite(values), axis=1)
        safe = xp.where(ok_rows[:, None], values, xp.zeros_like(values))
        R = self._residuals(state, U, safe)
        phi = 0.5 * xp.sum(R * R, axis=1)
        n_ok = xp.sum(xp.astype(ok_rows, U.dtype))
        rbar = xp.sum(safe, axis=0) / xp.maximum(n_ok, xp.ones_like(n_ok))
        ubar = xp.mean(U, axis=0)
        A = U - ubar
        moved = ubar - state.last_mean if state.last_mean is not None else xp.zeros_like(ubar)
        summary = xp.stack(
            [
                0.5 * xp.sum(rbar * rbar),
                xp.sum(A * A) / (J - 1),
                xp.sum(ubar * ubar),
                xp.sum(moved * moved),
            ]
        )
        nan = xp.full_like(phi, math.nan)
        host = to_host(xp.concat([xp.where(ok_rows, phi, nan), summary]))  # one transfer
        misfits = host[:J]
        ok = np.isfinite(misfits)
        n_good = int(ok.sum())
        if n_good < 2:
            raise ValueError(
                f"only {n_good} of {J} ensemble members returned finite model outputs; "
                "the ensemble Kalman update needs at least 2. Check the forward model "
                "near the current ensemble (or start from a better prior)."
            )
        misfit, spread = float(host[J]), math.sqrt(max(float(host[J + 1]), 0.0))
        spread0 = spread if state.spread0 is None else state.spread0
        step = math.sqrt(float(host[J + 3])) if state.last_mean is not None else None
        base = replace(
            state,
            seed=None,
            generation=state.generation + 1,
            misfit=misfit,
            spread=spread,
            spread0=spread0,
            last_mean=ubar,
            n_failed=J - n_good,
        )
        m = values.shape[1]
        mean_norm = math.sqrt(float(host[J + 2]))
        message = self._stop_rules(misfit, m, step, mean_norm, spread, spread0)
        if message is not None:  # the evaluated ensemble is the answer: no update
            return replace(base, message=message)
        gen = np.random.default_rng(state.seed)
        if n_good < J:
            idx = xp.asarray(np.flatnonzero(ok), device=dev)
            U, R = xp.take(U, idx, axis=0), xp.take(R, idx, axis=0)
        dt = float(self.schedule.step_size(state.time, state.dt, misfits[ok], R))
        new = self._analysis(base, U, R, dt, gen)
        if n_good < J:
            new = _refill(new, ok, gen)
        momentum = state.momentum
        if self.accelerator is not None:
            new, momentum = accelerate(self.accelerator, momentum, state.ensemble, new)
        for inflation in self.inflation:
            new = inflation.apply(new, dt, state.prior, gen)
        time = state.time + dt
        return replace(
            base,
            ensemble=new,
            time=time,
            dt=dt,
            momentum=momentum,
            message=self.schedule.stop_message(time),
        )

    def _stop_rules(
        self,
        misfit: float,
        m: int,
        step: float | None,
        mean_norm: float,
        spread: float,
        spread0: float,
    ) -> str | None:
        """The data-based stop rules, checked on the evaluated ensemble before updating."""
        if self.discrepancy is not None:
            norm, bound = math.sqrt(2 * misfit), self.discrepancy * math.sqrt(m)
            if norm <= bound:
                return (
                    f"Discrepancy principle: ||Gamma^(-1/2) (y - mean G)|| = {norm:.4g} "
                    f"<= discrepancy * sqrt(m) = {bound:.4g}."
                )
        if self.xtol is not None and step is not None and step <= self.xtol * (1 + mean_norm):
            return (
                f"`xtol`: the ensemble mean moved {step:.3g} <= xtol * (1 + ||mean||) "
                f"= {self.xtol * (1 + mean_norm):.3g}."
            )
        if self.collapse_tol is not None and spread <= self.collapse_tol * spread0:
            return (
                f"Ensemble collapse: spread {spread:.3g} <= collapse_tol * initial spread "
                f"= {self.collapse_tol * spread0:.3g}; the ensemble cannot move any more."
            )
        return None


def as_optimizer(strategy: Any) -> Any:
    """`strategy` set up to minimize ``0.5 ||r||^2`` rather than to stop at the posterior.

    An ensemble Kalman strategy whose `scheduler` is unset gets
    ``DataMisfitController(on_terminate='continue')``: the adaptive step of Iglesias &
    Yang (2021) up to algorithm time 1, then growing steps ``dt = q`` towards the
    least-squares solution, so the run ends at a convergence rule (``xtol``, ensemble
    collapse, ``discrepancy``) or at the budget. Any other strategy is returned as is.

    Examples
    --------
    >>> from gradfree.kalman import EKI
    >>> as_optimizer(EKI()).schedule.on_terminate, EKI().schedule.on_terminate
    ('continue', 'stop')
    >>> as_optimizer(EKI(scheduler=0.5)).schedule
    DefaultScheduler(dt=0.5)
    """
    if isinstance(strategy, EnsembleKalmanBase) and strategy.scheduler is None:
        return replace(strategy, scheduler=DataMisfitController(on_terminate="continue"))
    return strategy


def _refill(new_ok: Array, ok: np.ndarray, gen: np.random.Generator) -> Array:
    """Put the updated successful members back in place and redraw the failed ones."""
    xp, dev = get_xp(new_ok)
    n = new_ok.shape[0]
    mean = xp.mean(new_ok, axis=0)
    z = normal(gen, (int((~ok).sum()), n), like=new_ok)
    redrawn = mean + (z @ (new_ok - mean)) / math.sqrt(n - 1)
    order = np.concatenate([np.flatnonzero(ok), np.flatnonzero(~ok)])
    back = xp.asarray(np.argsort(order), device=dev)
    return xp.take(xp.concat([new_ok, redrawn]), back, axis=0)
