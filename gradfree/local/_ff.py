"""Forward-Forward: every layer learns to tell positive from negative data by its goodness.

G. Hinton, "The Forward-Forward Algorithm: Some Preliminary Investigations",
arXiv:2212.13345 (2022); section numbers below follow arXiv v3 (section 3.3 is "A simple
supervised example of FF").

- Goodness of layer ``l`` on one input: ``G_l = sum_j h_{l,j}^2``, the sum of squared
  (ReLU) activities. The probability that the input is positive is
  ``p = sigma(G_l - theta)`` (eq. 1), so each layer minimizes its own logistic loss
  ``softplus(-(G_pos - theta)) + softplus(G_neg - theta)``.
- Supervised FF (section 3.3): the label is part of the input. Positive data are
  ``[x, s * onehot(y)]`` with the correct label, negative data ``[x, s * onehot(y')]``
  with a wrong label ``y'``. Hinton writes the one-hot label over the first 10 pixels
  of the (black) MNIST border; here it is concatenated to ``x`` instead (the digits images
  have no empty border to overwrite), so the first layer sees ``d + k`` inputs. ``y'``
  is drawn uniformly from the ``k - 1`` wrong labels with the ``rng`` of the mini-batch
  (the paper also describes "hard" negative labels picked by the network; not done here).
- Layer normalization (section 2.1): the input of layer ``l + 1`` is the activity vector of
  layer ``l`` divided by its root mean square (its length over ``sqrt(d_l)``, Hinton's
  normalization), so the direction of the activity vector is passed on and its length,
  the goodness, is not: the next layer cannot solve its task by reading the goodness of
  the one below.
- Prediction (section 3.3): run the network once per candidate label and pick the label
  with the highest goodness accumulated over all layers but the first (all layers when
  there is only one).

What is local: the update of layer ``l`` reads its own input ``u_{l-1}`` (the normalized
activity of the layer below, or ``[x, s * onehot]`` for the first layer), its own
pre-activation and activity, and whether the example is positive or negative. Nothing
crosses a layer: the input ``u_{l-1}`` is held fixed (treated as data, not differentiated
through), there is no output layer and no error signal from above. The update is the
single-layer gradient of that layer's own loss through its own activation, written by
hand: ``dL/dW_l = [u_{l-1}, 1]^T (dL/dG * 2 h_l * f'(a_l))``, with ``f'`` the derivative
of the layer's own activation (`gradfree.models.derivative`). All layers learn from the
same forward pass at once (the forward passes of positive and negative data are stacked
in one batch). The hidden updates are not estimates of any gradient of a classification loss, so
`alignment_angles` does not apply (``aligns = False``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._array import asarray_like, get_xp
from .._validate import check_positive
from ..estimators import check_X
from ..models import activate, derivative, with_ones
from ._estimator import LocalClassifier
from ._rule import Grads, LocalRule, LocalState, network_of

__all__ = ["FFClassifier", "ForwardForward"]

_EPS = 1e-12  # guards a dead layer (all activities zero), whose input stays zero


def _softplus(Z: Any) -> Any:
    """``log(1 + exp(z))`` without overflow."""
    xp, _ = get_xp(Z)
    return xp.maximum(Z, xp.zeros_like(Z)) + xp.log1p(xp.exp(-xp.abs(Z)))


def _sigmoid(Z: Any) -> Any:
    """Logistic function via tanh (no overflow)."""
    xp, _ = get_xp(Z)
    return 0.5 * xp.tanh(0.5 * Z) + 0.5


def _rms_normalize(H: Any) -> Any:
    """Rows of `H` divided by their root mean square (Hinton's layer normalization)."""
    xp, _ = get_xp(H)
    return H / (xp.sqrt(xp.mean(H * H, axis=1, keepdims=True)) + _EPS)


@dataclass(frozen=True)
class ForwardForward(LocalRule):
    """Forward-Forward (Hinton 2022): each layer separates positive from negative data.

    The network input is ``[x, label_scale * onehot(label)]`` and the layers are
    ``(d + k) -> hidden_1 -> ... -> hidden_L`` with no output layer. Per mini-batch the
    positive rows carry the true label and the negative rows a wrong label drawn
    uniformly at random from ``rng``. Layer ``l`` computes ``a_l = [u_{l-1}, 1] W_l``,
    ``h_l = f(a_l)`` and its goodness ``G_l = sum_j h_{l,j}^2``; its loss is
    ``mean softplus(-(G_pos - threshold)) + mean softplus(G_neg - threshold)`` (eq. 1),
    and its update is the hand-written gradient of that loss with respect to ``W_l``
    through its own activation only; the input ``u_{l-1} = h_{l-1} / rms(h_{l-1})`` (the
    normalized activity of the layer below) is held fixed. No signal passes between
    layers, and no derivative but the layer's own ``f'(a_l)`` is taken.

    `decision_function` returns, for every candidate label, the goodness summed over all
    layers but the first (section 3.3; all layers when there is one); the prediction is
    the label with the largest. `objective` is the FF loss summed over layers on the
    training set, with the expectation over the random wrong label taken exactly (the
    mean over all ``k - 1`` wrong labels), i.e. the expected value of what the mini-batch
    updates descend. Both cost one forward pass per class (``k`` times a plain pass; the
    first layer's input part is shared), and `fit` evaluates `objective` every epoch.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
    activation : {'relu', 'tanh', 'sigmoid'}, default='relu'
        Hidden activation; the paper uses ReLU.
    batch_size : int, default=64
        Rows of positive data per mini-batch (as many negative rows are added).
    learning_rate : float, default=1e-2
        Adam step size (ten times the other rules' default: tuned on digits).
    threshold : float, default=100.0
        ``theta`` of eq. (1), in units of goodness (the sum of squares over a layer);
        about the width of the layer works well (with inputs of unit RMS, a freshly
        initialized ReLU layer has a goodness of the order of its width).
    label_scale : float, default=1.0
        Value of the active entry of the one-hot label in the input.

    Raises
    ------
    ValueError, TypeError
        For a non-positive or non-finite `threshold` or `label_scale` (and see
        `LocalRule`).

    References
    ----------
    Hinton, "The Forward-Forward Algorithm: Some Preliminary Investigations",
    arXiv:2212.13345 (2022), v3: eq. (1) (goodness and its logistic), section 2.1 (layer
    normalization), section 3.3 (label in the input, prediction by accumulated goodness).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(40, 3))
    >>> Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    >>> ff = ForwardForward(hidden_layer_sizes=(8, 6), threshold=8.0)
    >>> s0 = ff.init(X, Y, rng=0)
    >>> [W.shape for W in s0.layers]
    [(6, 8), (9, 6)]
    >>> s = s0
    >>> for _ in range(20):
    ...     s = ff.step(s, X, Y)
    >>> ff.objective(s, X, Y) < ff.objective(s0, X, Y), ff.decision_function(s, X).shape
    (True, (40, 2))
    """

    activation: str = "relu"
    learning_rate: float = 1e-2
    threshold: float = 100.0
    label_scale: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self.threshold, "threshold")
        check_positive(self.label_scale, "label_scale")

    linear_output: ClassVar[bool] = False

    def layer_sizes(self, d: int, k: int) -> tuple[int, ...]:
        """``(d + k, *hidden_layer_sizes)``: the label enters with the input; no output layer."""
        return (d + k, *self.hidden_layer_sizes)

    # -- the rule -------------------------------------------------------------------------

    def _embed(self, X: Any, Y: Any) -> Any:
        """``[X, label_scale * Y]``: the label written into the input."""
        xp, _ = get_xp(X, Y)
        return xp.concat([X, self.label_scale * Y], axis=1)

    def _forward(self, layers: tuple[Any, ...], U: Any) -> tuple[list, list, list]:
        """Inputs ``u_{l-1}``, pre-activations ``a_l`` and activities ``h_l`` of every layer:
        the layer view of the network (`gradfree.models.MLP`), each layer fed the
        normalized activity of the one below."""
        net = network_of(layers, self.activation, linear_output=False)
        inputs: list[Any] = []
        pre: list[Any] = []
        acts: list[Any] = []
        for i, W in enumerate(layers):
            if i > 0:
                U = _rms_normalize(acts[-1])  # section 2.1: pass the direction only
            inputs.append(U)
            pre.append(net.preactivation(i, W, U))
            acts.append(net.activate(i, pre[-1]))
        return inputs, pre, acts

    def local_grads(self, state: LocalState, X: Any, Y: Any, rng: np.random.Generator) -> Grads:
        """Each layer's own FF-loss gradient on the stacked positive and negative batch."""
        xp, dev = get_xp(X, Y)
        n, k = Y.shape
        offset = asarray_like(rng.integers(1, k, size=n), Y, dtype=xp.int64)
        wrong = (xp.argmax(Y, axis=1) + offset) % k  # uniform over the k - 1 wrong labels
        Y_neg = xp.astype(wrong[:, None] == xp.arange(k, dtype=xp.int64, device=dev), Y.dtype)
        U = xp.concat([self._embed(X, Y), self._embed(X, Y_neg)], axis=0)
        ones = xp.ones((n,), dtype=X.dtype, device=dev)
        sign = xp.concat([ones, -ones])  # +1: positive row, -1: negative row
        inputs, pre, acts = self._forward(state.layers, U)
        grads = []
        for U_in, A, H in zip(inputs, pre, acts):
            G = xp.sum(H * H, axis=1)
            # eq. (1): loss softplus(-sign (G - theta)); its derivative in G, per pair of rows
            dG = -sign * _sigmoid(-sign * (G - self.threshold)) / n
            delta = dG[:, None] * 2.0 * H * derivative(self.activation, A)
            grads.append(with_ones(U_in).T @ delta)  # U_in held fixed: no chain below
        return grads, []

    # -- prediction and objective ---------------------------------------------------------

    def _goodness(self, state: LocalState, X: Any) -> list[Any]:
        """Goodness ``(n, k)`` of every layer for every candidate label.

        The first layer's pre-activation is ``[x, 1] W_x + label_scale * W_y[c]``, so
        ``[x, 1] W_x`` is computed once and the k label rows are added by broadcasting.
        Rows go in blocks of at most ``2**22`` activities per layer (k copies of a block).
        """
        xp, _ = get_xp(X)
        (n, d), k = X.shape, state.dims[1]
        net = network_of(state.layers, self.activation, linear_output=False)
        W0 = state.layers[0]
        if d + k + 1 != W0.shape[0]:
            raise ValueError(
                f"`X` has {d} features; the network was built for {W0.shape[0] - k - 1}."
            )
        block = max(1, 2**22 // (k * max(W.shape[1] for W in state.layers)))
        label_rows = self.label_scale * W0[d : d + k, :][:, None, :]  # (k, 1, h)
        parts: list[list[Any]] = [[] for _ in state.layers]
        for start in range(0, n, block):
            Xb = X[start : min(start + block, n), :]
            b = Xb.shape[0]
            A = (Xb @ W0[:d, :] + W0[d + k :, :])[None, :, :] + label_rows  # (k, b, h)
            H = activate(self.activation, xp.reshape(A, (k * b, W0.shape[1])))
            for i, W in enumerate(state.layers):
                if i > 0:
                    H = net.activate(i, net.preactivation(i, W, _rms_normalize(H)))
                parts[i].append(xp.reshape(xp.sum(H * H, axis=1), (k, b)).T)
        return [xp.concat(p, axis=0) if len(p) > 1 else p[0] for p in parts]

    def decision_function(self, state: LocalState, X: Any) -> Any:
        """Goodness ``(n, k)`` of each label, summed over all layers but the first (3.3)."""
        goodness = self._goodness(state, check_X(X))
        total = goodness[1] if len(goodness) > 1 else goodness[0]
        for G in goodness[2:]:
            total = total + G
        return total

    def objective(self, state: LocalState, X: Any, Y: Any) -> float:
        """Training FF loss summed over layers, averaged exactly over the wrong labels."""
        xp, _ = get_xp(X)
        n, k = Y.shape
        total = 0.0
        for G in self._goodness(state, X):
            pos = _softplus(-(G - self.threshold)) * Y
            neg = _softplus(G - self.threshold) * (1.0 - Y) / (k - 1)
            total += float(xp.sum(pos + neg)) / n
        return total


class FFClassifier(LocalClassifier, rule=ForwardForward):
    """Scikit-learn-style classifier trained by Forward-Forward (Hinton 2022).

    Parameters are the fields of `ForwardForward`, plus ``max_iter`` (epochs, default 20)
    and ``rng``. `decision_function` gives the accumulated goodness of each class.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(80, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = FFClassifier((32, 32), learning_rate=0.01, max_iter=30, rng=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """
