"""Shared pieces of the CMA-ES family: default parameters, weights and stop rules.

Hansen (2016), "The CMA Evolution Strategy: A Tutorial", arXiv:1604.00772, Table 1 and
eqs. (49)-(58); separable variant: Ros & Hansen (2008), PPSN X, sec. 3 (learning rates
scaled by (n + 2) / 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .._array import get_xp, to_host
from .._base import StrategyBase, mean_scale
from .._typing import Array
from .._validate import check_int, check_positive

__all__ = [
    "CMABase",
    "CMAParams",
    "FunHistory",
    "check_injection",
    "cma_params",
    "clipped_injection",
    "default_popsize",
    "with_first_row",
]


def default_popsize(n: int) -> int:
    """``4 + floor(3 ln n)`` (Table 1).

    Examples
    --------
    >>> default_popsize(10)
    10
    """
    return 4 + int(3 * math.log(n))


@dataclass(frozen=True)
class CMAParams:
    """Strategy constants for dimension `n` and population `lam` (host floats)."""

    n: int
    lam: int
    mu: int
    weights: np.ndarray  # (lam,), positive part sums to 1, negative part scaled (eq. 53)
    mueff: float
    cc: float
    cs: float
    c1: float
    cmu: float
    damps: float
    chi_n: float  # E||N(0, I)||
    weight_sum: float  # sum of all weights, below 1 with negative weights (eq. 47)


def cma_params(n: int, lam: int, *, active: bool = True, separable: bool = False) -> CMAParams:
    """Default CMA-ES constants (Hansen 2016, eqs. 49-58).

    Parameters
    ----------
    n : int
        Dimension.
    lam : int
        Population size.
    active : bool, default=True
        Negative weights for the worse half (active CMA, eq. 53); otherwise zero.
    separable : bool, default=False
        Scale ``c1`` and ``cmu`` by ``(n + 2) / 3`` for a diagonal covariance (Ros & Hansen
        2008).

    Examples
    --------
    >>> p = cma_params(10, 10)
    >>> p.mu, round(p.mueff, 3), round(float(p.weights[:p.mu].sum()), 12)
    (5, 3.167, 1.0)
    """
    mu = lam // 2
    raw = math.log((lam + 1) / 2) - np.log(np.arange(1, lam + 1))  # eq. (49)
    pos, neg = raw[:mu], raw[mu:]
    mueff = pos.sum() ** 2 / (pos**2).sum()
    mueff_neg = neg.sum() ** 2 / (neg**2).sum() if len(neg) and neg.any() else 0.0
    cc = (4 + mueff / n) / (n + 4 + 2 * mueff / n)  # eq. (56)
    cs = (mueff + 2) / (n + mueff + 5)  # eq. (55)
    c1 = 2 / ((n + 1.3) ** 2 + mueff)  # eq. (57), alpha_cov = 2
    # eq. (58) with pycma's (4.x) numerator 0.25 + mueff + 1/mueff - 2: on COCO bbob at
    # d = 2, 5, 10 it lowers the ERT by ~6% against the tutorial's mueff - 2 + 1/mueff
    cmu = min(1 - c1, 2 * (0.25 + mueff + 1 / mueff - 2) / ((n + 2) ** 2 + mueff))
    if separable:
        scale = (n + 2) / 3
        c1, cmu = min(1.0, c1 * scale), min(1 - min(1.0, c1 * scale), cmu * scale)
    damps = 1 + 2 * max(0.0, math.sqrt((mueff - 1) / (n + 1)) - 1) + cs  # eq. (55)
    weights = np.zeros(lam)
    weights[:mu] = pos / pos.sum()
    if active and len(neg) and cmu > 0:
        alpha_mu = 1 + c1 / cmu  # eq. (50)
        alpha_mueff = 1 + 2 * mueff_neg / (mueff + 2)  # eq. (51)
        alpha_posdef = (1 - c1 - cmu) / (n * cmu)  # eq. (52)
        weights[mu:] = min(alpha_mu, alpha_mueff, alpha_posdef) * neg / np.abs(neg).sum()
    chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n**2))
    return CMAParams(
        n,
        lam,
        mu,
        weights,
        *(float(v) for v in (mueff, cc, cs, c1, cmu, damps, chi_n, weights.sum())),
    )


def clipped_injection(z: Array, z_draw: Array) -> tuple[Array, Array]:
    """An injected step's standard-normal coordinates `z` ``(n,)``, rescaled to the
    length of the sample `z_draw` where longer than ``sqrt(n)``; and the factor applied.

    As pycma's ``inject`` (``CMA_injections_threshold_keep_len=1``, after Hansen 2011,
    "Injecting External Solutions Into CMA-ES", arXiv:1110.4181): a far point is moved
    along its direction to where the search distribution would sample it, so it cannot
    derail the update.

    Examples
    --------
    >>> z, factor = clipped_injection(np.full(4, 10.0), np.ones(4))
    >>> round(float(np.linalg.norm(z)), 6), round(float(factor), 4)
    (2.0, 0.1)
    >>> float(clipped_injection(np.full(4, 0.5), np.ones(4))[1])
    1.0
    """
    xp, _ = get_xp(z)
    norm = xp.linalg.vector_norm(z)
    long = norm > math.sqrt(z.shape[0])
    safe = xp.where(long, norm, xp.ones_like(norm))
    factor = xp.where(long, xp.linalg.vector_norm(z_draw) / safe, xp.ones_like(norm))
    return z * factor, factor


def with_first_row(A: Array, row: Array) -> Array:
    """`A` ``(lam, n)`` with its first row replaced by `row` ``(n,)``."""
    xp, _ = get_xp(A)
    return xp.concat([xp.reshape(row, (1, A.shape[1])), A[1:, ...]])


def check_injection(state: Any, x: Array) -> Any:
    """`state` with `x` to inject into its next population; `ValueError` for a wrong
    shape or a non-finite point."""
    xp, _ = get_xp(state.mean)
    if getattr(x, "shape", None) != state.mean.shape:
        raise ValueError(
            f"`x` to inject must have the shape of the mean {state.mean.shape}; got "
            f"{getattr(x, 'shape', type(x).__name__)}."
        )
    if not bool(to_host(xp.all(xp.isfinite(x)))):
        raise ValueError("`x` to inject must be finite.")
    return replace(state, injected=x)


@dataclass(frozen=True, eq=False)
class FunHistory:
    """Bounded host histories of each generation's best and median value.

    Feeds pycma-style stop rules: ``tolfun`` and ``tolfunhist`` over the last
    ``10 + ceil(30 n / lam)`` generations, and ``tolstagnation``.
    """

    best: np.ndarray = field(default_factory=lambda: np.empty(0))
    median: np.ndarray = field(default_factory=lambda: np.empty(0))
    worst: float = math.inf

    def push(self, values: np.ndarray, maxlen: int) -> FunHistory:
        """Append one generation's (host) values; one sort gives best, median and worst."""
        s = np.sort(values[np.isfinite(values)])
        k = s.shape[0]
        if not k:
            return self
        median = s[k // 2] if k % 2 else 0.5 * (s[k // 2 - 1] + s[k // 2])
        start = max(0, self.best.shape[0] - max(0, maxlen - 1))
        return FunHistory(
            best=np.append(self.best[start:], s[0]),
            median=np.append(self.median[start:], median),
            worst=float(s[-1]),
        )

    def check(
        self,
        window: int,
        *,
        tolfun: float | None,
        tolfunhist: float | None,
        tolstagnation: int | None,
    ) -> str | None:
        """The first of these stop rules that fires, as a message; else None."""
        recent = self.best[-window:]
        if recent.shape[0] == window:
            lo, hi = float(recent.min()), float(recent.max())
            if tolfun is not None:
                span = max(hi, self.worst) - lo
                if span < tolfun:
                    return f"tolfun: recent function values span {span:.3g} < {tolfun:.3g}"
            if tolfunhist is not None and hi - lo < tolfunhist:
                return f"tolfunhist: best values of {window} generations span < {tolfunhist:.3g}"
        if tolstagnation is not None and self.best.shape[0] >= tolstagnation:
            k = max(1, math.ceil(0.2 * tolstagnation))
            old_b, new_b = np.median(self.best[-tolstagnation:][:k]), np.median(self.best[-k:])
            old_m, new_m = np.median(self.median[-tolstagnation:][:k]), np.median(self.median[-k:])
            if new_b >= old_b and new_m >= old_m:
                return (
                    f"tolstagnation: best and median values did not improve in "
                    f"{tolstagnation} generations"
                )
        return None


@dataclass(frozen=True)
class CMABase(StrategyBase):
    """Options and stop rules shared by the CMA-ES family (names as in pycma).

    Parameters
    ----------
    sigma0 : float, default=0.5
        Initial step size; about a quarter of the range where the optimum is expected.
    popsize : int, optional
        Population size lam (default ``4 + floor(3 ln n)``, resolved in `init`).
    active : bool, default=True
        Active CMA: the worse half gets negative recombination weights (Hansen 2016,
        eq. 53).
    tolx : float or None, default=1e-11
        Stop when ``sigma * max(std)`` and ``sigma * max|pc|`` fall below it.
    tolfun, tolfunhist : float or None, default=1e-11, 1e-12
        Stop when the values of recent generations (or their best values) span less.
    tolstagnation : int or None, optional
        Generations without improvement of best and median values before stopping
        (default ``100 + 100 n**1.5 / lam``).
    tolconditioncov : float or None, default=1e14
        Stop when the condition number of the covariance exceeds it.
    noeffectaxis, noeffectcoord : bool, default=True
        Stop when a step along a principal axis (or a coordinate) no longer changes
        the mean in floating point.
    tolupsigma : float or None, default=1e20
        Stop when sigma grew by more than this factor times the largest axis length: a
        sign of divergence or of a flat objective.
    max_condition : float, default=1e16
        Cap on the condition number of the covariance (with a `GradfreeWarning`).
    """

    sigma0: float = 0.5
    popsize: int | None = None
    active: bool = True
    tolx: float | None = 1e-11
    tolfun: float | None = 1e-11
    tolfunhist: float | None = 1e-12
    tolstagnation: int | None = None
    tolconditioncov: float | None = 1e14
    noeffectaxis: bool = True
    noeffectcoord: bool = True
    tolupsigma: float | None = 1e20
    max_condition: float = 1e16

    def __post_init__(self) -> None:
        check_positive(self.sigma0, "sigma0")
        if self.popsize is not None:
            check_int(self.popsize, "popsize", low=2)
        if self.tolstagnation is not None:
            check_int(self.tolstagnation, "tolstagnation", low=1)
        for name in ("tolx", "tolfun", "tolfunhist", "tolconditioncov", "tolupsigma"):
            if getattr(self, name) is not None:
                check_positive(getattr(self, name), name)
        check_positive(self.max_condition, "max_condition")
        for name in ("active", "noeffectaxis", "noeffectcoord"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"`{name}` must be a bool; got {getattr(self, name)!r}.")

    def _windows(self, p: Any) -> tuple[int, int]:
        """Generations looked back by ``tolfun``/``tolfunhist`` and by ``tolstagnation``,
        both capped at 20000 (pycma's cap on its histories) so that they can fire at
        large n too."""
        fun = 10 + math.ceil(30 * p.n / p.lam)
        stag = self.tolstagnation or int(100 + 100 * p.n**1.5 / p.lam)
        return min(fun, 20_000), min(stag, 20_000)

    def history_length(self, p: Any) -> int:
        """Generations of best/median values kept for the stop rules."""
        return max(self._windows(p))

    def step_size(self, state: Any) -> float:
        """The global step size ``sigma``."""
        return mean_scale(state.sigma)

    def stop(self, state: Any) -> str | None:
        """pycma-style stop rules on ``state.diagnostics`` =
        (max std, max |pc|, condition, max axis length, no-effect axis, no-effect coord)."""
        if not state.diagnostics:
            return None
        max_std, max_pc, cond, max_d, axis, coord = state.diagnostics
        p, sigma = state.params, state.sigma
        if self.tolx is not None and sigma * max(max_std, max_pc) < self.tolx:
            return f"tolx: sigma * max(std, |pc|) = {sigma * max(max_std, max_pc):.3g}"
        window, stagnation = self._windows(p)
        hist = state.history.check(
            window, tolfun=self.tolfun, tolfunhist=self.tolfunhist, tolstagnation=stagnation
        )
        if hist:
            return hist
        if self.tolconditioncov is not None and cond > self.tolconditioncov:
            return f"tolconditioncov: condition number of the covariance is {cond:.3g}"
        if self.noeffectaxis and axis:
            return "noeffectaxis: a 0.1-sigma step along a principal axis leaves the mean as is"
        if self.noeffectcoord and coord:
            return "noeffectcoord: a 0.2-sigma step in a coordinate leaves the mean as is"
        if self.tolupsigma is not None and sigma / self.sigma0 > self.tolupsigma * max_d:
            return f"tolupsigma: sigma grew by a factor {sigma / self.sigma0:.3g}"
        return None
