"""CMA-ES with active covariance update and lazy eigendecomposition.

Hansen (2016), "The CMA Evolution Strategy: A Tutorial", arXiv:1604.00772: sampling
eqs. (38)-(40), recombination (41)-(42), cumulative step-size adaptation (43)-(44),
covariance update with negative weights (45)-(47), default parameters Table 1 and
eqs. (49)-(58). Stop rules follow pycma's names (``tolx``, ``tolfun``, ``tolfunhist``,
``tolstagnation``, ``tolconditioncov``, ``noeffectaxis``, ``noeffectcoord``,
``tolupsigma``).

Cost: sampling is one ``(lam, n) @ (n, n)`` product, the update is O(lam n^2), and the
eigendecomposition runs every ``max(1, floor(1 / (10 n (c1 + cmu))))`` generations (the
tutorial's lazy update, sec. B.2), so a generation costs O(n^2) amortized, never
O(lam n^3).
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

__all__ = ["CMAES", "CMAESState"]


@dataclass(frozen=True)
class CMAESState:
    """State of `CMAES` between generations (device arrays plus host diagnostics)."""

    params: CMAParams
    wpos: Array  # (lam,) positive recombination weights, zero for the worse half
    wneg_n: Array  # (lam,) n times the negative weights (eq. 46), zero for the better half
    mean: Array  # (n,)
    sigma: float
    C: Array  # (n, n) covariance
    B: Array  # (n, n) eigenvectors of C at the last decomposition
    D: Array  # (n,) square roots of its eigenvalues
    pc: Array  # (n,) evolution path of C
    ps: Array  # (n,) conjugate evolution path of sigma
    z: Array | None = None  # (lam, n) pending standard normal draws
    Y: Array | None = None  # (lam, n) pending steps B D z
    injected: Array | None = None  # (n,) a point for the next population (`inject`)
    generation: int = 0
    eigen_generation: int = 0
    condition: float = 1.0  # host: condition number of C at the last decomposition
    max_axis: float = 1.0  # host: largest D at the last decomposition
    history: FunHistory = FunHistory()
    diagnostics: tuple[float, ...] = ()  # host: max std, max |pc|, cond, max D, no-effect flags


@dataclass(frozen=True)
class CMAES(CMABase):
    """Covariance matrix adaptation evolution strategy, (mu/mu_w, lam)-CMA-ES.

    Parameters
    ----------
    sigma0, popsize, active, tolx, tolfun, tolfunhist, tolstagnation, tolconditioncov,
    noeffectaxis, noeffectcoord, tolupsigma, max_condition
        See `gradfree.es.CMABase`. ``max_condition`` caps the condition number of C:
        eigenvalues are raised to ``max / max_condition`` with a `GradfreeWarning`, and
        a lost definiteness is repaired the same way.

    References
    ----------
    N. Hansen, "The CMA Evolution Strategy: A Tutorial", arXiv:1604.00772 (2016).

    Examples
    --------
    >>> from gradfree import minimize
    >>> from gradfree.testing import rosenbrock
    >>> res = minimize(rosenbrock, np.zeros(4), method=CMAES(), rng=1, workers="vectorized")
    >>> res.fun < 1e-10, res.success
    (True, True)
    """

    name: ClassVar[str] = "cma-es"

    # -- ask / tell ---------------------------------------------------------------------
    def init(self, x0: Array, *, rng: Any) -> CMAESState:
        del rng  # deterministic start
        xp, _ = get_xp(x0)
        n = x0.shape[0]
        p = cma_params(n, self.popsize or default_popsize(n), active=self.active)
        eye = asarray_like(np.eye(n), x0)
        zeros = xp.zeros_like(x0)
        return CMAESState(
            params=p,
            wpos=asarray_like(np.maximum(p.weights, 0), x0),
            wneg_n=asarray_like(np.minimum(p.weights, 0) * n, x0),
            mean=x0,
            sigma=self.sigma0,
            C=eye,
            B=eye,
            D=xp.ones_like(x0),
            pc=zeros,
            ps=zeros,
        )

    def marginal_std(self, state: CMAESState) -> Array:
        """Per-coordinate standard deviations of the sampling distribution, ``(d,)``."""
        xp, _ = get_xp(state.mean)
        return state.sigma * xp.sqrt(xp.linalg.diagonal(state.C))

    def ask(self, state: CMAESState, *, rng: Any) -> tuple[Array, CMAESState]:
        p = state.params
        z = normal(rng, (p.lam, p.n), like=state.mean)  # eq. (38)
        Y = (z * state.D) @ state.B.T  # eq. (39): y = B D z, all rows in one product
        X = state.mean + state.sigma * Y  # eq. (40)
        if state.injected is not None:  # first row: the injected direction, its length kept
            y = (state.injected - state.mean) / state.sigma  # or rescaled to z[0]'s
            z0, factor = clipped_injection((y @ state.B) / state.D, z[0, ...])
            y = y * factor
            X = with_first_row(X, state.mean + state.sigma * y)
            z, Y = with_first_row(z, z0), with_first_row(Y, y)
        return X, replace(state, z=z, Y=Y, injected=None)

    def inject(self, state: CMAESState, x: Array) -> CMAESState:
        """`state` whose next population has `x` ``(n,)`` as its first candidate.

        As pycma's ``inject``: the first candidate is `x`, or, where its Mahalanobis
        distance to the mean exceeds ``sqrt(n)``, the point in its direction at the
        distance of the sample it replaces (Hansen 2011, arXiv:1110.4181).

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> es = CMAES(popsize=6)
        >>> state = es.inject(es.init(np.zeros(3), rng=rng), np.full(3, 0.2))
        >>> X, state = es.ask(state, rng=rng)
        >>> X[0].tolist(), X.shape
        ([0.2, 0.2, 0.2], (6, 3))
        """
        return check_injection(state, x)

    def tell(self, state: CMAESState, X: Array, values: Array) -> CMAESState:
        if state.z is None or state.Y is None or X.shape != state.z.shape:
            raise ValueError("`tell` needs the population of the preceding `ask`.")
        xp, _ = get_xp(state.mean)
        p, g = state.params, state.generation + 1
        order = xp.argsort(values, stable=True)
        z, Y = xp.take(state.z, order, axis=0), xp.take(state.Y, order, axis=0)
        y_w, z_w = state.wpos @ Y, state.wpos @ z  # eq. (41)
        mean = state.mean + state.sigma * y_w  # eq. (42), c_m = 1
        # eq. (43); C^(-1/2) y_w = B z_w with the B, D that sampled this generation
        ps = (1 - p.cs) * state.ps + math.sqrt(p.cs * (2 - p.cs) * p.mueff) * (state.B @ z_w)
        ps_norm = xp.linalg.vector_norm(ps)
        bound = (1.4 + 2 / (p.n + 1)) * p.chi_n * math.sqrt(1 - (1 - p.cs) ** (2 * g))
        hsig = xp.astype(ps_norm < bound, mean.dtype)
        pc = (1 - p.cc) * state.pc + hsig * math.sqrt(p.cc * (2 - p.cc) * p.mueff) * y_w  # (45)
        # eq. (46): negative weights act on Mahalanobis-normalized steps, n / ||z||^2
        z_sq = xp.sum(z * z, axis=1)
        w_circ = state.wpos + state.wneg_n / xp.maximum(z_sq, xp.full_like(z_sq, 1e-30))
        # eq. (47) as one product: rank-one (pc) and rank-mu (Y) terms stacked
        decay = 1 + p.c1 * (1 - hsig) * p.cc * (2 - p.cc) - p.c1 - p.cmu * p.weight_sum
        Ya = xp.concat([xp.reshape(pc, (1, p.n)), Y])
        wa = xp.concat([xp.full((1,), p.c1, dtype=mean.dtype, device=mean.device), p.cmu * w_circ])
        C = decay * state.C + (Ya.T * wa) @ Ya
        diag = xp.linalg.diagonal(C)
        i = g % p.n
        axis_step = 0.1 * state.sigma * state.D[i] * state.B[:, i]
        coord_step = 0.2 * state.sigma * xp.sqrt(xp.maximum(diag, xp.zeros_like(diag)))
        due = g - state.eigen_generation >= 1 / (10 * p.n * (p.c1 + p.cmu))  # sec. B.2
        summary = [
            ps_norm,
            xp.max(diag),
            xp.max(xp.abs(pc)),
            xp.astype(xp.all(mean + axis_step == mean), mean.dtype),
            xp.astype(xp.any(mean + coord_step == mean), mean.dtype),
        ]
        if due:
            summary.append(xp.astype(xp.all(xp.isfinite(C)), mean.dtype))
        host = to_host(xp.concat([xp.stack(summary), values]))  # the one host transfer
        k = len(summary)
        sigma = state.sigma * math.exp(p.cs / p.damps * (float(host[0]) / p.chi_n - 1))  # (44)
        state = replace(
            state,
            mean=mean,
            sigma=sigma,
            C=C,
            pc=pc,
            ps=ps,
            z=None,
            Y=None,
            generation=g,
            history=state.history.push(host[k:], maxlen=self.history_length(p)),
        )
        if due:
            state = self._decompose(state, finite=bool(host[5]))
        max_std = math.sqrt(max(float(host[1]), 0.0))
        return replace(
            state,
            diagnostics=(
                max_std,
                float(host[2]),
                state.condition,
                state.max_axis,
                float(host[3]),
                float(host[4]),
            ),
        )

    def _decompose(self, state: CMAESState, finite: bool | None = None) -> CMAESState:
        """Eigendecomposition of C, repairing definiteness and capping the condition."""
        xp, _ = get_xp(state.C)
        if finite is None:
            finite = bool(to_host(xp.all(xp.isfinite(state.C))))
        if finite:
            C = (state.C + state.C.T) / 2
            evals, B = xp.linalg.eigh(C)
            host = to_host(evals)
            lo, hi = float(host[0]), float(host[-1])  # eigh sorts ascending
            if hi > 0:
                floor = hi / self.max_condition
                if lo < floor:
                    # a fixed text, so Python's default filter reports it once per run site
                    what = (
                        "lost positive definiteness; repaired"
                        if lo <= 0
                        else "exceeded `max_condition`; eigenvalues raised to cap it"
                    )
                    warnings.warn(
                        f"CMA-ES: covariance matrix {what}.", GradfreeWarning, stacklevel=2
                    )
                    evals = xp.maximum(evals, xp.full_like(evals, floor))
                    C = (B * evals) @ B.T
                    lo = floor
                return replace(
                    state,
                    C=C,
                    B=B,
                    D=xp.sqrt(evals),
                    condition=hi / lo,
                    max_axis=math.sqrt(hi),
                    eigen_generation=state.generation,
                )
        warnings.warn(
            "CMA-ES: covariance matrix became non-finite or zero; reset to the identity.",
            GradfreeWarning,
            stacklevel=2,
        )
        eye = asarray_like(np.eye(state.params.n), state.mean)
        zeros = xp.zeros_like(state.mean)
        return replace(
            state,
            C=eye,
            B=eye,
            D=xp.ones_like(state.mean),
            pc=zeros,
            ps=zeros,
            condition=1.0,
            max_axis=1.0,
            eigen_generation=state.generation,
        )
