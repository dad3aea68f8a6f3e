"""lq-CMA-ES: a global linear-quadratic surrogate that ranks each population.

Hansen (2019), "A Global Surrogate Assisted CMA-ES", GECCO '19, 664-672,
doi:10.1145/3321707.3321842, Algorithm 1, with the settings pycma's
``cma.fitness_models`` documents (``SurrogatePopulationSettings``, ``LQModelSettings``):

- the model: linear, then diagonal-quadratic (``2n + 1`` coefficients) once
  ``0.75 N >= 1.1 (2n + 1)`` data are archived, then full quadratic
  (``n (n + 3) / 2 + 1``) once ``0.75 N >= 1.1`` times that; fitted by weighted least
  squares on the best ``max(k + 2, 0.75 (N + 1))`` of the ``N`` archived points, weights
  decreasing linearly from 20 (best) to 1;
- the archive: the most recent ``max(2 k_max, lam)`` true evaluations (``k_max`` the
  largest model's coefficients), never fewer than ``1.1 k_max / 0.75``;
- each generation: evaluate ``floor(1 + max(0.02 lam, 4 - N))`` candidates, the best by
  the model first; refit; while Kendall's tau between the true and the model values of
  the ``max(15, min(1.2 n_eval, 0.75 lam))`` most recent archived points is below 0.85,
  evaluate ``ceil(n_eval / 2)`` more (1, 2, 3, 5, 8, 12, ...). The strategy is told the
  true values when all were evaluated, otherwise the model's values shifted so that
  their minimum is the best true value of the generation;
- the model's optimum is injected into the next population (pycma's
  ``fmin_lq_surr2(..., inject=True)``); the strategy clips its step (Hansen 2011,
  "Injecting External Solutions Into CMA-ES", arXiv:1110.4181, eq. 4).

A numerical choice of this implementation: the features are built in coordinates
centred at the best archived point and scaled by the archive's standard deviations, and
the values taken relative to the best one. The fitted model is the same function (the
three model families are closed under such affine maps) but its least-squares system
stays well conditioned when the population has contracted far from the origin.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from scipy.stats import kendalltau

from .._array import asarray_like, get_xp, to_host
from .._base import WrapperBase, check_inner, inject_into
from .._typing import Array
from .._validate import NonFiniteGeneration, check_int, check_positive

__all__ = ["LQModel", "LQSurrogate", "LQSurrogateState", "n_coefficients"]

KINDS = ("linear", "quadratic", "full")
TRUNCATION = 0.75  # share of the archive (the best) that fits the model
MIN_RELATIVE_SIZE = 1.1  # data per coefficient before a model kind is used
MAX_RELATIVE_SIZE = 2.0  # archive size per coefficient of the largest model
MAX_WEIGHT = 20.0  # regression weight of the best point (the worst used gets 1)
MIN_EVALS_FRACTION = 0.02  # candidates evaluated unconditionally each generation


def n_coefficients(kind: str, n: int) -> int:
    """Coefficients of a model `kind` in dimension `n`.

    Examples
    --------
    >>> [n_coefficients(k, 10) for k in KINDS]
    [11, 21, 66]
    """
    return {"linear": n + 1, "quadratic": 2 * n + 1, "full": n * (n + 3) // 2 + 1}[kind]


def _features(U: Array, kind: str) -> Array:
    """``[1, u, u**2, u_i u_j (i < j)]`` as far as `kind` goes, one row per point."""
    xp, dev = get_xp(U)
    m, n = U.shape
    cols = [xp.ones((m, 1), dtype=U.dtype, device=dev), U]
    if kind != "linear":
        cols.append(U * U)
    if kind == "full" and n > 1:
        i, j = np.triu_indices(n, 1)
        take = [xp.asarray(a.tolist(), dtype=xp.int64, device=dev) for a in (i, j)]
        cols.append(xp.take(U, take[0], axis=1) * xp.take(U, take[1], axis=1))
    return xp.concat(cols, axis=1)


@dataclass(frozen=True)
class LQModel:
    """A fitted linear, diagonal-quadratic or full quadratic model of the objective.

    ``f(x) ~ offset + features((x - center) / scale) @ coef``.
    """

    kind: str
    center: Array  # (n,) the best archived point
    scale: Array  # (n,) the archive's standard deviations (1 where zero)
    coef: Array  # (k,)
    offset: float  # the best archived value

    def __call__(self, X: Array) -> Array:
        """Model values ``(m,)`` at the rows of `X`."""
        return _features((X - self.center) / self.scale, self.kind) @ self.coef + self.offset

    def xopt(self) -> Array | None:
        """The model's optimum: ``x_best - 2 grad`` for a linear model (pycma's rule), the
        stationary point ``-H^+ b / 2`` of a quadratic one; None where not finite."""
        n = self.center.shape[0]
        c, scale = (np.asarray(to_host(a), dtype=np.float64) for a in (self.coef, self.scale))
        b = c[1 : n + 1]
        if self.kind == "linear":
            u = -2 * b / scale**2  # x step -2 grad_x, grad_x = b / scale
        else:
            H = np.diag(c[n + 1 : 2 * n + 1])
            if self.kind == "full" and n > 1:
                i, j = np.triu_indices(n, 1)
                H[i, j] = H[j, i] = c[2 * n + 1 :] / 2
            u = np.linalg.pinv(H) @ (-b / 2)
        if not np.isfinite(u).all():
            return None
        return self.center + asarray_like(u * scale, self.center)


def fit_model(X: Array, F: np.ndarray, kinds: tuple[str, ...]) -> LQModel:
    """Fit the largest model of `kinds` the archive ``(X, F)`` (``N >= 1`` rows) supports.

    Examples
    --------
    >>> X = np.random.default_rng(0).standard_normal((30, 2))
    >>> model = fit_model(X, (X**2).sum(axis=1) + 1.0, KINDS)
    >>> model.kind, bool(np.allclose(model(X), (X**2).sum(axis=1) + 1.0))
    ('full', True)
    >>> bool(np.allclose(model.xopt(), 0.0, atol=1e-8))
    True
    """
    xp, dev = get_xp(X)
    N, n = X.shape
    kind = "linear"
    for candidate in kinds:
        if TRUNCATION * N >= MIN_RELATIVE_SIZE * n_coefficients(candidate, n):
            kind = candidate
    k = n_coefficients(kind, n)
    order = np.argsort(F, kind="stable")[: min(N, max(k + 2, int(TRUNCATION * (N + 1))))]
    m = order.shape[0]
    rows = xp.take(X, xp.asarray(order.tolist(), dtype=xp.int64, device=dev), axis=0)
    center = rows[0, ...]
    std = xp.std(X, axis=0)
    scale = xp.where(std > 0, std, xp.ones_like(std))
    w = asarray_like(np.linspace(MAX_WEIGHT, 1.0, m), X)
    y = asarray_like(F[order] - F[order[0]], X)
    Z = _features((rows - center) / scale, kind)
    coef = xp.linalg.pinv(Z * w[:, None]) @ (y * w)
    return LQModel(kind, center, scale, coef, float(F[order[0]]))


@dataclass(frozen=True)
class LQSurrogateState:
    """State of `LQSurrogate`: the inner state, the archive, the model and, between the
    batches of one generation, its pending population."""

    inner: Any
    lam: int | None = None  # population size the archive belongs to
    X: Array | None = None  # (N, n) archived points, newest first
    F: np.ndarray | None = None  # host (N,): their true values (finite)
    model: LQModel | None = None
    population: Array | None = None  # (lam, n) candidates of the inner generation
    told: np.ndarray | None = None  # host (lam,): true values so far, NaN where not yet
    evaluated: tuple[int, ...] = ()  # rows of `population` evaluated, in order
    asked: tuple[int, ...] = ()  # rows of the batch being evaluated
    target: int = 0  # evaluations this generation aims at before the next tau check
    tau: float = 0.0  # the last Kendall tau between true and model values
    generations: int = 0  # inner generations completed
    evaluations: int = 0  # true evaluations
    candidates: int = 0  # candidates ranked (true evaluations plus model values)


@dataclass(frozen=True)
class LQSurrogate(WrapperBase):
    """lq-CMA-ES's surrogate around a population strategy: most candidates are ranked by
    a global linear-quadratic model, only a few are evaluated.

    Each `ask` returns the candidates to evaluate next (the best by the model first);
    once the model ranks the evaluated ones as their true values do (Kendall's tau >=
    `tau_threshold`), the inner strategy is told the whole population, ranked by the
    model. On a smooth objective one to a few true evaluations per generation remain,
    however large the population.

    Parameters
    ----------
    strategy : strategy
        A configured scalar-objective strategy (CMA-ES, sep-CMA-ES, ...). The model's
        optimum is injected into its next population where it supports injection
        (`gradfree.es.CMAES`, `gradfree.es.SepCMAES`).
    tau_threshold : float, default=0.85
        Kendall rank correlation that ends a generation's true evaluations.
    max_coefficients : int, default=1000
        Largest model, in coefficients: the full quadratic is used up to
        ``n (n + 3) / 2 + 1 <= max_coefficients`` (n <= 43 by default), the diagonal one
        up to ``2n + 1``; above that every candidate is evaluated (the plain method).
    inject_optimum : bool, default=True
        Inject the model's optimum into the next population (pycma's ``inject``).

    Notes
    -----
    Each `ask`/`tell` is one batch of true evaluations, so ``nit`` counts batches (one to
    a few per generation) and ``result.state.generations`` the inner generations;
    ``result.state.evaluations / result.state.candidates`` is the share of candidates
    evaluated. Batches are small (often one point), so parallel evaluators have little
    to share; the surrogate is for objectives whose evaluations cost far more than the
    model.

    Cost per batch: the fit is a pseudo-inverse of an ``(m, k)`` matrix, ``m <= 2k``,
    so ``O(k**3)`` with ``k = n (n + 3) / 2 + 1`` for the full model: about 1 ms at
    n = 10, 12 ms at n = 20, 0.4 s at n = 40 on one CPU core. `max_coefficients`
    caps it; at large n use a larger population or sep-CMA-ES instead.

    The surrogate helps on smooth, moderately sized problems (ellipsoids, Rosenbrock,
    smooth multimodal ones) and costs little where the model fits badly (the true
    evaluations then go up to the whole population).

    References
    ----------
    N. Hansen, "A Global Surrogate Assisted CMA-ES", GECCO '19, 664-672 (2019).

    Examples
    --------
    >>> from gradfree import CMAES, minimize
    >>> from gradfree.testing import rosenbrock
    >>> plain = minimize(rosenbrock, np.zeros(4), method=CMAES(), rng=1, tol=None)
    >>> res = minimize(rosenbrock, np.zeros(4), method=LQSurrogate(CMAES()), rng=1)
    >>> bool(res.fun < 1e-10), bool(res.nfev < plain.nfev / 3)
    (True, True)
    """

    partial_batches: ClassVar[bool] = True

    strategy: Any = None
    tau_threshold: float = 0.85
    max_coefficients: int = 1000
    inject_optimum: bool = True

    def __post_init__(self) -> None:
        check_inner(self.strategy, type(self).__name__)
        tau = check_positive(self.tau_threshold, "tau_threshold")
        if tau > 1:
            raise ValueError(f"`tau_threshold` must be in (0, 1]; got {tau!r}.")
        check_int(self.max_coefficients, "max_coefficients", low=1)
        if not isinstance(self.inject_optimum, bool):
            raise TypeError(f"`inject_optimum` must be a bool; got {self.inject_optimum!r}.")

    def population_size(self, state: LQSurrogateState) -> int:
        """Candidates of the generation in progress (after `ask`)."""
        if state.population is None:
            raise ValueError("`population_size` needs the state of an `ask`.")
        return state.population.shape[0]

    def kinds(self, n: int) -> tuple[str, ...]:
        """Model kinds within `max_coefficients` in dimension `n` (empty: no surrogate)."""
        kinds = tuple(k for k in KINDS if n_coefficients(k, n) <= self.max_coefficients)
        return kinds if "quadratic" in kinds else ()

    def init(self, x0: Array, *, rng: Any) -> LQSurrogateState:
        return LQSurrogateState(inner=self.strategy.init(x0, rng=rng))

    def ask(self, state: LQSurrogateState, *, rng: Any) -> tuple[Array, LQSurrogateState]:
        if state.population is None:  # a new generation of the inner strategy
            P, inner = self.strategy.ask(state.inner, rng=rng)
            lam, n = P.shape
            state = replace(state, inner=inner)
            if lam != state.lam:  # a new run (e.g. a restart): a new archive
                state = replace(state, lam=lam, X=None, F=None, model=None)
            size = 0 if state.F is None else state.F.shape[0]
            if self.kinds(n):
                first = int(1 + max(MIN_EVALS_FRACTION * lam, 3 / TRUNCATION - size))
            else:
                first = lam
            state = replace(
                state, population=P, told=np.full(lam, np.nan), evaluated=(), target=first
            )
        P = state.population
        assert P is not None  # set above for a new generation
        xp, dev = get_xp(P)
        lam = P.shape[0]
        order = range(lam)
        if state.model is not None and state.F is not None and state.F.shape[0] > 1:
            order = np.argsort(np.asarray(to_host(state.model(P))), kind="stable").tolist()
        done = set(state.evaluated)
        todo = [i for i in order if i not in done][: max(1, state.target - len(done))]
        X = xp.take(P, xp.asarray(todo, dtype=xp.int64, device=dev), axis=0)
        return X, replace(state, asked=tuple(todo))

    def tell(self, state: LQSurrogateState, X: Array, values: Array) -> LQSurrogateState:
        if (
            state.population is None
            or state.told is None
            or X.shape[0] != len(state.asked)
            or not state.asked
        ):
            raise ValueError("`tell` needs the population of the preceding `ask`.")
        xp, dev = get_xp(X)
        P, lam, n = state.population, state.population.shape[0], X.shape[1]
        host = np.asarray(to_host(values), dtype=np.float64)
        told = state.told.copy()
        told[list(state.asked)] = host
        evaluated = state.evaluated + state.asked
        state = replace(state, told=told, evaluated=evaluated, asked=())
        kinds = self.kinds(n)
        model, tau = state.model, state.tau
        if kinds:
            state = self._archive(state, X, host, kinds)
            model = state.model
            if len(evaluated) < lam:
                tau = self._tau(state, lam, len(evaluated))
                if not tau >= self.tau_threshold:  # evaluate more of this generation
                    return replace(state, tau=tau, target=state.target + -(-state.target // 2))
        if len(evaluated) == lam:
            if not np.isfinite(told).any():
                raise NonFiniteGeneration(
                    f"every value of generation {state.generations + 1} (all {lam} candidates "
                    "evaluated) was NaN or inf"
                )
            ranked = told
        else:
            assert model is not None  # fitted: fewer than all were evaluated
            fm = np.asarray(to_host(model(P)), dtype=np.float64)
            finite = told[np.isfinite(told)]
            ranked = fm - fm.min() + finite.min() if finite.size else fm
            failed = np.zeros(lam, dtype=bool)
            failed[list(evaluated)] = ~np.isfinite(told[list(evaluated)])
            ranked = np.where(failed, np.nan, ranked)
        inner = self.strategy.tell(state.inner, P, asarray_like(ranked, values))
        xopt = model.xopt() if self.inject_optimum and model is not None else None
        if xopt is not None:
            inner = inject_into(self.strategy, inner, xopt)
        return replace(
            state,
            inner=inner,
            population=None,
            told=None,
            evaluated=(),
            tau=tau,
            target=0,
            generations=state.generations + 1,
            evaluations=state.evaluations + len(evaluated),
            candidates=state.candidates + lam,
        )

    def _archive(
        self, state: LQSurrogateState, X: Array, values: np.ndarray, kinds: tuple[str, ...]
    ) -> LQSurrogateState:
        """Add the finite evaluations (newest first), drop the oldest, refit the model."""
        xp, dev = get_xp(X)
        ok = np.flatnonzero(np.isfinite(values))
        if not ok.size:
            return state
        new = xp.take(X, xp.asarray(ok.tolist(), dtype=xp.int64, device=dev), axis=0)
        n = X.shape[1]
        k_max = n_coefficients(kinds[-1], n)
        keep = int(
            max(MAX_RELATIVE_SIZE * k_max, state.lam or 0, MIN_RELATIVE_SIZE * k_max / TRUNCATION)
        )
        if state.X is None or state.F is None:
            A, F = new, values[ok]
        else:
            A, F = xp.concat([new, state.X]), np.concatenate([values[ok], state.F])
        if F.shape[0] > keep:
            A, F = A[:keep, ...], F[:keep]
        return replace(state, X=A, F=F, model=fit_model(A, F, kinds))

    def _tau(self, state: LQSurrogateState, lam: int, n_eval: int) -> float:
        """Kendall's tau of the true and the model values of the most recent points."""
        if state.X is None or state.F is None or state.model is None:
            return 0.0
        m = min(int(max(15, min(1.2 * n_eval, 0.75 * lam))), state.F.shape[0])
        if m < 3:
            return 0.0
        fm = np.asarray(to_host(state.model(state.X[:m, ...])), dtype=np.float64)
        tau = kendalltau(state.F[:m], fm).statistic
        return float(tau) if np.isfinite(tau) else 0.0
