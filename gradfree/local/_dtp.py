"""Difference target propagation: each layer regresses onto a target set by learned inverses.

D.-H. Lee, S. Zhang, A. Fischer and Y. Bengio, "Difference Target Propagation",
ECML/PKDD 2015 (arXiv:1412.7525).

- Top target, a small step of the output against the loss gradient (sec. 3.1):
  ``t_L = a_L - eta_hat * e`` with ``a_L`` the logits and ``e = softmax(a_L) - y``, the
  cross-entropy derivative at the logits.
- Difference correction, eq. (15): ``t_{l-1} = h_{l-1} + g_l(t_l) - g_l(h_l)``, with
  ``g_l(h) = f([h, 1] V_l)`` a learned approximate inverse of layer ``l``, one for every
  layer above the first hidden one (the output layer included; ``h_L`` means ``a_L``).
- Inverse loss, eq. (13) / Algorithm 1: ``||g_l(f_l(h_{l-1} + eps)) - (h_{l-1} + eps)||^2``
  with ``eps ~ N(0, noise^2)``, so ``g_l`` learns to undo ``f_l`` near the data.
- Layer loss, eq. (12) / Algorithm 1: ``||f_l(h_{l-1}) - t_l||^2`` with the input
  ``h_{l-1}`` held fixed. Its gradient ``[h_{l-1}, 1]^T ((h_l - t_l) * f'(a_l))`` is a
  single-layer derivative, written here by hand; it takes ``f'(a_l)``, the derivative of
  the layer's own activation. The output layer descends the cross-entropy gradient of its
  own weights, ``[h_{L-1}, 1]^T e`` (Algorithm 1 trains the top layer on the loss).

What is local: a hidden layer's update reads its input ``h_{l-1}``, its own ``a_l`` and
``f'(a_l)``, and its target ``t_l``. The target travels down layer by layer through the
inverses ``g`` (a separate, learned feedback pathway); no forward weight of another layer,
no derivative of another layer and no backward chain of Jacobians reaches a layer. An
inverse's update reads only the two adjacent activations and the forward map of its own
layer applied to a noisy input (one extra forward pass of that layer). The top target
needs ``e``, the loss derivative at the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._array import asarray_like, get_xp
from .._validate import check_nonnegative, check_positive
from ..models import activate, derivative, with_ones
from ._estimator import LocalClassifier
from ._rule import Grads, LocalRule, LocalState, cross_entropy_sum, layer_grad, softmax

__all__ = ["DTPClassifier", "DifferenceTargetPropagation"]


@dataclass(frozen=True)
class DifferenceTargetPropagation(LocalRule):
    """Difference target propagation (Lee et al. 2015): targets passed down learned inverses.

    Per mini-batch: the top target ``t_L = a_L - target_lr * e`` (a step of the logits
    against the cross-entropy gradient); hidden targets by the difference correction
    ``t_{l-1} = h_{l-1} + g_l(t_l) - g_l(h_l)`` (eq. 15), with ``g_l(h) = f([h, 1] V_l)``;
    each hidden layer descends ``||f_l(h_{l-1}) - t_l||^2`` in its own weights with its
    input fixed (the gradient ``[h_{l-1}, 1]^T ((h_l - t_l) * f'(a_l))``, a single-layer
    derivative written by hand, which needs ``f'`` of the layer's own activation); the
    output layer descends the cross-entropy gradient of its own weights; each inverse
    ``V_l`` descends the noisy reconstruction loss of eq. (13). All arrays take one Adam
    step from the same state.

    A hidden layer reads its input, its own pre-activation and its target, nothing of the
    other layers' weights or derivatives; the target reaches it through the learned
    inverses. With exact inverses and a small ``target_lr``, ``h_l - t_l`` is
    ``target_lr`` times the output error mapped down by the inverses' Jacobians, which is
    why the hidden updates point roughly along the loss gradient (``aligns``).

    Parameters
    ----------
    hidden_layer_sizes, activation, batch_size, learning_rate
        See `LocalRule`.
    target_lr : float, default=0.5
        ``eta_hat``: step of the top target against the loss gradient at the logits.
    noise : float, default=0.3
        Standard deviation ``sigma`` of the Gaussian corruption of ``h_{l-1}`` when the
        inverse ``g_l`` is trained (eq. 13); 0 trains a plain reconstruction.

    Attributes
    ----------
    aux of the state : tuple of arrays
        The inverses ``V_2, ..., V_L``, ``V_l`` of shape ``(d_l + 1, d_{l-1})`` with the
        bias as last row: it maps the output of layer ``l`` back to its input.

    Raises
    ------
    ValueError, TypeError
        For a `target_lr` that is not finite and > 0 or a `noise` that is not finite and
        >= 0 (plus the checks of `LocalRule`).

    References
    ----------
    Lee, Zhang, Fischer and Bengio, "Difference Target Propagation", ECML/PKDD 2015
    (arXiv:1412.7525), eqs. (12), (13), (15) and Algorithm 1.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(30, 4))
    >>> Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    >>> dtp = DifferenceTargetPropagation(hidden_layer_sizes=(6, 5))
    >>> s = dtp.step(dtp.init(X, Y, rng=0), X, Y)
    >>> [V.shape for V in s.aux], s.t
    ([(6, 6), (3, 5)], 1)
    """

    target_lr: float = 0.5
    noise: float = 0.3

    aligns: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self.target_lr, "target_lr")
        check_nonnegative(self.noise, "noise")

    def init_extra(
        self, sizes: tuple[int, ...], like: Any, rng: np.random.Generator
    ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """One trained inverse ``V_l`` ``(d_l + 1, d_{l-1})`` per layer above the first."""
        xp, dev = get_xp(like)
        aux = []
        for i in range(1, len(sizes) - 1):
            d_out, d_in = sizes[i + 1], sizes[i]  # layer i + 1 maps d_in -> d_out
            std = math.sqrt(2.0 / (d_in + d_out))
            V = asarray_like(std * rng.standard_normal((d_out, d_in)), like)
            aux.append(xp.concat([V, xp.zeros((1, d_in), dtype=like.dtype, device=dev)]))
        return tuple(aux), ()

    def _inverse(self, V: Any, H: Any) -> tuple[Any, Any]:
        """``g(h) = f([h, 1] V)`` and its pre-activation."""
        B = with_ones(H) @ V
        return activate(self.activation, B), B

    def local_grads(self, state: LocalState, X: Any, Y: Any, rng: np.random.Generator) -> Grads:
        """Targets down the inverses (eq. 15), layer and inverse losses (eqs. 12, 13)."""
        layers, n_layers, n = state.layers, len(state.layers), X.shape[0]
        A, H = self.forward_cache(layers, X)
        e = softmax(A[-1]) - Y
        grads: list[Any] = [None] * n_layers
        grads[-1] = layer_grad(H[-1], e / n)  # the output layer: its own CE gradient
        above, target = A[-1], A[-1] - self.target_lr * e  # top target, sec. 3.1
        for i in range(n_layers - 1, 0, -1):  # the inverse state.aux[i - 1] undoes layers[i]
            V = state.aux[i - 1]
            target = H[i] + self._inverse(V, target)[0] - self._inverse(V, above)[0]  # eq. (15)
            delta = (H[i] - target) * derivative(self.activation, A[i - 1]) / n
            grads[i - 1] = layer_grad(H[i - 1], delta)  # eq. (12), input H[i - 1] fixed
            above = H[i]
        aux_grads = []
        for i in range(1, n_layers):
            H_noisy = H[i] + self.noise * asarray_like(rng.standard_normal(H[i].shape), H[i])
            Z = with_ones(H_noisy) @ layers[i]
            if i < n_layers - 1:
                Z = activate(self.activation, Z)
            R, B = self._inverse(state.aux[i - 1], Z)
            delta = (R - H_noisy) * derivative(self.activation, B) / n
            aux_grads.append(layer_grad(Z, delta))  # eq. (13)
        return grads, aux_grads, cross_entropy_sum(A[-1], Y)


class DTPClassifier(LocalClassifier, rule=DifferenceTargetPropagation):
    """Scikit-learn-style classifier trained by difference target propagation (Lee et al.).

    Parameters are the fields of `DifferenceTargetPropagation` (``target_lr``, ``noise``
    besides those of `LocalRule`), plus ``max_iter`` (epochs, default 20) and ``rng``.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(60, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = DTPClassifier((16, 16), learning_rate=0.01, max_iter=30, rng=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """
