"""Limited-memory matrix adaptation: CMA-like search in O(m n) memory, for n up to 10^6.

Loshchilov, Glasmachers & Beyer (2019), "Large Scale Black-box Optimization by
Limited-Memory Matrix Adaptation", IEEE TEVC 23(2), 353-358, arXiv:1705.06693,
Algorithm 1 (line numbers in the comments below). The transformation matrix of MA-ES
(Beyer & Sendhoff 2017) is replaced by ``m = 4 + floor(3 ln n)`` direction vectors
``m_j``, each an evolution path of the selected standard normal steps with its own
learning rate ``c_c,j``; a sample is ``d = M z`` with ``M = P_k ... P_1`` and
``P_j = (1 - c_d,j) I + c_d,j m_j m_j^T`` (lines 6-8), never formed as a matrix.

The whole population is transformed at once and in closed form (`_Factors`): by
induction ``P_k ... P_1 z = A_k (z + sum_l b_l m_l)`` with ``A_k = prod (1 - c_d,l)``, and
the coefficients ``b`` of all samples follow from ``Z M_k^T`` through one ``(k, k)``
matrix built from the Gram matrix of the vectors. So a generation costs three matrix
products, O(lam m n + m^2 n) time, instead of ``2 m`` memory-bound passes over the
``(lam, n)`` population, and O(m n) memory besides the population itself.

Safeguards for small n, where the paper's constants leave their range (they are meant
for large n and inactive there): ``c_sigma = min(1/2, 2 lam / n)`` (active for
n < 4 lam, about n < 60 at the default lam), ``c_c,j = min(1, lam / (4^(j-1) n))`` and
``c_d,j = min(1/4, 1 / (1.5^(j-1) n))`` (active for n <= 3). Without them the step size
random-walks for n <= 4 (c_sigma = 1 makes ``||p_sigma||^2 / n`` a one-generation
statistic) and the paths are undefined once ``c_c,j > 2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from .._array import asarray_like, get_xp, to_host
from .._random import normal
from .._typing import Array
from .._validate import check_int
from ._cma_common import CMABase, FunHistory, default_popsize

__all__ = ["LMMAES", "LMMAESParams", "LMMAESState", "lmmaes_params"]


@dataclass(frozen=True)
class LMMAESParams:
    """Strategy constants of LM-MA-ES for dimension `n` and population `lam` (host)."""

    n: int
    lam: int
    mu: int
    m: int  # number of direction vectors
    weights: np.ndarray  # (lam,), positive for the mu best, zero for the rest
    mueff: float
    cs: float  # c_sigma
    c_d: np.ndarray  # (m,) rates of the transformation factors, < 1
    c_c: np.ndarray  # (m,) rates of the direction vectors


def lmmaes_params(n: int, lam: int, m: int | None = None) -> LMMAESParams:
    """Default LM-MA-ES constants (Algorithm 1, line 1), capped for small `n`.

    Parameters
    ----------
    n : int
        Dimension.
    lam : int
        Population size.
    m : int, optional
        Number of direction vectors (default ``4 + floor(3 ln n)``).

    Examples
    --------
    >>> p = lmmaes_params(1000, 24)
    >>> p.m, p.mu, p.cs, round(float(p.weights.sum()), 12)
    (24, 12, 0.048, 1.0)
    >>> float(p.c_d[1] * 1.5 * 1000), float(p.c_c[1] * 4 * 1000 / 24)
    (1.0, 1.0)
    """
    m = default_popsize(n) if m is None else m
    mu = lam // 2
    raw = math.log(mu + 1) - np.log(np.arange(1, mu + 1))  # line 1: w_i
    weights = np.zeros(lam)
    weights[:mu] = raw / raw.sum()
    mueff = float(1 / (weights[:mu] ** 2).sum())
    j = np.arange(m)
    return LMMAESParams(
        n=n,
        lam=lam,
        mu=mu,
        m=m,
        weights=weights,
        mueff=mueff,
        cs=min(0.5, 2 * lam / n),  # line 1: c_sigma = 2 lam / n
        c_d=np.minimum(0.25, 1 / (1.5**j * n)),  # line 1: c_d,i = 1 / (1.5^(i-1) n)
        c_c=np.minimum(1.0, lam / (4.0**j * n)),  # line 1: c_c,i = lam / (4^(i-1) n)
    )


@dataclass(frozen=True)
class _Factors:
    """``M = P_k ... P_1`` in closed form: ``M^T = A (I + M_k^T C M_k)``; k = 0 is ``M = I``."""

    scale: float  # A = prod_{j<=k} (1 - c_d,j)
    parts: tuple[Array, Array, Array] | None  # M_k (k, n), Gram M_k M_k^T and C (k, k)

    @classmethod
    def of(cls, M: Array, c_d: np.ndarray, k: int) -> _Factors:
        """The first `k` factors ``P_j = (1 - c_d,j) I + c_d,j m_j m_j^T`` of the rows of `M`."""
        if k == 0:
            return cls(1.0, None)
        xp, dev = get_xp(M)
        Mk = M[:k, ...]
        # Lines 7-8 by induction: P_j ... P_1 v = A_j (v + sum_{l<=j} b_l m_l) with
        # b_j = r_j m_j^T (v + sum_{l<j} b_l m_l), r_j = c_d,j / (1 - c_d,j). As rows,
        # b = (P + b U) diag(r) with P = V M_k^T and U the strict upper triangle of G, so
        # b = P C with C = diag(r) (I - U diag(r))^(-1), the same for every vector v.
        G = Mk @ Mk.T
        r = asarray_like(c_d[:k] / (1 - c_d[:k]), M)
        eye = xp.eye(k, dtype=M.dtype, device=dev)
        C = r[:, None] * xp.linalg.inv(eye - xp.triu(G, k=1) * r)
        return cls(float(np.prod(1 - c_d[:k])), (Mk, G, C))

    def apply(self, V: Array, factor: float = 1.0) -> Array:
        """Rows ``factor * M v`` for the rows v of `V`, (r, n): three matrix products."""
        if self.parts is None:
            return factor * V
        Mk, _, C = self.parts
        a = factor * self.scale
        return a * V + ((V @ Mk.T) @ (a * C)) @ Mk

    def variances(self, like: Array) -> Array:
        """``diag(M M^T)``, (n,), in O(k^2 n): ``A^2 (1 + diag(M_k^T Q M_k))``."""
        xp, _ = get_xp(like)
        if self.parts is None:
            return xp.ones_like(like)
        Mk, G, C = self.parts
        Q = C + C.T + C.T @ G @ C  # M M^T = A^2 (I + M_k^T Q M_k)
        return self.scale**2 * (1 + xp.sum(Mk * (Q @ Mk), axis=0))


@dataclass(frozen=True)
class LMMAESState:
    """State of `LMMAES` between generations (device arrays plus host diagnostics)."""

    params: LMMAESParams
    mean: Array  # (n,) y in the paper
    sigma: float
    ps: Array  # (n,) evolution path of sigma
    M: Array  # (m, n) direction vectors m_i
    z: Array | None = None  # (lam, n) pending standard normal draws
    generation: int = 0
    history: FunHistory = FunHistory()
    diagnostics: tuple[float, ...] = ()  # host: max std, max |M ps|, 1, max std, 0, coord flag


@dataclass(frozen=True)
class LMMAES(CMABase):
    """Limited-memory matrix adaptation evolution strategy, (mu/mu_w, lam)-LM-MA-ES.

    Learns a few directions of large variance, not a covariance matrix: memory O(m n)
    and time O(lam m n) per generation with ``m = 4 + floor(3 ln n)``, so it suits
    non-separable problems with n from about 10^2 to 10^6, where `CMAES` no longer
    fits and `SepCMAES` cannot follow rotated valleys.

    Parameters
    ----------
    n_vectors : int, optional
        Number m of direction vectors (default ``4 + floor(3 ln n)``, resolved in `init`).
    sigma0, popsize, tolx, tolfun, tolfunhist, tolstagnation, tolupsigma, noeffectcoord
        See `gradfree.es.CMABase`; the default population is ``4 + floor(3 ln n)``.
    active : bool, default=False
        Must stay False: LM-MA-ES recombines with positive weights only.
    tolconditioncov, noeffectaxis, max_condition
        Accepted for a uniform interface; inert, since the matrix and its eigen-
        decomposition are never formed.

    Raises
    ------
    ValueError
        If ``active=True`` or ``n_vectors < 1``.

    Notes
    -----
    Stop diagnostics: the coordinate standard deviations (sigma-free) are the exact
    square roots of ``diag(M M^T)``, computed in O(m^2 n) from the closed form of M;
    the path in ``tolx`` is ``M p_sigma`` (x-space, as pycma's ``pc``); the largest
    axis length for ``tolupsigma`` is the largest standard deviation (a lower bound).
    The condition number is reported as 1 and the no-effect-axis flag as 0: principal
    axes would need a decomposition, and M cannot degenerate the way a covariance can
    (its factors have eigenvalues ``>= 1 - c_d,j``, so its smallest singular value is
    at least ``prod_j (1 - c_d,j)``).

    References
    ----------
    I. Loshchilov, T. Glasmachers and H.-G. Beyer, "Large Scale Black-box Optimization by
    Limited-Memory Matrix Adaptation", IEEE TEVC 23(2), 353-358 (2019), arXiv:1705.06693,
    Algorithm 1.

    Examples
    --------
    >>> from gradfree import minimize
    >>> from gradfree.testing import sphere
    >>> res = minimize(sphere, np.ones(50), method=LMMAES(), rng=0, workers="vectorized")
    >>> res.fun < 1e-10, res.success
    (True, True)
    """

    name: ClassVar[str] = "lm-ma-es"

    active: bool = False
    n_vectors: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.active:
            raise ValueError("`active` must be False: LM-MA-ES has no negative weights.")
        if self.n_vectors is not None:
            check_int(self.n_vectors, "n_vectors", low=1)

    # -- ask / tell ---------------------------------------------------------------------
    def init(self, x0: Array, *, rng: Any) -> LMMAESState:
        del rng  # deterministic start
        xp, dev = get_xp(x0)
        n = x0.shape[0]
        p = lmmaes_params(n, self.popsize or default_popsize(n), self.n_vectors)
        return LMMAESState(
            params=p,
            mean=x0,
            sigma=self.sigma0,
            ps=xp.zeros_like(x0),  # line 2
            M=xp.zeros((p.m, n), dtype=x0.dtype, device=dev),  # line 2
        )

    def ask(self, state: LMMAESState, *, rng: Any) -> tuple[Array, LMMAESState]:
        p = state.params
        z = normal(rng, (p.lam, p.n), like=state.mean)  # line 5
        k = min(state.generation, p.m)  # line 7: vectors are used once they are filled
        d = _Factors.of(state.M, p.c_d, k).apply(z, state.sigma)  # lines 6-8: sigma M z
        return state.mean + d, replace(state, z=z)  # line 9, all rows at once

    def tell(self, state: LMMAESState, X: Array, values: Array) -> LMMAESState:
        if state.z is None or X.shape != state.z.shape:
            raise ValueError("`tell` needs the population of the preceding `ask`.")
        xp, _ = get_xp(state.mean)
        p = state.params
        # sum_i w_i z_{i:lam} without sorting z: each draw gets the weight of its rank
        rank = xp.argsort(xp.argsort(values, stable=True), stable=True)
        z_w = xp.take(asarray_like(p.weights, state.mean), rank) @ state.z
        ps = (1 - p.cs) * state.ps + math.sqrt(p.mueff * p.cs * (2 - p.cs)) * z_w  # line 11
        factors = _Factors.of(state.M, p.c_d, min(state.generation, p.m))
        # d_w = sum_i w_i d_{i:lam} = M z_w: one vector, not the population, is transformed;
        # M p_sigma is the path in x-space (the analogue of pycma's pc, for tolx)
        both = factors.apply(xp.stack([z_w, ps]))
        mean = state.mean + state.sigma * both[0, ...]  # line 10, c_m = 1
        keep = asarray_like(1 - p.c_c, state.mean)[:, None]
        gain = asarray_like(np.sqrt(p.mueff * p.c_c * (2 - p.c_c)), state.mean)[:, None]
        M = keep * state.M + gain * z_w  # line 13, all m vectors at once
        std = xp.sqrt(factors.variances(state.mean))  # of the distribution that sampled X
        summary = xp.stack(
            [
                xp.sum(ps**2),
                xp.max(std),
                xp.max(xp.abs(both[1, ...])),
                xp.astype(xp.any(mean + 0.2 * state.sigma * std == mean), mean.dtype),
            ]
        )
        host = to_host(xp.concat([summary, values]))  # the one transfer of a generation
        ps_sq, max_std, max_ps, coord = (float(v) for v in host[:4])
        sigma = state.sigma * math.exp(p.cs / 2 * (ps_sq / p.n - 1))  # line 14, d_sigma = 2
        return replace(
            state,
            mean=mean,
            sigma=sigma,
            ps=ps,
            M=M,
            z=None,
            generation=state.generation + 1,
            history=state.history.push(host[4:], maxlen=self.history_length(p)),
            diagnostics=(max_std, max_ps, 1.0, max_std, 0.0, coord),
        )
