"""NN-LIFT: a two-layer network learned by score-function moments, with no gradient.

Janzamin, Sedghi & Anandkumar, "Beating the perils of non-convexity: guaranteed training
of neural networks using tensor methods", arXiv:1506.08473 (2015), Algorithm 1. For
``y = a2^T sigma(A1^T x + b1) + b2 + noise`` and inputs with a known density, Stein's
identity with the third-order score function ``S3`` gives (their cross-moment lemma)

    E[y S3(x)] = sum_j lambda_j A1_j (x) A1_j (x) A1_j,   lambda_j = a2_j E[sigma'''(z_j)],

so a symmetric CP decomposition of the cross-moment recovers the columns of ``A1`` up to
sign and scale. Steps, as implemented here:

1. **Score function.** For ``x ~ N(mu, Sigma)`` the score is the Hermite form
   ``S3(x) = u^(x)3 - sym(u (x) Sigma^-1)`` with ``u = Sigma^-1 (x - mu)`` (Janzamin,
   Sedghi & Anandkumar, "Score function features", arXiv:1412.2863: Gaussian scores are
   the multivariate Hermite polynomials).
   We standardize ``z = Sigma^-1/2 (x - mu)`` (estimated mean and covariance) and use
   ``S3(z) = z^(x)3 - sym(z (x) I)``; the ``z``-space tensor is the ``x``-space one
   contracted with ``Sigma^1/2`` on every mode, so ``A1_j ~ Sigma^-1/2 a_j``. Other
   known densities enter as a user-supplied ``S3``.
2. **Projection, then CP of a k x k x k core** (a robust variant of their whitening):
   the top-``k`` left singular subspace ``U`` of the mode-1
   unfolding ``[T(I, I, theta_1), ..., T(I, I, theta_p)]`` is streamed over chunks, the
   core ``T(U, U, U)`` too; multi-start CP-ALS on the core, map back ``a_j = U v_j``.
   The paper's random-slice whitening ``M = T(I, I, theta)`` is exact only when all
   ``lambda_j <A1_j, theta>`` share a sign, so it is not used.
3. **Bias and scale.** The paper's Fourier method (Procedure 2) needs importance
   weights ``1 / p(x)``, which explode for Gaussian (unbounded) inputs. We use a
   gradient-free substitute instead, and say so: with unit directions fixed, each
   neuron's scale and bias ``(s_j, b_j)`` in ``sigma(s_j t_j + b_j)`` is chosen by a
   coarse-to-fine grid search of the least-squares fit (other neurons held, ``a2`` and
   ``b2`` profiled out in closed form), cycled over the neurons (backfitting).
4. **Ridge regression** for ``(a2, b2)`` on ``sigma(A1^T x + b1)`` (Procedure 3).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from array_api_compat import is_array_api_obj
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .._array import asarray_like, get_xp, to_host
from .._random import check_rng
from .._typing import Array
from .._validate import check_choice, check_int, check_nonnegative
from ..estimators import validate_X, validate_Xy
from ..models import MLP
from ._cp_als import cp_als
from ._moments import DEFAULT_CHUNK, second_moment
from ._nnlift_parts import (
    _ACTIVATIONS,
    _activation,
    _batched_sketches,
    _core,
    _fit_scale_bias,
    _symmetric_factor,
    _user_moment,
    _warn_gaussianity,
    _warn_visibility,
    gaussian_score3,
)

__all__ = ["NNLIFTRegressor", "gaussian_score3"]


class NNLIFTRegressor(RegressorMixin, BaseEstimator):
    """Two-layer network ``y = a2^T sigma(A1^T x + b1) + b2`` learned by NN-LIFT.

    No gradient of the network is taken: one streamed cross-moment ``E[y S3(x)]``, a CP
    decomposition of its projected ``k x k x k`` core (first-layer directions), a grid
    least-squares fit of each neuron's scale and bias, and ridge regression for the
    output layer (Janzamin, Sedghi & Anandkumar 2015, Algorithm 1; see the module
    docstring for the one departure, the bias step).

    Parameters
    ----------
    n_hidden : int, default=2
        ``k``, the number of hidden units; ``1 <= k <= d``.
    activation : {"tanh", "sigmoid", "relu"} or callable, default="tanh"
        ``sigma``; a callable maps an array elementwise (NumPy on the host for the bias
        step, the namespace of `X` in `predict`).
    density : {"gaussian", "custom"}, default="gaussian"
        Input density. ``"gaussian"``: ``N(mu, Sigma)`` with the sample mean and
        covariance, built-in streamed Hermite score. ``"custom"``: `score_function` is
        required.
    score_function : callable, optional
        ``score(X_chunk) -> (c, d, d, d)`` array, the third-order score ``S3`` of the
        known input density at each row (template: `gaussian_score3`). Used only with
        ``density="custom"``; memory ``chunk_size * d^3``.
    n_sketches : int, optional
        Number ``p`` of slices ``T(I, I, theta_r)`` that span the column space of the
        moment; default ``d`` orthonormal ``theta_r``, i.e. the full mode-1 unfolding.
    n_starts : int, default=8
        CP-ALS starts on the core (one SVD start, the rest Gaussian).
    alpha : float, default=1e-6
        Ridge penalty on ``a2`` (relative to ``n``).
    n_bias_samples : int, default=10000
        Rows (drawn by `rng`) used by the bias/scale grid search.
    n_sweeps : int, default=2
        Backfitting sweeps over the neurons in the bias/scale step.
    visibility_ratio : float, default=2.0
        A `GradfreeWarning` is raised when one of the top ``k`` singular values of the
        moment unfolding is below ``visibility_ratio`` times its noise floor: the
        spectral norm of the sampling error, estimated from the spread of the moment over
        16 batches of rows as ``rms(standard error) * (sqrt(d) + sqrt(p d))``; some
        neuron has ``lambda_j ~ 0``, or too few samples to see it. With a user `score_function`,
        the floor is the ``(k+1)``-th singular value.
    check_gaussian : bool, default=True
        With ``density="gaussian"``, warn when the standardized inputs are clearly not
        Gaussian (excess kurtosis or skewness along the axes or ``d`` random directions,
        drawn from `rng`, far beyond sampling error).
    chunk_size : int, default=4096
        Rows per chunk of the moment passes.
    rng : None, int, SeedSequence or Generator, default=None
        Source of the sketch directions, CP starts, Gaussianity directions and the
        bias-step subsample.

    Attributes
    ----------
    model_ : gradfree.models.MLP or None
        The fitted network ``(d, k, 1)`` (None for a callable `activation`); any method of
        the package can fine-tune it from ``params_`` (see `to_mlp`).
    params_ : array of shape (p,) or None
        Its flat parameter vector: ``model_.forward(params_, X)[:, 0]`` is `predict`.
    A1_ : array of shape (d, k)
        First-layer weights (with their fitted scale).
    b1_, a2_ : arrays of shape (k,)
    b2_ : float
    directions_ : array of shape (d, k)
        Unit-norm columns of ``A1`` from the tensor step (up to sign).
    weights_ : array of shape (k,)
        CP weights of the standardized moment core (``lambda_j`` up to sign and scale).
    singular_values_ : array of shape (min(d, p d),)
        Singular values of the moment unfolding (visibility diagnostics).
    noise_floor_ : float or None
        The estimated noise floor of the singular values (None with `score_function`).
    fit_times_ : dict
        Seconds spent in ``"moments"`` (standardizing, Gaussianity check, streamed
        moment passes), ``"decomposition"`` (CP of the core) and ``"total"``.
    n_features_in_ : int

    Raises
    ------
    ValueError
        In `fit`: ``n_hidden > d``, ``density="custom"`` without `score_function`, bad
        shapes, a singular input covariance.

    Warns
    -----
    GradfreeWarning
        Invisible neurons (``lambda_j ~ 0``); non-Gaussian inputs under
        ``density="gaussian"``.

    References
    ----------
    M. Janzamin, H. Sedghi, A. Anandkumar. Beating the perils of non-convexity:
    guaranteed training of neural networks using tensor methods. arXiv:1506.08473, 2015,
    Algorithm 1, Procedures 2-3. M. Janzamin, H. Sedghi, A. Anandkumar. Score function
    features for discriminative learning. arXiv:1412.2863, 2014.

    Examples
    --------
    >>> g = np.random.default_rng(0)
    >>> A1 = np.linalg.qr(g.standard_normal((4, 2)))[0]
    >>> X = g.standard_normal((50000, 4))
    >>> y = np.tanh(X @ A1 + [0.5, -0.3]) @ [1.0, -2.0] + 0.05 * g.standard_normal(50000)
    >>> net = NNLIFTRegressor(2, rng=0).fit(X, y)
    >>> from gradfree.tensor import recovery_error
    >>> bool(recovery_error(A1, net.A1_).max < 0.1), net.score(X, y) > 0.95
    (True, True)
    """

    _expected_failed_checks: ClassVar[dict[str, str]] = {
        "check_regressors_train": "its targets are linear in X, and a linear target has "
        "E[y S3(x)] = 0: the third-order moment NN-LIFT decomposes vanishes (Janzamin et "
        "al. 2015 need lambda_j = a2_j E[sigma'''(z_j)] != 0), so no neuron is visible",
    }
    """scikit-learn checks that cannot pass, and why (`parametrize_with_checks`)."""

    def __init__(
        self,
        n_hidden: int = 2,
        activation: str | Callable = "tanh",
        *,
        density: str = "gaussian",
        score_function: Callable | None = None,
        n_sketches: int | None = None,
        n_starts: int = 8,
        alpha: float = 1e-6,
        n_bias_samples: int = 10000,
        n_sweeps: int = 2,
        visibility_ratio: float = 2.0,
        check_gaussian: bool = True,
        chunk_size: int = DEFAULT_CHUNK,
        rng: Any = None,
    ) -> None:
        self.n_hidden = n_hidden
        self.activation = activation
        self.density = density
        self.score_function = score_function
        self.n_sketches = n_sketches
        self.n_starts = n_starts
        self.alpha = alpha
        self.n_bias_samples = n_bias_samples
        self.n_sweeps = n_sweeps
        self.visibility_ratio = visibility_ratio
        self.check_gaussian = check_gaussian
        self.chunk_size = chunk_size
        self.rng = rng

    def _check_params(self, d: int) -> int:
        """Validate hyperparameters against the input dimension; return ``k``."""
        k = check_int(self.n_hidden, "n_hidden", low=1)
        if k > d:
            raise ValueError(
                f"`n_hidden` must be <= n_features = {d}: NN-LIFT recovers at most d "
                f"linearly independent first-layer directions; got {k}."
            )
        if not callable(self.activation):
            check_choice(self.activation, "activation", _ACTIVATIONS)
        check_choice(self.density, "density", ("gaussian", "custom"))
        if self.density == "custom" and self.score_function is None:
            raise ValueError(
                '`density="custom"` needs `score_function`, the third-order score function '
                "of the input density (NN-LIFT has no moment identity without it)."
            )
        if self.score_function is not None and not callable(self.score_function):
            raise TypeError(
                "`score_function` must be callable: X_chunk (c, d) -> S3 (c, d, d, d)."
            )
        if self.n_sketches is not None:
            check_int(self.n_sketches, "n_sketches", low=1)
        check_int(self.n_starts, "n_starts", low=1)
        check_nonnegative(self.alpha, "alpha")
        check_int(self.n_bias_samples, "n_bias_samples", low=10)
        check_int(self.n_sweeps, "n_sweeps", low=1)
        check_nonnegative(self.visibility_ratio, "visibility_ratio")
        check_int(self.chunk_size, "chunk_size", low=1)
        return k

    def fit(self, X: Array, y: Array) -> NNLIFTRegressor:
        """Learn ``(A1, b1, a2, b2)`` from samples `X` (n, d) and targets `y` (n,).

        Raises
        ------
        ValueError
            See the class docstring.
        """
        X, y = validate_Xy(self, X, y, classifier=False)
        xp, _ = get_xp(X)
        n, d = X.shape
        yv = asarray_like(np.asarray(y, dtype=np.float64), X)
        k = self._check_params(d)
        if n < 2:
            raise ValueError(f"NN-LIFT needs n_samples >= 2 for moments; got n_samples = {n}.")
        rng = check_rng(self.rng)
        tic = time.perf_counter()
        chunk = self.chunk_size
        w = yv - xp.mean(yv)  # E[S3] = 0: centering y only removes variance
        if self.density == "gaussian":
            mu = xp.mean(X, axis=0)
            cov = to_host(second_moment(X, center=True, chunk_size=chunk))
            evals, evecs = np.linalg.eigh(cov)
            if not evals[0] > 1e-10 * max(evals[-1], 1e-300):
                raise ValueError(
                    f"the covariance of `X` is singular (eigenvalues {evals[0]:.3g} .. "
                    f"{evals[-1]:.3g}); drop constant or collinear columns."
                )
            R = asarray_like((evecs / np.sqrt(evals)) @ evecs.T, X)  # Sigma^-1/2
            Z = (X - mu[None, :]) @ R
            if self.check_gaussian:
                _warn_gaussianity(to_host(Z[: min(n, 200000), :]), rng)
            p = d if self.n_sketches is None else self.n_sketches
            Theta = np.eye(d) if self.n_sketches is None else rng.standard_normal((d, p))
            Kh, m, floor = _batched_sketches(Z, w, asarray_like(Theta, X), chunk)
            Uall, sv, _ = np.linalg.svd(Kh, full_matrices=False)
            U = Uall[:, :k]
            G = to_host(_core(Z, w, asarray_like(U, X), m, chunk))
            back = to_host(R)  # a_x ~ Sigma^-1/2 a_z
        else:
            assert self.score_function is not None  # checked with `density` above
            T = to_host(_user_moment(X, w, self.score_function, chunk))
            Uall, sv, _ = np.linalg.svd(T.reshape(d, d * d), full_matrices=False)
            U = Uall[:, :k]
            G = np.einsum("abc,ai,bj,cl->ijl", T, U, U, U)
            floor = None
            back = np.eye(d)
            mu = xp.mean(X, axis=0)
        self.singular_values_ = sv
        times = {"moments": time.perf_counter() - tic}
        self.noise_floor_ = floor
        _warn_visibility(sv, k, floor, self.visibility_ratio)
        weights, factors, _ = cp_als(G, k, n_starts=self.n_starts, rng=rng)
        V = _symmetric_factor(factors)
        D = back @ (U @ V)
        D = D / np.linalg.norm(D, axis=0)
        times["decomposition"] = time.perf_counter() - tic - times["moments"]
        # Bias and scale (substitute for the Fourier method, see module docstring).
        Xh = to_host(X)
        rows = rng.choice(n, size=min(n, self.n_bias_samples), replace=False)
        mu_h = to_host(mu)
        Tp = (Xh[rows] - mu_h) @ D
        sd = Tp.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        sigma_h = _activation(self.activation, np)
        s, b = _fit_scale_bias(Tp / sd, to_host(yv)[rows], sigma_h, self.n_sweeps)
        A1 = D * (s / sd)[None, :]
        b1 = b - mu_h @ A1
        self.directions_ = asarray_like(D, X)
        self.weights_ = asarray_like(to_host(weights), X)
        self.A1_ = asarray_like(A1, X)
        self.b1_ = asarray_like(b1, X)
        self._ridge(X, yv)
        self.model_: MLP | None = None
        self.params_: Array | None = None
        if not callable(self.activation):
            self.model_, self.params_ = self.to_mlp()
        times["total"] = time.perf_counter() - tic
        self.fit_times_ = times
        return self

    def _features(self, X: Array) -> Array:
        """Hidden activations ``sigma(A1^T x + b1)`` of shape (n, k)."""
        xp, _ = get_xp(X)
        return _activation(self.activation, xp)(X @ self.A1_ + self.b1_[None, :])

    def _ridge(self, X: Array, y: Array) -> None:
        """Ridge regression for ``(a2, b2)`` (Janzamin et al. 2015, Procedure 3)."""
        H = to_host(self._features(X))
        yh = to_host(y)
        hm, ym = H.mean(axis=0), yh.mean()
        Hc = H - hm
        k = H.shape[1]
        A = Hc.T @ Hc + self.alpha * H.shape[0] * np.eye(k)
        a2 = np.linalg.lstsq(A, Hc.T @ (yh - ym), rcond=None)[0]
        self.a2_ = asarray_like(a2, X)
        self.b2_ = float(ym - hm @ a2)

    def predict(self, X: Array) -> Array:
        """Network output ``a2^T sigma(A1^T x + b1) + b2`` for each row of `X` (in the
        namespace and on the device of `X`): the forward pass of ``model_``."""
        check_is_fitted(self, "a2_")
        X = validate_X(self, X, reset=False)
        if self.model_ is None:
            return self._features(X) @ self.a2_ + self.b2_
        params = asarray_like(self.params_, X)
        return self.model_.forward(params, X)[:, 0]

    def to_mlp(self) -> tuple[MLP, Array]:
        """The fitted network as a `gradfree.models.MLP` and its flat parameter vector.

        ``model.forward(params, X)[:, 0]`` equals ``predict(X)``; the network can then be
        refined by any method of the package (e.g. CMA-ES or EKI on
        `gradfree.models.objective`). Needs a named activation.

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((20000, 3))
        >>> y = np.tanh(X @ np.array([1.0, -1.0, 0.5]) + 0.3)
        >>> est = NNLIFTRegressor(1, rng=0).fit(X, y)
        >>> model, params = est.to_mlp()
        >>> bool(np.allclose(model.forward(params, X[:5])[:, 0], est.predict(X[:5])))
        True
        """
        check_is_fitted(self, "a2_")
        if callable(self.activation):
            raise ValueError("`to_mlp` needs a named `activation`, not a callable.")
        xp, _ = get_xp(self.A1_)
        d, k = self.A1_.shape
        hidden = xp.concat([self.A1_, xp.reshape(self.b1_, (1, k))], axis=0)
        b2 = xp.full((1, 1), self.b2_, dtype=self.A1_.dtype, device=self.A1_.device)
        output = xp.concat([xp.reshape(self.a2_, (k, 1)), b2], axis=0)
        model = MLP((d, k, 1), activations=[self.activation, "identity"])
        return model, model.flatten([hidden, output])

    def score(self, X: Array, y: Array, sample_weight: Any = None) -> float:
        """Coefficient of determination R^2 of `predict` on ``(X, y)`` (scikit-learn's)."""
        from sklearn.metrics import r2_score

        pred = to_host(self.predict(X))
        yh = np.asarray(to_host(y) if is_array_api_obj(y) else y, dtype=np.float64)
        return float(r2_score(yh, pred, sample_weight=sample_weight))
