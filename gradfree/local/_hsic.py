"""The HSIC bottleneck: each hidden layer maximizes its own kernel dependence on the labels.

W.-D. K. Ma, J. P. Lewis and W. B. Kleijn, "The HSIC Bottleneck: Deep Learning without
Back-Propagation", AAAI 2020 (arXiv:1908.01580). Equation numbers below follow the arXiv
version:

- eq. (4), the HSIC estimator on a mini-batch of ``m`` rows,
  ``HSIC(A, B) = (m - 1)^-2 tr(K_A H K_B H)`` with ``H = I - 1 1^T / m``;
- eq. (5), the Gaussian kernel ``k(a, b) = exp(-||a - b||^2 / (2 sigma^2))``; as in the
  authors' code the width is scaled by the dimension ``d`` of the variable, ``2 sigma^2 d``
  in the denominator, so that one `sigma` serves inputs, hidden layers and labels;
- eq. (6), the HSIC-bottleneck objective of hidden layer ``l``,
  ``min nHSIC(Z_l, X) - beta nHSIC(Z_l, Y)``;
- the normalized HSIC that the paper uses in practice (Section 3, after Fukumizu et al.,
  NIPS 2008, the normalized cross-covariance operator):
  ``nHSIC(A, B) = tr(R_A R_B)``, ``R_A = Kbar_A (Kbar_A + eps m I)^-1``, with
  ``Kbar_A = H K_A H`` the centered Gram matrix; the ``(m - 1)^-2`` of eq. (4) drops out.

What reaches hidden layer ``l`` on a mini-batch: its input ``Z_{l-1}`` (held fixed), its
own pre-activation ``a_l`` and output ``Z_l = f(a_l)``, and the Gram matrices of the
mini-batch inputs ``X`` and one-hot labels ``Y`` (or just ``R_X`` and ``R_Y``). The update
is the gradient of that layer's own objective with respect to its own weights ``W_l``: a
**single-layer gradient**, written by hand here. It chains through the Gaussian kernel
matrix of ``Z_l`` to ``Z_l`` and through ``f'(a_l)``, the derivative of the layer's own
activation, to ``W_l``; it never crosses into ``W_{l-1}`` or reads any other layer's
weights, derivatives or errors. It is not local across the samples of the batch: every
row's update reads the whole ``m x m`` Gram matrices and an ``m x m`` inverse.

The readout (output layer) is trained at the same time, on the mini-batch cross-entropy
from the last hidden layer, by its own gradient; nothing flows from it to the hidden
layers. The paper instead trains the hidden layers first and then appends a
"format" layer trained by SGD on the frozen network; training both at once changes the
readout's input as it learns, which Adam absorbs (see `HSICBottleneck`).

Other differences from the authors' code: it centers one-sided (``K H``), here ``H K H``
(symmetric, as in Fukumizu et al.); it updates the layers one after the other with SGD
(momentum 0.9, weight decay 1e-3), each after a fresh forward pass, here all layers take
one Adam step from one forward pass. Labels may also use a linear kernel (`y_kernel`).

Per layer and mini-batch, with ``c = eps m``, ``A_Z = Kbar_Z + c I`` and
``M = R_X - beta R_Y`` (eq. 6):

- ``dL/dKbar_Z = c A_Z^-1 M A_Z^-1``, since ``R_Z = I - c A_Z^-1``;
- ``G = dL/dK_Z = H (dL/dKbar_Z) H``;
- ``dL/dZ = -(2 / (sigma^2 d)) (diag(P 1) - P) Z`` with ``P = G * K_Z`` (eq. 5);
- ``dL/dW_l = [Z_{l-1}, 1]^T (dL/dZ * f'(a_l))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._array import get_xp
from .._validate import check_choice, check_positive
from ..estimators import check_Xy
from ..models import derivative
from ._estimator import LocalClassifier
from ._rule import Grads, LocalRule, LocalState, cross_entropy_sum, layer_grad, softmax

__all__ = ["HSICBottleneck", "HSICClassifier", "gaussian_gram", "nhsic"]


def gaussian_gram(Z: Any, sigma: float) -> Any:
    """Gaussian Gram matrix ``exp(-||z_i - z_j||^2 / (2 sigma^2 d))`` of the rows of `Z`.

    The width is scaled by the number of columns ``d`` of `Z` (eq. 5 with the authors'
    scaling), so one `sigma` serves variables of every dimension.

    Examples
    --------
    >>> gaussian_gram(np.asarray([[0.0], [1.0]]), 1.0).round(4)
    array([[1.    , 0.6065],
           [0.6065, 1.    ]])
    """
    xp, _ = get_xp(Z)
    sq = xp.sum(Z * Z, axis=1)
    D = sq[:, None] + sq[None, :] - 2.0 * (Z @ Z.T)
    D = xp.maximum(D, xp.zeros_like(D))  # rounding can make a distance slightly negative
    return xp.exp(-D / (2.0 * sigma**2 * Z.shape[1]))  # eq. (5)


def _center(K: Any) -> Any:
    """``H K H``: subtract the row and column means, add back the grand mean."""
    xp, _ = get_xp(K)
    return K - xp.mean(K, axis=0, keepdims=True) - xp.mean(K, axis=1, keepdims=True) + xp.mean(K)


def _normalized(K: Any, epsilon: float) -> tuple[Any, Any]:
    """``(R, A^-1)`` with ``A = H K H + eps m I`` and ``R = H K H A^-1 = I - eps m A^-1``."""
    xp, dev = get_xp(K)
    m = K.shape[0]
    eye = xp.eye(m, dtype=K.dtype, device=dev)
    Ainv = xp.linalg.inv(_center(K) + (epsilon * m) * eye)
    Ainv = 0.5 * (Ainv + Ainv.T)  # symmetric in exact arithmetic
    return eye - (epsilon * m) * Ainv, Ainv


def _label_factor(Y: Any, sigma: float, kernel: str) -> Any:
    """``B`` with ``H K_Y H = B B^T`` for one-hot `Y` (``m x k``, so ``R_Y`` costs a k x k solve).

    On one-hot rows the Gaussian kernel is ``a + (1 - a) [same class]`` with
    ``a = exp(-1 / (sigma^2 k))`` (eq. 5, ``||y_i - y_j||^2 = 2``), the linear kernel is
    ``[same class]``; the constant ``a`` vanishes under centering.
    """
    xp, _ = get_xp(Y)
    Yc = Y - xp.mean(Y, axis=0, keepdims=True)
    if kernel == "linear":
        return Yc
    return Yc * float(np.sqrt(-np.expm1(-1.0 / (sigma**2 * Y.shape[1]))))


def _normalized_factor(B: Any, epsilon: float) -> Any:
    """``R = B B^T (B B^T + eps m I)^-1 = B (B^T B + eps m I)^-1 B^T``, by push-through."""
    xp, dev = get_xp(B)
    c = epsilon * B.shape[0]
    eye = xp.eye(B.shape[1], dtype=B.dtype, device=dev)
    return B @ xp.linalg.solve(B.T @ B + c * eye, B.T)


def nhsic(K_a: Any, K_b: Any, epsilon: float = 1e-5) -> float:
    """Normalized HSIC ``tr(R_a R_b)`` of two ``m x m`` Gram matrices (Section 3 of the paper).

    ``R = Kbar (Kbar + eps m I)^-1`` with ``Kbar = H K H`` (Fukumizu et al. 2008). It lies
    between 0 and ``m - 1``; for a variable and itself it counts the kernel's effective
    dimensions, for independent variables it is small.

    Examples
    --------
    >>> Z = np.random.default_rng(0).normal(size=(30, 2))
    >>> K = gaussian_gram(Z, 1.0)
    >>> nhsic(K, K) > nhsic(K, gaussian_gram(Z[::-1], 1.0))
    True
    """
    xp, _ = get_xp(K_a, K_b)
    return float(xp.sum(_normalized(K_a, epsilon)[0] * _normalized(K_b, epsilon)[0]))


@dataclass(frozen=True)
class HSICBottleneck(LocalRule):
    """HSIC bottleneck (Ma, Lewis and Kleijn 2020): each hidden layer has its own objective.

    Hidden layer ``l`` descends ``nHSIC(Z_l, X) - beta nHSIC(Z_l, Y)`` (eq. 6) on each
    mini-batch, with Gaussian kernels (eq. 5) on the inputs ``X``, the layer outputs
    ``Z_l`` and the one-hot labels ``Y``. The direction is the gradient of that objective
    with respect to the layer's own weights ``W_l`` only, the input ``Z_{l-1}`` held fixed:
    a single-layer gradient, written by hand, that takes ``f'(a_l)``, the derivative of the
    layer's own activation, and nothing from any other layer. The readout is trained at the
    same time on the cross-entropy from the last hidden layer by its own gradient (the paper
    trains it afterwards, as a "format" layer on the frozen network); no error reaches the
    hidden layers. The hidden updates do not follow the gradient of the loss
    (``aligns = False``).

    Parameters
    ----------
    hidden_layer_sizes, activation, learning_rate
        See `LocalRule`.
    batch_size : int, default=128
        Rows per mini-batch ``m``; the kernels are ``m x m``, and each batch takes one
        ``m x m`` inverse for the inputs and one per hidden layer.
    beta : float, default=50.0
        Weight of the label term; the compression term ``nHSIC(Z_l, X)`` has weight 1
        (``lambda_y = 50`` in the authors' configuration).
    sigma : float, default=5.0
        Gaussian kernel width, scaled by ``sqrt(d)`` of each variable (the authors'
        default for MNIST is 5).
    epsilon : float, default=1e-5
        Ridge of the normalized HSIC, ``eps m I`` (the authors' value).
    y_kernel : {'gaussian', 'linear'}, default='gaussian'
        Kernel on the one-hot labels.

    References
    ----------
    Ma, Lewis and Kleijn, AAAI 2020 (arXiv:1908.01580), eqs. (4)-(6) and the normalized
    HSIC of Section 3; Fukumizu, Gretton, Sun and Schoelkopf, NIPS 2008.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(40, 3))
    >>> Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    >>> hb = HSICBottleneck(hidden_layer_sizes=(8,), batch_size=20, learning_rate=0.01)
    >>> s0 = hb.init(X, Y, rng=0)
    >>> s = s0
    >>> for _ in range(20):
    ...     s = hb.step(s, X, Y)
    >>> hb.hsic_terms(s, X, Y)[0][1] > hb.hsic_terms(s0, X, Y)[0][1]  # nHSIC(Z_1, Y) grew
    True
    """

    batch_size: int = 128
    beta: float = 50.0
    sigma: float = 5.0
    epsilon: float = 1e-5
    y_kernel: str = "gaussian"

    aligns: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self.beta, "beta")
        check_positive(self.sigma, "sigma")
        check_positive(self.epsilon, "epsilon")
        check_choice(self.y_kernel, "y_kernel", ("gaussian", "linear"))

    def _targets(self, X: Any, Y: Any) -> tuple[Any, Any]:
        """``(R_X, R_Y)``: the normalized Gram matrices of the batch inputs and labels."""
        R_X, _ = _normalized(gaussian_gram(X, self.sigma), self.epsilon)
        R_Y = _normalized_factor(_label_factor(Y, self.sigma, self.y_kernel), self.epsilon)
        return R_X, R_Y

    def layer_objective(self, Z: Any, R_X: Any, R_Y: Any) -> float:
        """``nHSIC(Z, X) - beta nHSIC(Z, Y)`` of one layer's outputs `Z` (eq. 6)."""
        xp, _ = get_xp(Z)
        R_Z, _ = _normalized(gaussian_gram(Z, self.sigma), self.epsilon)
        return float(xp.sum(R_Z * R_X) - self.beta * xp.sum(R_Z * R_Y))

    def output_grad(self, Z: Any, R_X: Any, R_Y: Any) -> Any:
        """Gradient of `layer_objective` with respect to the layer outputs `Z` (by hand)."""
        xp, _ = get_xp(Z)
        m, d = Z.shape
        K = gaussian_gram(Z, self.sigma)
        _, Ainv = _normalized(K, self.epsilon)
        M = R_X - self.beta * R_Y  # eq. (6), both terms linear in R_Z
        G = _center((self.epsilon * m) * (Ainv @ M @ Ainv))  # d/dK of tr(R_Z M)
        P = G * K  # chain through the Gaussian kernel, eq. (5)
        return (-2.0 / (self.sigma**2 * d)) * (xp.sum(P, axis=1)[:, None] * Z - P @ Z)

    def local_grads(self, state: LocalState, X: Any, Y: Any, rng: np.random.Generator) -> Grads:
        """Eq. (6) per hidden layer (single-layer gradients); cross-entropy for the readout."""
        A, H = self.forward_cache(state.layers, X)
        R_X, R_Y = self._targets(X, Y)
        grads: list[Any] = []
        for i in range(len(state.layers) - 1):  # H[i + 1] = f(A[i]) is the output of layer i
            delta = self.output_grad(H[i + 1], R_X, R_Y) * derivative(self.activation, A[i])
            grads.append(layer_grad(H[i], delta))  # H[i] is held fixed: no cross-layer signal
        e = (softmax(A[-1]) - Y) / X.shape[0]
        grads.append(layer_grad(H[-1], e))
        return grads, [], cross_entropy_sum(A[-1], Y)

    def hsic_terms(self, state: LocalState, X: Any, Y: Any) -> list[tuple[float, float]]:
        """``(nHSIC(Z_l, X), nHSIC(Z_l, Y))`` of every hidden layer on the batch ``(X, Y)``.

        Use a batch of the training size (``m`` rows): the kernels are ``m x m``.
        """
        X, Y = check_Xy(X, Y)
        xp, _ = get_xp(X)
        _, H = self.forward_cache(state.layers, X)
        R_X, R_Y = self._targets(X, Y)
        out = []
        for Z in H[1:]:
            R_Z, _ = _normalized(gaussian_gram(Z, self.sigma), self.epsilon)
            out.append((float(xp.sum(R_Z * R_X)), float(xp.sum(R_Z * R_Y))))
        return out


class HSICClassifier(LocalClassifier, rule=HSICBottleneck):
    """Scikit-learn-style classifier: HSIC-bottleneck hidden layers and a cross-entropy readout.

    Parameters are the fields of `HSICBottleneck`, plus ``max_iter`` (epochs) and ``rng``.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(60, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = HSICClassifier((16,), batch_size=30, learning_rate=0.01, max_iter=30, rng=0)
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    """
