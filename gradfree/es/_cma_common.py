"""Shared pieces of the CMA-ES family: default parameters, weights and stop rules.

Hansen (2016), "The CMA Evolution Strategy: A Tutorial", arXiv:1604.00772, Table 1 and
eqs. (49)-(58); separable variant: Ros & Hansen (2008), PPSN X, sec. 3 (learning rates
scaled by (n + 2) / 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CMAParams", "FunHistory", "cma_params", "default_popsize"]


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
    cmu = min(1 - c1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff))  # eq. (58)
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
        n, lam, mu, weights, *(float(v) for v in (mueff, cc, cs, c1, cmu, damps, chi_n))
    )


@dataclass(frozen=True)
class FunHistory:
    """Bounded host histories of each generation's best and median value.

    Feeds pycma-style stop rules: ``tolfun`` and ``tolfunhist`` over the last
    ``10 + ceil(30 n / lam)`` generations, and ``tolstagnation``.
    """

    best: tuple[float, ...] = ()
    median: tuple[float, ...] = ()
    worst: float = math.inf

    def push(self, values: np.ndarray, maxlen: int) -> FunHistory:
        finite = values[np.isfinite(values)]
        if not len(finite):
            return self
        keep = max(0, maxlen - 1)
        return FunHistory(
            best=(self.best[-keep:] if keep else ()) + (float(finite.min()),),
            median=(self.median[-keep:] if keep else ()) + (float(np.median(finite)),),
            worst=float(finite.max()),
        )

    def check(
        self,
        n: int,
        lam: int,
        *,
        tolfun: float | None,
        tolfunhist: float | None,
        tolstagnation: int | None,
    ) -> str | None:
        """The first of these stop rules that fires, as a message; else None."""
        window = 10 + math.ceil(30 * n / lam)
        recent = self.best[-window:]
        if len(recent) == window:
            if tolfun is not None:
                span = max(max(recent), self.worst) - min(recent)
                if span < tolfun:
                    return f"tolfun: recent function values span {span:.3g} < {tolfun:.3g}"
            if tolfunhist is not None and max(recent) - min(recent) < tolfunhist:
                return f"tolfunhist: best values of {window} generations span < {tolfunhist:.3g}"
        if tolstagnation is not None and len(self.best) >= tolstagnation:
            k = max(1, math.ceil(0.2 * tolstagnation))
            old_b, new_b = np.median(self.best[-tolstagnation:][:k]), np.median(self.best[-k:])
            old_m, new_m = np.median(self.median[-tolstagnation:][:k]), np.median(self.median[-k:])
            if new_b >= old_b and new_m >= old_m:
                return (
                    f"tolstagnation: best and median values did not improve in "
                    f"{tolstagnation} generations"
                )
        return None
