"""Topic models learned by the method of moments: single-topic model and LDA.

Anandkumar, Ge, Hsu, Kakade, Telgarsky (AGHKT), "Tensor decompositions for learning
latent variable models", JMLR 15, 2014. Words ``x1, x2, x3`` of a document are
exchangeable one-hot vectors; with topic-word distributions ``mu_j`` (columns on the
simplex):

* single-topic model (Thm. 3.1): ``M2 = E[x1 (x) x2] = sum_j w_j mu_j mu_j^T`` and
  ``M3 = E[x1 (x) x2 (x) x3] = sum_j w_j mu_j^(x)3``;
* LDA with Dirichlet(``alpha``), ``alpha0 = sum_j alpha_j`` (Thm. 3.5):
  ``M2 = E[x1 (x) x2] - alpha0/(alpha0+1) M1 (x) M1
  = sum_j alpha_j / ((alpha0+1) alpha0) mu_j mu_j^T``,
  ``M3 = E[x1 (x) x2 (x) x3] - alpha0/(alpha0+2) sym(E[x1 (x) x2] (x) M1)
  + 2 alpha0^2/((alpha0+1)(alpha0+2)) M1^(x)3
  = sum_j 2 alpha_j / ((alpha0+2)(alpha0+1) alpha0) mu_j^(x)3``.

The word moments are estimated from a document's counts ``c`` (length ``l``) without
bias by counting ordered triples of *distinct* word positions (AGHKT Sec. 3.1; Zou et al.
2013): ``E[x1 (x) x2] <- (c c^T - diag(c)) / (l (l-1))`` and
``E[x1 (x) x2 (x) x3] <- (c^(x)3 - sym(diag(c) (x) c) + 2 diag3(c)) / (l (l-1)(l-2))``.
Only the whitened ``k^3`` tensor ``M3(W, W, W)`` is ever formed: with ``y = W^T c``
and ``w_i`` the rows of ``W`` it is ``y^(x)3 - sym(W^T diag(c) W (x) y)
+ 2 sum_i c_i w_i^(x)3``. Then: robust tensor power method (Algorithm 1) and
``mu_j = lambda_j B v_j`` (Thm. 4.3). The computation runs on the host (NumPy).
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from .._array import to_host
from .._random import check_rng
from .._validate import GradfreeWarning, check_int, check_positive
from ..estimators import CONTINUOUS_DATA_CHECKS, check_n_features
from ._moments import whiten
from ._power import robust_power_method

__all__ = ["LDA", "SingleTopicModel", "check_counts"]

_CLIP_WARN = 0.01  # warn when more than 1 % of a topic's absolute mass was negative


def check_counts(X: Any, name: str = "X", *, min_length: int = 3) -> np.ndarray:
    """Validate a document-word count matrix and return it as float64 NumPy.

    Parameters
    ----------
    X : array of shape (n_docs, vocab)
        Non-negative integer counts; each document needs `min_length` words or more.
    name : str, default="X"
        Argument name used in error messages.
    min_length : int, default=3
        Fewest words per document (3 for the third-order moment).

    Returns
    -------
    counts : ndarray of shape (n_docs, vocab)

    Raises
    ------
    ValueError
        For non-2-d, empty, sparse, non-finite (scikit-learn's `check_array` and its
        messages), negative or non-integer counts, or too short documents.

    Examples
    --------
    >>> check_counts([[1, 2, 0], [0, 0, 3]]).shape
    (2, 3)
    >>> check_counts([[1, -2, 4]])
    Traceback (most recent call last):
    ...
    ValueError: Negative values in data passed to `X`: counts; found -2.0.
    """
    X = to_host(X) if hasattr(X, "__array_namespace__") else X
    X = check_array(X, dtype=np.float64, input_name=name)  # scikit-learn's checks and messages
    if (X < 0).any():
        raise ValueError(f"Negative values in data passed to `{name}`: counts; found {X.min()}.")
    if (X != np.round(X)).any():
        raise ValueError(f"`{name}` must hold integer counts.")
    lengths = X.sum(axis=1)
    if (lengths < min_length).any():
        raise ValueError(
            f"`{name}`: every document needs >= {min_length} words; the shortest has "
            f"{int(lengths.min())}."
        )
    return X


def _word_moments(C: np.ndarray, W: np.ndarray | None = None) -> tuple[Any, ...]:
    """Unbiased ``M1``, ``E[x1 x2]`` and (given ``W``) whitened ``E[x1 x2 x3]``."""
    n = C.shape[0]
    length = C.sum(axis=1)
    M1 = (C / length[:, None]).mean(axis=0)
    s2 = 1.0 / (length * (length - 1))
    E2 = ((C * s2[:, None]).T @ C - np.diag(s2 @ C)) / n
    if W is None:
        return M1, E2
    s3 = 1.0 / (length * (length - 1) * (length - 2))
    Y = C @ W  # y_d = W^T c_d
    T = np.einsum("d,da,db,dc->abc", s3, Y, Y, Y)
    G = (C * s3[:, None]).T @ Y  # G[i, c] = sum_d s_d c_di y_dc
    P = np.einsum("ia,ib,ic->abc", W, W, G)  # sum_d s_d (W^T diag(c_d) W) (x) y_d
    T -= P + P.transpose(0, 2, 1) + P.transpose(2, 0, 1)
    T += 2 * np.einsum("i,ia,ib,ic->abc", s3 @ C, W, W, W)
    return M1, E2, T / n


def _sym_outer(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``A (x) v + `` its two other placements (A symmetric)."""
    P = A[:, :, None] * v[None, None, :]
    return P + P.transpose(0, 2, 1) + P.transpose(2, 0, 1)


