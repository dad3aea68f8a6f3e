"""Uncertainty handling for noisy objectives (UH-CMA-ES), around any step-size strategy.

Hansen, Niederberger, Guzzella & Koumoutsakos (2009), "A Method for Handling Uncertainty
in Evolutionary Optimization With an Application to Feedback Control of Combustion",
IEEE TEVC 13(1), 180-197, doi:10.1109/TEVC.2008.924423, sec. III. The rank-based
uncertainty measurement step by step (numbered as in Shark's implementation of the
paper's algorithm, and in the comments below):

2. ``lam_reev = r_lam * lam`` with ``r_lam = max(0.1, 2 / lam)``, a fraction rounded up
   with probability equal to it;
3. re-evaluate ``lam_reev`` of the ``lam`` candidates, each moved by ``epsilon`` times a
   step of the search distribution;
4. rank the ``2 lam`` values ``L_old`` (first evaluations) and ``L_new`` (the same, with
   the re-evaluations in place) together; the rank change ``Delta_i = |rank(L_new_i) -
   rank(L_old_i)| - 1`` counts the values strictly between the two evaluations of ``i``;
5. ``s = mean_i(2 |Delta_i| - Dlim(rank(L_new_i) - 1[L_new_i > L_old_i])
   - Dlim(rank(L_old_i) - 1[L_old_i > L_new_i]))`` over the re-evaluated ``i``, where
   ``Dlim(R)`` is the ``theta / 2`` quantile of ``{|1 - R|, ..., |2 lam - 1 - R|}``, the
   rank changes that pure noise would cause;
6. rank the ``lam`` candidates by the sum of their two ranks.

Treatment, the step-size variant: if ``s > 0`` the step size is multiplied by
``alpha_sigma = 1 + 2 / (n + 10)`` after the update, otherwise left as it is (the other
variant, more evaluations per candidate, is not implemented here).

The defaults of the reference implementations that follow the paper: ``r_lam`` and
``theta = 0.2`` in Shark (EALib ``UncertaintyQuantification.cpp``) and libcmaes
(``cmaparameters.cc``); ``epsilon = 1e-7`` and ``alpha_sigma`` in Hansen's ``cmaes.m``
(``opts.Noise``) and pycma (``NoiseHandler``), whose quantile convention (MATLAB's
``prctile``, NumPy's ``method='hazen'``) is used for ``Dlim``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._array import asarray_like, get_xp, to_host
from .._base import WrapperBase, check_inner
from .._typing import Array
from .._validate import check_nonnegative, check_positive

__all__ = ["UncertaintyHandling", "UncertaintyHandlingState", "rank_change_measure"]

HISTORY_LENGTH = 1000
"""Generations of measurements and step-size factors kept in the state."""


def _rank_change_limit(R: np.ndarray, lam: int, theta: float) -> np.ndarray:
    """``Dlim(R)``: the ``theta / 2`` quantile of ``|k - R|``, ``k = 1 .. 2 lam - 1`` (step 5),
    interpolated as MATLAB's ``prctile`` (NumPy's ``method='hazen'``)."""
    m = 2 * lam - 1
    changes = np.sort(np.abs(np.arange(1, m + 1)[None, :] - R[:, None]), axis=1)
    pos = min(max(0.5 + 0.5 * theta * m, 1.0), float(m)) - 1  # 0-based position
    lo = int(pos)
    hi = min(lo + 1, m - 1)
    return changes[:, lo] + (pos - lo) * (changes[:, hi] - changes[:, lo])


def rank_change_measure(
    old: np.ndarray, new: np.ndarray, idx: np.ndarray, theta: float = 0.2
) -> tuple[float, np.ndarray]:
    """Uncertainty level ``s`` of one generation and its rank-sum ranking (steps 4-6).

    Parameters
    ----------
    old : ndarray of shape (lam,)
        First evaluations of the candidates (host; NaN counts as the worst).
    new : ndarray of shape (k,)
        Re-evaluations of the candidates ``idx``.
    idx : ndarray of int, shape (k,)
        Distinct rows of `old` that were re-evaluated.
    theta : float, default=0.2
        Quantile parameter of the rank change limit (the ``theta / 2`` quantile).

    Returns
    -------
    s : float
        Positive when the two evaluations of the re-evaluated candidates are further
        apart in the joint ranking than ``Dlim`` allows: the ranking is unreliable.
    values : ndarray of shape (lam,)
        Values whose order is the paper's ranking by rank sums (ties by the average of
        the two evaluations) and whose sorted values are the candidates' values, the
        two evaluations averaged where there are two.

    Examples
    --------
    Two evaluations that agree give ``s < 0``; swapped extremes give ``s > 0``:

    >>> old = np.arange(10.0)
    >>> s, values = rank_change_measure(old, old[[0, 5]] + 1e-9, np.asarray([0, 5]))
    >>> s < 0, bool(np.all(np.argsort(values) == np.arange(10)))
    (True, True)
    >>> rank_change_measure(old, np.asarray([9.5, -0.5]), np.asarray([0, 9]))[0] > 0
    True
    """
    lam = old.shape[0]
    old = np.where(np.isnan(old), np.inf, np.asarray(old, dtype=np.float64))
    new = np.where(np.isnan(new), np.inf, np.asarray(new, dtype=np.float64))
    renewed = old.copy()
    renewed[idx] = new
    ranks = np.empty(2 * lam, dtype=np.int64)  # step 4: ranks 1 .. 2 lam in L_old u L_new
    ranks[np.argsort(np.concatenate([old, renewed]), kind="stable")] = np.arange(1, 2 * lam + 1)
    r_old, r_new = ranks[:lam], ranks[lam:]
    ro, rn = r_old[idx], r_new[idx]
    delta = np.abs(rn - ro) - 1  # values strictly between the two evaluations
    # step 5: ranks among the 2 lam - 1 other values (the partner removed), so
    # rank - 1[L > L_partner]; comparing ranks also settles exact ties
    limits = _rank_change_limit(np.concatenate([rn - (rn > ro), ro - (ro > rn)]), lam, theta)
    k = idx.shape[0]
    s = float(np.mean(2 * delta - limits[:k] - limits[k:]))
    # step 6: rank by rank sums; the told values keep the (averaged) values' distribution
    mean = old.copy()
    mean[idx] = 0.5 * old[idx] + 0.5 * new
    order = np.lexsort((mean, r_old + r_new))
    values = np.empty(lam)
    values[order] = np.sort(mean)
    return s, values


@dataclass(frozen=True, eq=False)
class UncertaintyHandlingState:
    """State of `UncertaintyHandling`: the inner state plus the uncertainty measurements."""

    inner: Any  # the inner strategy's state (has `sigma` and `mean`)
    alpha: float  # step-size factor applied when s > 0 (resolved for the dimension)
    s: float = 0.0  # uncertainty level, smoothed with `cum`
    lam: int | None = None  # pending: candidates of the inner strategy
    idx: tuple[int, ...] | None = None  # pending: rows re-evaluated (rows lam, lam+1, ...)
    s_history: tuple[float, ...] = ()  # host: each generation's measured s (bounded)
    factor_history: tuple[float, ...] = ()  # host: each generation's step-size factor
    n_reevals: int = 0  # extra evaluations spent on re-evaluation so far


@dataclass(frozen=True)
class UncertaintyHandling(WrapperBase):
    """UH-CMA-ES: measure the uncertainty of the ranking, raise the step size when high.

    Each generation a few candidates of the inner strategy are evaluated a second time
    (slightly perturbed). From how far their two values lie apart in the joint ranking,
    compared with how far pure noise would move them, the rank-change measure ``s``
    follows; the inner strategy is told the candidates ranked by the sums of their two
    ranks, and when ``s > 0`` its step size grows by `alpha`. A larger step size raises
    the differences between function values above the noise, so selection works
    again, where plain CMA-ES lets sigma shrink into the noise and stalls.

    `ask` returns ``lam + k`` rows: the inner strategy's ``lam`` candidates, then
    copies of ``k`` of them (chosen at random) moved by `epsilon` times another
    candidate's step ``x_j - mean``, a draw from the current search distribution. All
    randomness is drawn there; `tell` is deterministic.

    Parameters
    ----------
    strategy : strategy
        A configured strategy whose state has ``sigma`` and ``mean`` fields (CMA-ES,
        sep-CMA-ES, LM-MA-ES); scalar objectives only.
    reevals : float, optional
        Candidates re-evaluated per generation; a fraction is rounded up with
        probability equal to it. Default: the paper's ``r_lam * lam`` with
        ``r_lam = max(0.1, 2 / lam)``, so 2 for ``lam < 20`` and 10 % above.
    epsilon : float, default=1e-7
        Relative perturbation of the re-evaluated points (0 re-evaluates the very same
        points, which does not help against noise frozen per point).
    alpha : float, optional
        Step-size factor when ``s > 0``; default ``1 + 2 / (n + 10)`` for dimension n.
    theta : float, default=0.2
        Rank change limit: the ``theta / 2`` quantile of the rank changes of pure noise.
        Larger values invoke the treatment less often.
    cum : float, default=1.0
        Smoothing of ``s`` over generations, ``s <- (1 - cum) s + cum s_t``; 1 uses each
        generation's measurement alone (pycma's `NoiseHandler` uses 0.3, "originally 1").

    Raises
    ------
    TypeError
        For a `strategy` without ``init``/``ask``/``tell``, with vector values, or (at
        `init`) whose state has no ``sigma`` and ``mean``.
    ValueError
        For a `reevals` or `alpha` that is not positive (`alpha` < 1), a negative
        `epsilon`, or `theta` or `cum` outside ``(0, 1]``.

    Notes
    -----
    The measurement and the factor of each generation are kept in
    ``result.state.s_history`` and ``result.state.factor_history`` (the last
    1000), the extra evaluations in ``result.state.n_reevals``; they count towards
    ``maxfev``. The inner state, its ``sigma`` and ``mean``, is ``result.state.inner``.
    Without noise ``s`` stays negative and the wrapper costs only the ``k`` extra
    evaluations per generation. On noisy problems the best point seen is a lucky draw;
    the final ``result.state.inner.mean`` is the better estimate.

    A larger step size helps where the noise does not grow with it: additive noise, or
    noise that dominates only near the current point. Under strong multiplicative
    noise, ``f (1 + c N(0, 1))`` with ``c`` about 1 in 5-D, the signal-to-noise ratio
    is the same at every scale, ``s`` stays positive and sigma (and the mean) diverge;
    there more evaluations per candidate, not a larger step, are the remedy.

    References
    ----------
    N. Hansen, A. S. P. Niederberger, L. Guzzella and P. Koumoutsakos, "A Method for
    Handling Uncertainty in Evolutionary Optimization With an Application to Feedback
    Control of Combustion", IEEE TEVC 13(1), 180-197 (2009), sec. III.

    Examples
    --------
    >>> from gradfree import minimize
    >>> from gradfree.es import CMAES

    Additive noise larger than the differences the first, small steps make: plain
    CMA-ES shrinks sigma into the noise and stays at ``x0`` (``f = 20``):

    >>> noise = np.random.default_rng(0)
    >>> def noisy_sphere(X):
    ...     return (X**2).sum(axis=1) + noise.standard_normal(X.shape[0])
    >>> x0, cma = np.full(5, 2.0), CMAES(sigma0=1e-3)
    >>> plain = minimize(noisy_sphere, x0, method=cma, rng=1, workers="vectorized", maxfev=2000)
    >>> res = minimize(noisy_sphere, x0, method=UncertaintyHandling(cma), rng=1,
    ...                workers="vectorized", maxfev=2000)
    >>> bool((plain.state.mean**2).sum() > 15), bool((res.state.inner.mean**2).sum() < 2)
    (True, True)
    """

    strategy: Any
    reevals: float | None = None
    epsilon: float = 1e-7
    alpha: float | None = None
    theta: float = 0.2
    cum: float = 1.0

    def __post_init__(self) -> None:
        check_inner(self.strategy, "UncertaintyHandling")
        if self.reevals is not None:
            check_positive(self.reevals, "reevals")
        check_nonnegative(self.epsilon, "epsilon")
        if self.alpha is not None and check_positive(self.alpha, "alpha") < 1:
            raise ValueError(f"`alpha` must be >= 1; got {self.alpha!r}.")
        for name in ("theta", "cum"):
            value = getattr(self, name)
            if check_positive(value, name) > 1:
                raise ValueError(f"`{name}` must be in (0, 1]; got {value!r}.")

    def init(self, x0: Array, *, rng: Any) -> UncertaintyHandlingState:
        inner = self.strategy.init(x0, rng=rng)
        if not (
            dataclasses.is_dataclass(inner) and hasattr(inner, "sigma") and hasattr(inner, "mean")
        ):
            raise TypeError(
                f"`strategy`: UncertaintyHandling needs a state with `sigma` and `mean` "
                f"fields (CMA-ES, sep-CMA-ES, LM-MA-ES); {type(self.strategy).__name__} "
                f"has a {type(inner).__name__}."
            )
        alpha = self.alpha if self.alpha is not None else 1 + 2 / (x0.shape[0] + 10)
        return UncertaintyHandlingState(inner=inner, alpha=float(alpha))

    def ask(
        self, state: UncertaintyHandlingState, *, rng: Any
    ) -> tuple[Array, UncertaintyHandlingState]:
        X, inner = self.strategy.ask(state.inner, rng=rng)
        lam = X.shape[0]
        if lam < 2:
            raise ValueError(f"`strategy` must propose at least 2 candidates; got {lam}.")
        # step 2: lam_reev = r_lam lam, r_lam = max(0.1, 2 / lam), rounded at random
        expected = self.reevals if self.reevals is not None else max(0.1 * lam, 2.0)
        k = math.floor(expected)
        if expected > k and rng.random() < expected - k:
            k += 1
        k = min(max(k, 1), lam)
        idx = rng.choice(lam, size=k, replace=False)
        xp, dev = get_xp(X)
        again = xp.take(X, xp.asarray(idx.tolist(), dtype=xp.int64, device=dev), axis=0)
        if self.epsilon:  # step 3: move by epsilon times the step of another candidate
            other = (idx + rng.integers(1, lam, size=k)) % lam
            steps = xp.take(X, xp.asarray(other.tolist(), dtype=xp.int64, device=dev), axis=0)
            again = again + self.epsilon * (steps - inner.mean)
        X_ext = xp.concat([X, again])
        return X_ext, replace(state, inner=inner, lam=lam, idx=tuple(int(i) for i in idx))

    def tell(
        self, state: UncertaintyHandlingState, X: Array, values: Array
    ) -> UncertaintyHandlingState:
        if state.idx is None or state.lam is None or X.shape[0] != state.lam + len(state.idx):
            raise ValueError("`tell` needs the population of the preceding `ask`.")
        lam, idx = state.lam, np.asarray(state.idx, dtype=np.intp)
        host = np.asarray(to_host(values), dtype=np.float64)
        s_t, ranked = rank_change_measure(host[:lam], host[lam:], idx, self.theta)
        inner = self.strategy.tell(state.inner, X[:lam, ...], asarray_like(ranked, values))
        s = (1 - self.cum) * state.s + self.cum * s_t
        factor = state.alpha if s > 0 else 1.0  # treatment: sigma <- alpha_sigma sigma
        if factor != 1.0:
            inner = replace(inner, sigma=inner.sigma * factor)
        return replace(
            state,
            inner=inner,
            s=s,
            lam=None,
            idx=None,
            s_history=(state.s_history + (s_t,))[-HISTORY_LENGTH:],
            factor_history=(state.factor_history + (factor,))[-HISTORY_LENGTH:],
            n_reevals=state.n_reevals + len(state.idx),
        )
