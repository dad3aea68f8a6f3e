"""Spectral learning of hidden Markov models with observable operators.

Hsu, Kakade & Zhang, "A spectral algorithm for learning hidden Markov models", JCSS
78(5):1460-1480, 2012 (COLT 2009). For an HMM with ``m`` hidden states, ``n >= m``
symbols, initial distribution ``pi``, transitions ``T[i, j] = Pr[h' = i | h = j]`` and
emissions ``O[x, j] = Pr[x | h = j]`` (``O`` and ``T`` of rank ``m``), the low-order
moments of the first three observations

* ``P1[i] = Pr[x1 = i]``, ``P21[i, j] = Pr[x2 = i, x1 = j]``,
* ``P3x1[i, j] = Pr[x3 = i, x2 = x, x1 = j]`` for each symbol ``x``

determine the *observable operators* (their Sec. 3, Algorithm "LearnHMM", eqs. (1)-(3)):
with ``U`` the top ``m`` left singular vectors of ``P21``,

* ``b1 = U^T P1``, ``b_inf = (P21^T U)^+ P1``, ``B_x = (U^T P3x1) (U^T P21)^+``,

and ``Pr[x1, ..., xt] = b_inf^T B_xt ... B_x1 b1`` (their Lemma 3). Nothing is fitted by
EM or gradients: counting, one SVD and two pseudo-inverses. Estimated probabilities can
be negative for rare sequences; they are clipped (see `SpectralHMM`). Host (NumPy) only.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils.validation import check_array, check_is_fitted

from .._array import to_host
from .._validate import GradfreeWarning, check_int, check_positive
from ..estimators import CONTINUOUS_DATA_CHECKS

__all__ = ["SpectralHMM"]


def _as_sequences(X: Any, name: str, n_symbols: int | None, min_length: int) -> list[np.ndarray]:
    """`X` (2-d array or list of 1-d sequences) as a list of int64 arrays, checked."""
    if hasattr(X, "__array_namespace__"):
        X = to_host(X)
    if not isinstance(X, (list, tuple)):  # one array of equal-length sequences
        X = check_array(X, dtype=None, ensure_2d=False, input_name=name)  # scikit-learn's
        X = np.atleast_2d(X)
    rows = list(X)
    if not rows:
        raise ValueError(f"`{name}` must hold at least one sequence.")
    out = []
    for r in rows:
        a = np.asarray(r)
        if a.ndim != 1:
            raise ValueError(f"`{name}` must hold 1-d sequences; got one of shape {a.shape}.")
        if a.dtype.kind == "f":
            if not np.isfinite(a).all():
                raise ValueError(f"`{name}` must be finite (no NaN or inf).")
            if a.size and a.min() < 0:
                raise ValueError(f"Negative values in data passed to `{name}`: {a.min()}.")
            if (a != np.round(a)).any():
                raise ValueError(f"`{name}` must hold integer symbols.")
        elif a.size and a.dtype.kind not in "iub":
            raise ValueError(f"`{name}` must hold integer symbols; got dtype {a.dtype}.")
        a = a.astype(np.int64)
        if a.size < min_length:
            raise ValueError(
                f"`{name}`: every sequence needs >= {min_length} symbols; got {a.size}."
            )
        if a.size and a.min() < 0:
            raise ValueError(f"Negative values in data passed to `{name}`: {a.min()}.")
        if n_symbols is not None and a.size and a.max() >= n_symbols:
            raise ValueError(
                f"`{name}` must hold symbols < n_symbols = {n_symbols}; found {a.max()}."
            )
        out.append(a)
    return out


class SpectralHMM(DensityMixin, BaseEstimator):
    """Hidden Markov model learned by the spectral method of Hsu, Kakade & Zhang (2012).

    Estimates ``P1``, ``P21`` and ``P3x1`` from the first three symbols of each
    sequence and forms the observable operators ``b1``, ``b_inf``, ``B_x`` (HKZ 2012,
    Sec. 3, eqs. (1)-(3)); sequence probabilities are ``b_inf^T B_xt ... B_x1 b1``
    (Lemma 3). The parameters ``T`` and ``O`` themselves are not recovered.

    Parameters
    ----------
    n_states : int, default=2
        ``m``, the number of hidden states (``m <= n_symbols``).
    n_symbols : int or None, default=None
        Alphabet size ``n``; None takes ``max(X) + 1`` at `fit`.
    min_prob : float, default=1e-12
        Estimated probabilities below this (including negative ones, which finite
        samples produce for rare sequences) are clipped to it, with a `GradfreeWarning`.
    rng : None, int, SeedSequence or Generator, default=None
        Unused (the estimator is deterministic); kept for the package's estimator API.

    Attributes
    ----------
    b1_ : ndarray of shape (m,)
    b_inf_ : ndarray of shape (m,)
    B_ : ndarray of shape (n, m, m)
        ``B_[x]`` is the operator ``B_x``.
    U_ : ndarray of shape (n, m)
    P1_, P21_ : ndarray
        The empirical moments.
    n_symbols_ : int

    References
    ----------
    D. Hsu, S. M. Kakade, T. Zhang. A spectral algorithm for learning hidden Markov
    models. J. Comput. Syst. Sci. 78(5):1460-1480, 2012, Sec. 3, Lemma 3, Thm. 6.

    Examples
    --------
    >>> from gradfree.tensor._hmm import _forward_probability, _sample_hmm
    >>> pi = np.asarray([0.6, 0.4])
    >>> T = np.asarray([[0.8, 0.3], [0.2, 0.7]])                  # columns: from-state
    >>> E = np.asarray([[0.7, 0.1], [0.2, 0.3], [0.1, 0.6]])      # E[x, state] = O
    >>> X = _sample_hmm(pi, T, E, 100000, 3, rng=0)
    >>> hmm = SpectralHMM(2).fit(X)
    >>> p_hat = hmm.sequence_probability([0, 0, 2])
    >>> p = _forward_probability(pi, T, E, [0, 0, 2])
    >>> bool(abs(p_hat - p) / p < 0.1)
    True
    """

    _expected_failed_checks: ClassVar[dict[str, str]] = dict.fromkeys(
        CONTINUOUS_DATA_CHECKS,
        "the data are sequences of discrete symbols: these scikit-learn checks fit on "
        "continuous values, which a symbol model rejects (ValueError: `X` must hold "
        "integer symbols)",
    )
    """scikit-learn checks that cannot pass, and why (`parametrize_with_checks`)."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags

    def __init__(
        self,
        n_states: int = 2,
        *,
        n_symbols: int | None = None,
        min_prob: float = 1e-12,
        rng: Any = None,
    ) -> None:
        self.n_states = n_states
        self.n_symbols = n_symbols
        self.min_prob = min_prob
        self.rng = rng

    def fit(self, X: Any, y: Any = None) -> SpectralHMM:
        """Estimate the observable operators from sequences `X`.

        Parameters
        ----------
        X : array of shape (n_seq, length) or list of 1-d int sequences
            Symbols in ``0 .. n_symbols - 1``; each sequence needs 3 symbols or more
            (only the first three are used, as in HKZ 2012).

        Raises
        ------
        ValueError
            For bad symbols or sequences, or ``n_states > n_symbols``.
        """
        del y
        m = check_int(self.n_states, "n_states", low=1)
        n_sym = None if self.n_symbols is None else check_int(self.n_symbols, "n_symbols", low=1)
        check_positive(self.min_prob, "min_prob")
        seqs = _as_sequences(X, "X", n_sym, 3)
        triples = np.stack([s[:3] for s in seqs])
        n = int(triples.max()) + 1 if n_sym is None else n_sym
        if m > n:
            raise ValueError(f"`n_states` must be <= n_symbols = {n}; got {m}.")
        N = triples.shape[0]
        x1, x2, x3 = triples.T
        P1 = np.bincount(x1, minlength=n) / N
        P21 = np.bincount(x2 * n + x1, minlength=n * n).reshape(n, n) / N  # [x2, x1]
        P3 = np.bincount((x2 * n + x3) * n + x1, minlength=n**3).reshape(n, n, n) / N
        U = np.linalg.svd(P21)[0][:, :m]  # top-m left singular vectors
        UP21_pinv = np.linalg.pinv(U.T @ P21)  # (U^T P21)^+, shape (n, m)
        self.B_ = np.einsum("ai,xij,jb->xab", U.T, P3, UP21_pinv)  # eq. (3), P3[x] = P3x1
        self.b1_ = U.T @ P1  # eq. (1)
        self.b_inf_ = np.linalg.pinv(P21.T @ U) @ P1  # eq. (2)
        self.U_, self.P1_, self.P21_ = U, P1, P21
        self.n_symbols_ = n
        return self

    def _raw_probabilities(self, X: Any) -> np.ndarray:
        """Unclipped estimates ``b_inf^T B_xt ... B_x1 b1`` of each sequence."""
        check_is_fitted(self, "B_")
        seqs = _as_sequences(X, "X", self.n_symbols_, 0)
        out = np.empty(len(seqs))
        for i, s in enumerate(seqs):
            v = self.b1_
            for x in s:
                v = self.B_[x] @ v
            out[i] = self.b_inf_ @ v
        return out

    def _clip(self, p: np.ndarray) -> np.ndarray:
        """Probabilities floored at `min_prob`, warning when any was below."""
        low = p < self.min_prob
        if low.any():
            warnings.warn(
                f"SpectralHMM: {int(low.sum())} estimated sequence probabilities were below "
                f"min_prob = {self.min_prob:g} (smallest {p.min():.3g}) and were clipped to "
                "it; spectral estimates of rare sequences can be negative.",
                GradfreeWarning,
                stacklevel=3,
            )
        return np.maximum(p, self.min_prob)

    def sequence_probability(self, seq: Any) -> float:
        """Estimated ``Pr[x1, ..., xt]`` of one sequence (HKZ 2012, Lemma 3).

        Parameters
        ----------
        seq : 1-d sequence of int
            Symbols in ``0 .. n_symbols_ - 1`` (the empty sequence has probability ~1).

        Returns
        -------
        float
            At least `min_prob`; a `GradfreeWarning` says when it was clipped.

        Raises
        ------
        ValueError
            For symbols outside the alphabet or a non-1-d `seq`.
        """
        a = np.asarray(seq)
        if a.ndim != 1:
            raise ValueError(f"`seq` must be 1-d; got shape {a.shape}.")
        try:
            p = self._raw_probabilities([a])
        except ValueError as err:
            raise ValueError(str(err).replace("`X`", "`seq`", 1)) from None
        return float(self._clip(p)[0])

    def score_samples(self, X: Any) -> np.ndarray:
        """Log of the (clipped) estimated probability of each sequence of `X`."""
        return np.log(self._clip(self._raw_probabilities(X)))

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-probability of the sequences of `X` (scikit-learn's ``score``)."""
        del y
        return float(self.score_samples(X).mean())


def _sample_hmm(
    pi: np.ndarray, T: np.ndarray, E: np.ndarray, n_seq: int, length: int, *, rng: Any
) -> np.ndarray:
    """Sample ``(n_seq, length)`` symbols from an HMM (T, E column-stochastic)."""
    g = np.random.default_rng(rng)

    def draw(P: np.ndarray) -> np.ndarray:  # one draw per column of P
        cdf = np.cumsum(P, axis=0)
        return np.minimum((g.random(P.shape[1]) > cdf).sum(axis=0), P.shape[0] - 1)

    h = draw(np.repeat(np.asarray(pi)[:, None], n_seq, axis=1))
    X = np.empty((n_seq, length), dtype=np.int64)
    for t in range(length):
        X[:, t] = draw(E[:, h])
        h = draw(T[:, h])
    return X


def _forward_probability(pi: np.ndarray, T: np.ndarray, E: np.ndarray, seq: Any) -> float:
    """Exact ``Pr[seq]`` of an HMM by the forward algorithm."""
    alpha = np.asarray(pi, dtype=np.float64)
    for x in seq:
        alpha = T @ (E[x] * alpha)
    return float(alpha.sum())
