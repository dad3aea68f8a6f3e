"""Separable CMA-ES: a diagonal covariance, so memory and time per generation are linear.

Ros & Hansen (2008), "A Simple Modification in CMA-ES Achieving Linear Time and Space
Complexity", PPSN X: the CMA-ES update of Hansen (2016, arXiv:1604.00772, eqs. 38-47)
restricted to the diagonal, with ``c1`` and ``cmu`` scaled by ``(n + 2) / 3``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from .._array import asarray_like, get_xp, to_host
from .._random import normal
from .._typing import Array
from .._validate import GradfreeWarning
from ._cma_common import (
    CMABase,
    CMAParams,
    FunHistory,
    check_injection,
    clipped_injection,
    cma_params,
    default_popsize,
    with_first_row,
)

__all__ = ["SepCMAES", "SepCMAESState"]


@dataclass(frozen=True)
class SepCMAESState:
    """State of `SepCMAES` between generations."""

    params: CMAParams
    wpos: Array  # (lam,) positive recombination weights by rank
    wneg_n: Array  # (lam,) n times the negative weights by rank
    mean: Array  # (n,)
    sigma: float
    c: Array  # (n,) diagonal of the covariance
    pc: Array
    ps: Array
    z: Array | None = None  # (lam, n) pending draws
    injected: Array | None = None  # (n,) a point for the next population (`inject`)
    generation: int = 0
    history: FunHistory = FunHistory()
    diagnostics: tuple[float, ...] = ()


@dataclass(frozen=True)
class SepCMAES(CMABase):
    """Separable (diagonal) CMA-ES: O(lam n) time and O(n) memory per generation.

    Learns one scale per coordinate, not correlations, so it suits large problems
    whose difficulty is mostly axis-aligned (and neural networks, where full CMA does
    not fit). Options are those of `gradfree.es.CMABase`.

    References
    ----------
    R. Ros and N. Hansen, PPSN X (2008), sec. 3; N. Hansen, arXiv:1604.00772 (2016).

    Examples
    --------
    >>> from gradfree import minimize
    >>> from gradfree.testing import ellipsoid
    >>> res = minimize(ellipsoid, np.ones(20), method=SepCMAES(), rng=0,
    ...                workers="vectorized")
    >>> res.fun < 1e-10, res.success
    (True, True)
    """

    name: ClassVar[str] = "sep-cma-es"

    def init(self, x0: Array, *, rng: Any) -> SepCMAESState:
        del rng  # deterministic start
        xp, _ = get_xp(x0)
        n = x0.shape[0]
        lam = self.popsize or default_popsize(n)
        p = cma_params(n, lam, active=self.active, separable=True)
        return SepCMAESState(
            params=p,
            wpos=asarray_like(np.maximum(p.weights, 0), x0),
            wneg_n=asarray_like(np.minimum(p.weights, 0) * n, x0),
            mean=x0,
            sigma=self.sigma0,
            c=xp.ones_like(x0),
            pc=xp.zeros_like(x0),
            ps=xp.zeros_like(x0),
        )

    def marginal_std(self, state: SepCMAESState) -> Array:
        """Per-coordinate standard deviations of the sampling distribution, ``(d,)``."""
        xp, _ = get_xp(state.mean)
        return state.sigma * xp.sqrt(state.c)

    def ask(self, state: SepCMAESState, *, rng: Any) -> tuple[Array, SepCMAESState]:
        xp, _ = get_xp(state.mean)
        z = normal(rng, (state.params.lam, state.params.n), like=state.mean)
        X = state.mean + z * (state.sigma * xp.sqrt(state.c))
        if state.injected is not None:  # first row: the injected direction (see CMAES)
            std = xp.sqrt(state.c)
            z0, _ = clipped_injection((state.injected - state.mean) / (state.sigma * std), z[0])
            X, z = with_first_row(X, state.mean + state.sigma * std * z0), with_first_row(z, z0)
        return X, replace(state, z=z, injected=None)

    def inject(self, state: SepCMAESState, x: Array) -> SepCMAESState:
        """`state` whose next population has `x` ``(n,)`` (or the point in its direction at
        a sample's distance) as its first candidate, as `gradfree.es.CMAES.inject`."""
        return check_injection(state, x)

    def tell(self, state: SepCMAESState, X: Array, values: Array) -> SepCMAESState:
        if state.z is None or X.shape != state.z.shape:
            raise ValueError("`tell` needs the population of the preceding `ask`.")
        xp, _ = get_xp(state.mean)
        p, z = state.params, state.z
        # weights by row (permuted by rank) rather than rows permuted: no (lam, n) copy
        rank = xp.argsort(xp.argsort(values, stable=True), stable=True)
        wpos, wneg_n = xp.take(state.wpos, rank), xp.take(state.wneg_n, rank)
        std = xp.sqrt(state.c)
        z_w = wpos @ z
        y_w = z_w * std  # y = sqrt(c) z, never formed for the whole population
        mean = state.mean + state.sigma * y_w
        g = state.generation + 1
        ps = (1 - p.cs) * state.ps + math.sqrt(p.cs * (2 - p.cs) * p.mueff) * z_w
        ps_norm = xp.linalg.vector_norm(ps)
        bound = (1.4 + 2 / (p.n + 1)) * p.chi_n * math.sqrt(1 - (1 - p.cs) ** (2 * g))
        hsig = xp.astype(ps_norm < bound, mean.dtype)
        pc = (1 - p.cc) * state.pc + hsig * math.sqrt(p.cc * (2 - p.cc) * p.mueff) * y_w
        z_sq = z * z
        w_circ = wpos + wneg_n / xp.maximum(xp.sum(z_sq, axis=1), xp.full_like(wpos, 1e-30))
        delta_h = (1 - hsig) * p.cc * (2 - p.cc)
        c = (1 + p.c1 * delta_h - p.c1 - p.cmu * p.weight_sum) * state.c
        c = c + p.c1 * pc**2 + p.cmu * (w_circ @ z_sq) * state.c
        i = g % p.n
        new_std = xp.sqrt(xp.maximum(c, xp.zeros_like(c)))
        summary = xp.stack(
            [
                ps_norm,
                xp.max(new_std),
                xp.max(xp.abs(pc)),
                xp.min(c),
                xp.max(c),
                xp.astype(mean[i] + 0.1 * state.sigma * new_std[i] == mean[i], mean.dtype),
                xp.astype(xp.any(mean + 0.2 * state.sigma * new_std == mean), mean.dtype),
            ]
        )
        host = to_host(xp.concat([summary, values]))
        ps_n, max_std, max_pc, lo, hi, axis, coord = (float(v) for v in host[:7])
        sigma = state.sigma * math.exp(p.cs / p.damps * (ps_n / p.chi_n - 1))
        if (
            not (math.isfinite(lo) and math.isfinite(hi))
            or hi <= 0
            or lo < hi / self.max_condition
        ):
            warnings.warn(
                "sep-CMA-ES: covariance diagonal became non-positive or exceeded "
                "`max_condition`; repaired.",
                GradfreeWarning,
                stacklevel=2,
            )
            if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= 0:
                c, hi = xp.ones_like(c), 1.0
            c = xp.maximum(c, xp.full_like(c, hi / self.max_condition))
            lo = max(lo, hi / self.max_condition)
        if not 1e-10 < hi < 1e10:
            # Without correlations, the overall scale can drift between sigma and c (it
            # does on Rosenbrock). Move it into sigma: the distribution is unchanged.
            root = math.sqrt(hi)
            c, pc, sigma = c / hi, pc / root, sigma * root
            max_std, max_pc, lo, hi = max_std / root, max_pc / root, lo / hi, 1.0
        return replace(
            state,
            mean=mean,
            sigma=sigma,
            c=c,
            pc=pc,
            ps=ps,
            z=None,
            generation=g,
            history=state.history.push(host[7:], maxlen=self.history_length(p)),
            diagnostics=(max_std, max_pc, hi / lo, math.sqrt(hi), axis, coord),
        )
