"""Nonlinear constraints for any strategy, through an adaptive augmented Lagrangian.

`Constrained` turns a constrained problem ``min f(x) s.t. lb <= c(x) <= ub`` into a
sequence of unconstrained ones: the inner strategy ranks candidates by the augmented
Lagrangian ``h(x) = f(x) + sum_i P(g_i(x); lam_i, mu_i)`` whose multipliers ``lam`` and
penalty factors ``mu`` adapt every generation from f and g at the distribution mean
(Atamna, Auger & Hansen 2016, 2017; the rules of pycma's ``AugmentedLagrangian``).
`gradfree._constraint_objects` adapts scipy's constraint objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from .._array import asarray_like, get_xp, to_host
from .._base import WrapperBase, center_of, check_inner
from .._typing import Array
from .._validate import check_nonnegative

__all__ = ["Constrained", "ConstrainedState"]

_DGAMMA = 5.0  # damping of the multiplier update, Atamna et al. (2017), Sec. 3


@dataclass(frozen=True)
class ConstrainedState:
    """State of `Constrained`: the inner state and the augmented-Lagrangian coefficients.

    ``lam`` and ``mu`` are host arrays, one entry per constraint in ``g(x) <= 0`` form
    (a two-sided constraint counts twice); ``mu == 0`` marks a constraint whose
    coefficients are not set yet (no penalty).
    """

    inner: Any
    dim: int
    lam: np.ndarray
    mu: np.ndarray
    g_history: np.ndarray  # (<= d + 5, K) g at the recent means, for the mu rule
    same: np.ndarray  # (K,) signed count of same-direction mu changes in a row
    n: int | None = None  # pending: candidates of the inner strategy (the mean follows)


@dataclass(frozen=True, eq=False)
class Constrained(WrapperBase):
    """Constraints ``lb <= c(x) <= ub`` for any strategy, by an adaptive augmented Lagrangian.

    The objective must return ``[f(x), c_1(x), ..., c_k(x)]`` per candidate (vector
    values; `gradfree.minimize` builds this from ``constraints=``). Each generation
    `ask` returns the inner strategy's candidates **plus its distribution mean as the
    last row**; f and g at the mean drive the coefficient updates (one extra evaluation
    per generation, counted in ``nfev``). The inner strategy is told
    ``h = f + sum_i P_i(g_i)`` with, for an inequality ``g_i <= 0``,

    .. math:: P_i = \\lambda_i g_i + \\tfrac{\\mu_i}{2} g_i^2 \\text{ if }
       \\lambda_i + \\mu_i g_i \\ge 0, \\text{ else } -\\lambda_i^2 / (2\\mu_i),

    and ``lam_i h_i + mu_i/2 h_i**2`` for an equality ``h_i = 0`` (``lb == ub``). After
    each generation (Atamna et al. 2017, Alg. 1, with pycma's safeguards):
    ``lam_i += mu_i g_i(m) / 5`` while constraint i penalizes the mean or a candidate
    (clamped at 0 for inequalities). ``mu_i`` grows by ``chi**(1/4)`` when the mean
    violates constraint i, or sits in its penalized zone while more than 95 % of the
    last ``d + 5`` means were feasible, and shrinks by ``chi**(-1/4)`` when the mean is
    feasible but fewer than 90 % of them were (pycma's default rule; the original
    rule of the paper converges far slower on active constraints); after ``2 + k``
    changes in one direction the factor ramps up to its 5th power. ``chi = 2**(1/(5d))``.
    The coefficients of a constraint are set the first time
    more than 10 % of a population violates it (always for equalities):
    ``lam = iqr(f) / (d iqr(g))``, ``mu = 2 iqr(f) / (5 d (iqr(g) + 1e-6 iqr(g**2)))``
    (pycma's ``set_coefficients``); until then it costs nothing.

    Its `best_of` orders each generation for the run's best point, lexicographically
    by (violation, f), where the violation is the largest ``max(0, g_i)`` or ``|h_i|``
    above `feasibility_tol`, so ``result.x`` is the best feasible point once one was
    seen, else the least infeasible one; ``result.maxcv`` is its violation, and
    ``success`` is False while it is positive. A NaN in f or in any constraint counts
    as the worst candidate.

    Parameters
    ----------
    strategy : strategy
        A configured scalar-objective strategy whose state has a ``mean`` (every ES
        here, also inside `Bounded`, `Restarts` or `UncertaintyHandling`). The
        coefficients carry over restarts.
    lb, ub : array_like of shape (k,)
        Bounds on the k constraint values; ``-inf``/``inf`` for one-sided constraints.
    feasibility_tol : float, default=0.0
        Violations up to this count as feasible when tracking the best point; set it
        above zero with equality constraints, which the search meets only up to its
        precision.

    Raises
    ------
    TypeError
        For a `strategy` without init/ask/tell or with vector values.
    ValueError
        For NaN or mismatched bounds, ``lb > ub``, no constraint at all, or a
        negative `feasibility_tol`.

    References
    ----------
    A. Atamna, A. Auger, N. Hansen (2016), "Augmented Lagrangian constraint handling
    for CMA-ES -- case of a single linear constraint", PPSN XIV, Alg. 1 and eq. (4).
    A. Atamna, A. Auger, N. Hansen (2017), "Linearly convergent evolution strategies via
    augmented Lagrangian constraint handling", FOGA '17, Alg. 1 and Sec. 3 (k1 = 3,
    k2 = 5, d_gamma = 5, chi = 2**(1/(5n))).

    Examples
    --------
    >>> from scipy.optimize import NonlinearConstraint
    >>> from gradfree import minimize
    >>> from gradfree.testing import sphere
    >>> con = NonlinearConstraint(lambda x: x[0], 1.0, np.inf)   # x_0 >= 1
    >>> res = minimize(sphere, np.full(3, 2.0), constraints=con, rng=1, maxfev=3000)
    >>> res.success, round(res.fun, 4), bool(res.x[0] >= 1.0), res.maxcv
    (True, 1.0, True, 0.0)
    """

    strategy: Any
    lb: Any
    ub: Any
    feasibility_tol: float = 0.0
    # derived in __post_init__: row i of g(x) <= 0 is sign[i] * (c[index[i]] - offset[i])
    _index: np.ndarray = field(init=False, repr=False)
    _sign: np.ndarray = field(init=False, repr=False)
    _offset: np.ndarray = field(init=False, repr=False)
    _equality: np.ndarray = field(init=False, repr=False)

    vector_values: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_inner(self.strategy, "Constrained")
        check_nonnegative(self.feasibility_tol, "feasibility_tol")
        lb = np.atleast_1d(np.asarray(self.lb, dtype=np.float64))
        ub = np.atleast_1d(np.asarray(self.ub, dtype=np.float64))
        if lb.ndim != 1 or lb.shape != ub.shape or lb.size == 0:
            raise ValueError(
                f"`lb` and `ub` must be non-empty 1-d arrays of one length; got shapes "
                f"{lb.shape} and {ub.shape}."
            )
        if np.isnan(lb).any() or np.isnan(ub).any() or (lb > ub).any():
            raise ValueError("constraint bounds must not be NaN and need `lb <= ub`.")
        if (np.isinf(lb) & np.isinf(ub)).all():
            raise ValueError("every constraint has infinite `lb` and `ub`: nothing to enforce.")
        # Each finite side becomes one row of g(x) = sign * (c[index] - offset) <= 0.
        eq = lb == ub
        lo = np.flatnonzero(np.isfinite(lb) & ~eq)
        hi = np.flatnonzero(np.isfinite(ub) & ~eq)
        on = np.flatnonzero(eq)
        object.__setattr__(self, "_index", np.concatenate([on, lo, hi]))
        object.__setattr__(
            self, "_sign", np.concatenate([np.ones(on.size), -np.ones(lo.size), np.ones(hi.size)])
        )
        object.__setattr__(self, "_offset", np.concatenate([lb[on], lb[lo], ub[hi]]))
        object.__setattr__(
            self,
            "_equality",
            np.concatenate([np.ones(on.size, bool), np.zeros(lo.size + hi.size, bool)]),
        )

    # -- the g(x) <= 0 view ----------------------------------------------------------
    def _g(self, values: np.ndarray) -> np.ndarray:
        """Host ``(n, K)`` constraint rows in ``g <= 0`` / ``h = 0`` form."""
        return self._sign * (values[:, 1:][:, self._index] - self._offset)

    def _raw_violation(self, g: np.ndarray) -> np.ndarray:
        v = np.where(self._equality, np.abs(g), np.maximum(g, 0.0))
        return v.max(axis=1)

    def _penalty(self, g: np.ndarray, lam: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """``P(g; lam, mu)`` elementwise (zero where ``mu == 0``)."""
        active = self._equality | (lam + mu * g >= 0)
        safe_mu = np.where(mu > 0, mu, 1.0)
        p = np.where(active, lam * g + 0.5 * mu * g**2, -(lam**2) / (2 * safe_mu))
        return np.where(mu > 0, p, 0.0)

    # -- protocol ----------------------------------------------------------------------
    def loss(self, values: Array) -> Array:
        """The objective value f, the first column."""
        return values[:, 0]

    def violation(self, values: Array) -> Array:
        """Largest constraint violation per candidate (0 when within `feasibility_tol`;
        NaN where f or a constraint is NaN)."""
        host = np.asarray(to_host(values), dtype=np.float64)
        v = self._raw_violation(self._g(host))
        v = np.where(v <= self.feasibility_tol, 0.0, v)
        return np.where(np.isfinite(host).all(axis=1), v, np.nan)

    def best_of(self, values: Array, losses: np.ndarray) -> tuple[int, float]:
        """The generation's best member: least violation first, then lowest loss (a NaN
        violation or loss ranks last); its index and violation."""
        viol = self.violation(values)
        viol = np.where(np.isnan(viol) | np.isnan(losses), np.inf, viol)
        j = int(np.lexsort((losses, viol))[0])
        return j, float(viol[j])

    def init(self, x0: Array, *, rng: Any) -> ConstrainedState:
        k = self._index.size
        inner = self.strategy.init(x0, rng=rng)
        center_of(self.strategy, inner)  # fail early for strategies without a mean
        return ConstrainedState(
            inner=inner,
            dim=int(x0.shape[0]),
            lam=np.zeros(k),
            mu=np.zeros(k),
            g_history=np.zeros((0, k)),
            same=np.zeros(k, dtype=np.int64),
        )

    def ask(self, state: ConstrainedState, *, rng: Any) -> tuple[Array, ConstrainedState]:
        X, inner = self.strategy.ask(state.inner, rng=rng)
        xp, _ = get_xp(X)
        m = xp.reshape(xp.astype(center_of(self.strategy, inner), X.dtype), (1, -1))
        return xp.concat([X, m], axis=0), replace(state, inner=inner, n=int(X.shape[0]))

    def tell(self, state: ConstrainedState, X: Array, values: Array) -> ConstrainedState:
        n = state.n
        if n is None or X.shape[0] != n + 1:
            raise ValueError("`tell` needs the population of the preceding `ask`.")
        host = np.asarray(to_host(values), dtype=np.float64)
        if host.ndim != 2 or host.shape[1] != 1 + int(np.asarray(self.lb).size):
            raise ValueError(
                f"`values` must have 1 + {np.asarray(self.lb).size} columns "
                f"[f, c_1, ...]; got shape {host.shape}."
            )
        f, g = host[:n, 0], self._g(host[:n])
        lam, mu = self._initial_coefficients(state, f, g)
        state = replace(state, lam=lam, mu=mu)
        state = self._update(
            state, host[n, 0], self._g(host[n:])[0], g[np.isfinite(g).all(axis=1)]
        )
        h = f + self._penalty(g, state.lam, state.mu).sum(axis=1)
        h = np.where(np.isfinite(h), h, np.inf)  # NaN anywhere: the worst candidate
        inner = self.strategy.tell(state.inner, X[:n, ...], asarray_like(h, values))
        return replace(state, inner=inner, n=None)

    def _initial_coefficients(
        self, state: ConstrainedState, f: np.ndarray, g: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Set lam, mu for constraints violated by > 10 % of the population (pycma)."""
        unset = state.mu == 0
        ok = np.isfinite(f) & np.isfinite(g).all(axis=1)
        if not unset.any() or ok.sum() < 2:
            return state.lam, state.mu
        f, g = f[ok], g[ok]
        unset &= self._equality | ((g > 0).mean(axis=0) > 0.1)
        if not unset.any():
            return state.lam, state.mu
        d = state.dim
        df = _iqr(f)
        dg, dg2 = _iqr(g), _iqr(g**2)
        tiny = 1e-11 * (df + 1)
        mu_new = 0.4 * df / d / (dg + 1e-6 * dg2 + tiny)
        lam_new = np.where(self._equality, 0.0, df / (d * dg + tiny))
        take = unset & (mu_new > 0)
        return np.where(take, lam_new, state.lam), np.where(take, mu_new, state.mu)

    def _update(
        self, state: ConstrainedState, f: float, g: np.ndarray, g_pop: np.ndarray
    ) -> ConstrainedState:
        """One coefficient update from g at the mean `g` (and the population's `g_pop`).

        Atamna et al. (2017), Alg. 1, for ``lam``; for ``mu`` the rule of pycma's
        default ``AugmentedLagrangian`` (its ``muplus3``/``muminus3`` and the ramp of
        ``CountLastSameChanges``), which converges markedly faster than the original.
        """
        if not (math.isfinite(f) and np.isfinite(g).all()):
            return state  # a failed mean evaluation skips the update
        history = np.concatenate([state.g_history, g[None, :]])[-(state.dim + 5) :]
        lam, mu, same = state.lam, state.mu, state.same
        on = mu > 0
        if not on.any():
            return replace(state, g_history=history)
        eq = self._equality
        penalized = eq | (mu * g > -lam) | (mu * g_pop > -lam).any(axis=0)
        lam = np.where(on & penalized, lam + mu * g / _DGAMMA, lam)
        clamped = ~eq & (lam < 0)
        lam = np.where(clamped, 0.0, lam)
        adapt = on & ~clamped & (eq | (mu * g >= -lam))
        p_feas = (history < 0).mean(axis=0) + 0.5 * (history == 0).mean(axis=0)
        plus = adapt & ((g > 0) | ((mu * g > -lam) & (p_feas > 0.95)))
        minus = adapt & ~plus & (g < 0) & (p_feas < 0.9)
        change = plus.astype(int) - minus.astype(int)
        same = np.where(change * same < 0, 0, same) + change
        # ramp: after T same-direction changes in a row the step grows, up to 5-fold
        T = 2 + lam.size
        ramp = np.sign(same) * np.minimum(T, np.maximum(0, np.abs(same) - T)) * 4 / T
        chi = 2.0 ** (1.0 / (5 * state.dim))
        mu = mu * chi ** (0.25 * change * (1 + np.abs(ramp)))
        return replace(state, lam=lam, mu=mu, same=same, g_history=history)


def _iqr(a: np.ndarray) -> Any:
    """Interquartile range along axis 0."""
    q75, q25 = np.percentile(a, [75, 25], axis=0)
    return q75 - q25