def _to_simplex(mu: np.ndarray, owner: str) -> np.ndarray:
    """Columns clipped at 0 and renormalized; warns when > 1 % of a column's mass was."""
    mu = mu * np.where(mu.sum(axis=0) < 0, -1.0, 1.0)[None, :]
    neg = -np.minimum(mu, 0).sum(axis=0) / np.abs(mu).sum(axis=0)
    if (neg > _CLIP_WARN).any():
        warnings.warn(
            f"{owner}: negative entries in the estimated topics (up to {neg.max():.2%} of "
            "a column's mass) were clipped to 0 and the columns renormalized; more documents "
            "would help.",
            GradfreeWarning,
            stacklevel=3,
        )
    mu = np.maximum(mu, 0)
    total = mu.sum(axis=0)
    total[total == 0] = 1.0
    return mu / total[None, :]


_COUNT_DATA_CHECKS = (
    *CONTINUOUS_DATA_CHECKS,
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
)


class _MomentTopicModel(TransformerMixin, DensityMixin, BaseEstimator, ABC):
    """Shared fit / transform of the moment topic models."""

    _name = "topic model"

    _expected_failed_checks: ClassVar[dict[str, str]] = dict.fromkeys(
        _COUNT_DATA_CHECKS,
        "the data are word counts: these scikit-learn checks fit on continuous values, "
        "which a count model rejects (ValueError: `X` must hold integer counts)",
    )
    """scikit-learn checks that cannot pass, and why (`parametrize_with_checks`)."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags

    @abstractmethod
    def _moments(self, C: np.ndarray, k: int) -> tuple[Any, ...]:
        """Implemented by each subclass."""

    def fit(self, X: Any, y: Any = None) -> Any:
        """Estimate the topics from the counts `X` (n_docs, vocab).

        Raises
        ------
        ValueError
            For bad counts, ``n_topics > vocab`` or a second moment of rank below
            ``n_topics``.
        """
        del y
        C = check_counts(X)
        check_n_features(self, C, reset=True)
        k = check_int(self.n_topics, "n_topics", low=1)
        if k > C.shape[1]:
            raise ValueError(f"`n_topics` must be <= vocab = {C.shape[1]}; got {k}.")
        rng = check_rng(self.rng)
        M2, W, B, T, scale = self._moments(C, k)
        lam, V = robust_power_method(T, k, n_restarts=self.n_restarts, n_iter=self.n_iter, rng=rng)
        lam = np.asarray(lam)
        mu = (B @ np.asarray(V)) * lam[None, :]  # mu_j = lambda_j B v_j (AGHKT Thm. 4.3)
        w = 1.0 / (lam * lam)
        order = np.argsort(-w)
        self.topics_ = _to_simplex(mu[:, order], type(self).__name__)
        self._set_weights(w[order] * scale)
        return self

    def _check_fitted_counts(self, X: Any) -> np.ndarray:
        """Counts `X` (documents of any length) checked against the fitted model."""
        check_is_fitted(self, "topics_")
        C = check_counts(X, min_length=1)
        check_n_features(self, C, reset=False)
        return C

    @abstractmethod
    def _set_weights(self, w: np.ndarray) -> None:
        """Store the component weights in the model's own terms (``weights_``, ``alpha_``)."""

    def transform(self, X: Any) -> np.ndarray:
        """Topic proportions per document: non-negative least squares of the word
        frequencies on `topics_`, renormalized to the simplex. Shape (n_docs, k)."""
        from scipy.optimize import nnls

        C = self._check_fitted_counts(X)
        F = C / C.sum(axis=1, keepdims=True)
        theta = np.stack([nnls(self.topics_, f)[0] for f in F])
        total = theta.sum(axis=1, keepdims=True)
        return np.where(total > 0, theta / np.where(total > 0, total, 1.0), 1.0 / theta.shape[1])


class SingleTopicModel(_MomentTopicModel):
    """Single-topic (mixture of unigrams) model fitted by the method of moments.

    Each document draws one topic ``h ~ w`` and then all its words i.i.d. from
    ``mu_h``. ``M2 = E[x1 (x) x2]`` and ``M3 = E[x1 (x) x2 (x) x3]`` (AGHKT 2014,
    Thm. 3.1) are estimated without bias from the counts, whitened, decomposed by the
    robust tensor power method (Algorithm 1) and un-whitened (Thm. 4.3).

    Parameters
    ----------
    n_topics : int, default=2
        ``k <= vocab``; the topics must be linearly independent.
    n_restarts : int, default=10
        Random restarts per component of the power method.
    n_iter : int, default=100
        Maximum power updates per phase.
    rng : None, int, SeedSequence or Generator, default=None
        Source of the power method's random starts.

    Attributes
    ----------
    topics_ : ndarray of shape (vocab, k)
        Topic-word distributions, columns on the simplex, by decreasing weight. Negative
        estimates are clipped to 0 and the columns renormalized; a `GradfreeWarning` is
        raised when the clipped mass exceeds 1 % of a column's absolute mass.
    weights_ : ndarray of shape (k,)
        Topic probabilities ``w_j``, summing to one.
    n_features_in_ : int

    References
    ----------
    AGHKT, JMLR 15:2773-2832, 2014, Thm. 3.1, Algorithm 1, Thm. 4.3, 5.1.

    Examples
    --------
    >>> g = np.random.default_rng(0)
    >>> mu = np.asarray([[0.6, 0.3, 0.1, 0.0], [0.0, 0.1, 0.3, 0.6]]).T
    >>> h = g.choice(2, size=20000, p=[0.3, 0.7])
    >>> X = g.multinomial(10, mu.T[h])
    >>> model = SingleTopicModel(2, rng=0).fit(X)
    >>> np.round(model.weights_, 1), bool(np.abs(model.topics_[:, ::-1] - mu).max() < 0.02)
    (array([0.7, 0.3]), True)
    >>> np.round(model.transform([[5, 5, 0, 0]]), 2)
    array([[0., 1.]])
    """

    def __init__(
        self, n_topics: int = 2, *, n_restarts: int = 10, n_iter: int = 100, rng: Any = None
    ) -> None:
        self.n_topics, self.n_restarts, self.n_iter, self.rng = n_topics, n_restarts, n_iter, rng

    def _moments(self, C: np.ndarray, k: int) -> tuple[Any, ...]:
        _, M2 = _word_moments(C)
        M2 = (M2 + M2.T) / 2
        W, B = whiten(M2, k)
        _, _, T = _word_moments(C, W)
        return M2, W, B, T, 1.0

    def _set_weights(self, w: np.ndarray) -> None:
        self.weights_ = w / w.sum()

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood ``log p(c_d)`` of each document under the fitted mixture
        (multinomial coefficient included; topic probabilities floored at 1e-12)."""
        from scipy.special import gammaln, logsumexp

        C = self._check_fitted_counts(X)
        log_mu = np.log(np.maximum(self.topics_, 1e-12))
        coef = gammaln(C.sum(axis=1) + 1) - gammaln(C + 1).sum(axis=1)
        joint = C @ log_mu + np.log(np.maximum(self.weights_, 1e-300))[None, :]
        return coef + logsumexp(joint, axis=1)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean per-document log-likelihood (scikit-learn's ``score``)."""
        del y
        return float(self.score_samples(X).mean())


class LDA(_MomentTopicModel):
    """Latent Dirichlet allocation with known ``alpha0``, fitted by the method of moments.

    Documents draw topic proportions ``theta ~ Dirichlet(alpha)`` with
    ``sum_j alpha_j = alpha0`` and each word from ``sum_j theta_j mu_j``. The corrected
    moments of AGHKT 2014, Thm. 3.5 give ``M2 = sum_j c_j mu_j mu_j^T`` and
    ``M3 = (2/(alpha0+2)) sum_j c_j mu_j^(x)3`` with ``c_j = alpha_j/((alpha0+1) alpha0)``;
    ``(alpha0+2)/2 M3`` is whitened and decomposed (Algorithm 1, Thm. 4.3), so
    ``alpha_j = alpha0 (alpha0+1) / lambda_j^2``. As ``alpha0 -> 0`` this is the
    single-topic model.

    Parameters
    ----------
    n_topics : int, default=2
        ``k <= vocab``; the topics must be linearly independent.
    alpha0 : float, default=1.0
        Concentration ``sum_j alpha_j > 0`` (assumed known, as in the paper).
    n_restarts, n_iter, rng
        As in `SingleTopicModel`.

    Attributes
    ----------
    topics_ : ndarray of shape (vocab, k)
        Topic-word distributions, columns on the simplex (by decreasing ``alpha_j``).
    alpha_ : ndarray of shape (k,)
        Estimated Dirichlet parameters (not forced to sum to `alpha0`).
    weights_ : ndarray of shape (k,)
        ``alpha_ / alpha_.sum()``, the expected topic proportions.
    n_features_in_ : int

    References
    ----------
    AGHKT, JMLR 15:2773-2832, 2014, Thm. 3.5, Algorithm 1, Thm. 4.3. A. Anandkumar,
    D. P. Foster, D. Hsu, S. M. Kakade, Y.-K. Liu. A spectral algorithm for latent
    Dirichlet allocation. NeurIPS 2012.

    Examples
    --------
    >>> g = np.random.default_rng(0)
    >>> mu = np.asarray([[0.5, 0.4, 0.1, 0.0, 0.0], [0.0, 0.0, 0.1, 0.4, 0.5]]).T
    >>> theta = g.dirichlet([0.2, 0.3], size=20000)
    >>> X = g.multinomial(20, theta @ mu.T)
    >>> model = LDA(2, alpha0=0.5, rng=0).fit(X)
    >>> np.round(model.alpha_, 1), bool(np.abs(model.topics_[:, ::-1] - mu).max() < 0.03)
    (array([0.3, 0.2]), True)
    """

    _name = "LDA"

    def __init__(
        self,
        n_topics: int = 2,
        alpha0: float = 1.0,
        *,
        n_restarts: int = 10,
        n_iter: int = 100,
        rng: Any = None,
    ) -> None:
        self.n_topics, self.alpha0 = n_topics, alpha0
        self.n_restarts, self.n_iter, self.rng = n_restarts, n_iter, rng

    def _moments(self, C: np.ndarray, k: int) -> tuple[Any, ...]:
        a0 = check_positive(self.alpha0, "alpha0")
        M1, E2 = _word_moments(C)
        M2 = E2 - a0 / (a0 + 1) * np.outer(M1, M1)  # Thm. 3.5, M2
        M2 = (M2 + M2.T) / 2
        W, B = whiten(M2, k)
        _, _, T = _word_moments(C, W)
        m = W.T @ M1
        T = (
            T
            - a0 / (a0 + 2) * _sym_outer(W.T @ E2 @ W, m)
            + 2 * a0 * a0 / ((a0 + 1) * (a0 + 2)) * np.einsum("a,b,c->abc", m, m, m)
        )  # Thm. 3.5, M3(W, W, W)
        return M2, W, B, T * (a0 + 2) / 2, a0 * (a0 + 1)

    def _set_weights(self, w: np.ndarray) -> None:
        self.alpha_ = w
        self.weights_ = w / w.sum()
