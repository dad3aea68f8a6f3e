"""Shared parts of the local learning rules: activations with their own derivative, the
mini-batch loop, Adam on every trained array, and the backprop reference (the estimator
is in `_estimator`).

A rule is a frozen dataclass deriving from `LocalRule`. It says which arrays it trains
besides the network (`init_extra`) and, per mini-batch, what reaches each layer
(`local_grads`). Everything else (shuffling, seeding, Adam, the epoch loop, the result)
lives here, so each rule's module holds only the rule.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from .._array import asarray_like, get_xp
from .._random import check_rng
from .._validate import check_choice, check_int, check_positive
from ..altmin._common import check_Xy
from ..models import MLP
from ..updates import Adam

__all__ = [
    "LocalRule",
    "LocalState",
    "act",
    "act_grad",
    "alignment_angles",
    "backprop_grads",
    "cross_entropy",
    "forward_cache",
    "softmax",
]

_ACTIVATIONS = ("tanh", "relu", "sigmoid")

Grads = tuple[list[Any], list[Any]] | tuple[list[Any], list[Any], Any]
"""What `LocalRule.local_grads` returns: layer and aux directions, optionally the loss."""


def act(name: str, A: Any) -> Any:
    """Hidden activation `name` (``tanh``, ``relu`` or ``sigmoid``) applied entrywise."""
    xp, _ = get_xp(A)
    if name == "tanh":
        return xp.tanh(A)
    if name == "relu":
        return xp.maximum(A, xp.zeros_like(A))
    return 0.5 * xp.tanh(0.5 * A) + 0.5


def act_grad(name: str, A: Any) -> Any:
    """Derivative ``f'(a)`` of the layer's own activation at its pre-activation ``a``.

    This is the only derivative the feedback-alignment rules take: the one of the
    entrywise nonlinearity of the layer being updated.

    Examples
    --------
    >>> act_grad("relu", np.asarray([-1.0, 2.0]))
    array([0., 1.])
    """
    xp, _ = get_xp(A)
    if name == "tanh":
        return 1.0 - xp.tanh(A) ** 2
    if name == "relu":
        return xp.astype(A > 0, A.dtype)
    s = 0.5 * xp.tanh(0.5 * A) + 0.5
    return s * (1.0 - s)


def softmax(Z: Any) -> Any:
    """Row-wise softmax, shifted by the row maximum so that it never overflows."""
    xp, _ = get_xp(Z)
    E = xp.exp(Z - xp.max(Z, axis=1, keepdims=True))
    return E / xp.sum(E, axis=1, keepdims=True)


def cross_entropy_sum(Z: Any, Y: Any) -> Any:
    """Summed softmax cross-entropy of logits `Z` ``(n, k)`` against one-hot `Y`, a 0-d array.

    Examples
    --------
    >>> round(float(cross_entropy_sum(np.zeros((2, 2)), np.eye(2))), 6)  # 2 log 2
    1.386294
    """
    xp, _ = get_xp(Z)
    shifted = Z - xp.max(Z, axis=1, keepdims=True)
    logp = shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
    return -xp.sum(Y * logp)


def cross_entropy(Z: Any, Y: Any) -> float:
    """Mean softmax cross-entropy of logits `Z` ``(n, k)`` against one-hot `Y`.

    Examples
    --------
    >>> round(cross_entropy(np.zeros((2, 2)), np.eye(2)), 6)
    0.693147
    """
    return float(cross_entropy_sum(Z, Y)) / Z.shape[0]


def forward_cache(layers: tuple[Any, ...], X: Any, activation: str) -> tuple[list, list]:
    """Pre-activations ``a_l`` and activations ``h_l`` (``h_0 = X``; output ``a_L``, linear)."""
    A, H = [], [X]
    for i, W in enumerate(layers):
        A.append(H[-1] @ W[:-1, :] + W[-1:, :])  # [h, 1] W without building [h, 1]
        if i < len(layers) - 1:
            H.append(act(activation, A[-1]))
    return A, H


def layer_grad(H_in: Any, delta: Any) -> Any:
    """``[h, 1]^T delta``: the weight update of one layer from its input and its signal."""
    xp, _ = get_xp(H_in, delta)
    return xp.concat([H_in.T @ delta, xp.sum(delta, axis=0, keepdims=True)], axis=0)


def backprop_grads(layers: tuple[Any, ...], X: Any, Y: Any, activation: str) -> list[Any]:
    """Exact gradient of the mean cross-entropy by the chain rule (the backprop baseline).

    The reference against which the alignment of the local rules is measured.

    Examples
    --------
    >>> layers = tuple(MLP((3, 4, 2)).init_params(rng=0))
    >>> [g.shape for g in backprop_grads(layers, np.ones((5, 3)), np.eye(2)[[0] * 5], "tanh")]
    [(4, 4), (5, 2)]
    """
    return _backprop(layers, X, Y, activation)[0]


def _backprop(layers: tuple[Any, ...], X: Any, Y: Any, activation: str) -> tuple[list, Any]:
    """`backprop_grads` and the summed cross-entropy of the batch."""
    A, H = forward_cache(layers, X, activation)
    delta = (softmax(A[-1]) - Y) / X.shape[0]
    grads = [None] * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        grads[i] = layer_grad(H[i], delta)
        if i > 0:  # the global backward chain: W_l^T carries delta down a layer
            delta = (delta @ layers[i][:-1, :].T) * act_grad(activation, A[i - 1])
    return grads, cross_entropy_sum(A[-1], Y)


def _angle(u: Any, v: Any) -> float:
    xp, _ = get_xp(u, v)
    cos = float(xp.sum(u * v)) / max(
        float(xp.sqrt(xp.sum(u * u)) * xp.sqrt(xp.sum(v * v))), 1e-300
    )
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def alignment_angles(rule: LocalRule, state: LocalState, X: Any, Y: Any) -> list[float]:
    """Angle in degrees between each hidden layer's update and the backprop gradient.

    Below 90 degrees the rule's update is a descent direction of the true loss, which is
    the alignment effect of Lillicrap et al. (2016). Uses ``rule.local_grads`` on the
    batch ``(X, Y)``; rules that train the hidden layers on another objective (HSIC,
    Forward-Forward, NoProp) have no such direction and raise ``TypeError``.

    Examples
    --------
    >>> from gradfree.local import FeedbackAlignment
    >>> X = np.random.default_rng(0).normal(size=(20, 3))
    >>> Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    >>> fa = FeedbackAlignment(hidden_layer_sizes=(8,))
    >>> [0 <= a <= 180 for a in alignment_angles(fa, fa.init(X, Y, rng=0), X, Y)]
    [True]
    """
    if not rule.aligns:
        raise TypeError(f"{type(rule).__name__} does not follow the gradient of the loss.")
    X, Y = check_Xy(X, Y)
    grads = rule.local_grads(state, X, Y, np.random.default_rng(0))[0]
    true = backprop_grads(state.layers, X, Y, rule.activation)
    return [_angle(g, t) for g, t in zip(grads[:-1], true[:-1])]


@dataclass(frozen=True)
class LocalState:
    """Weights, optimizer moments and data of a local-rule run.

    Attributes
    ----------
    layers : tuple of arrays
        Network layers ``(d_{l-1} + 1, d_l)``, bias as last row (`gradfree.models.MLP`).
    aux : tuple of arrays
        Trained arrays of the rule besides the network (inverses, synthetic-gradient
        modules, class embeddings); empty for most rules.
    fixed : tuple of arrays
        Fixed arrays of the rule (random feedback matrices).
    opt : tuple of gradfree.updates.AdamState
        Adam moments, one per array of ``layers + aux``.
    X, Y : arrays
        Training inputs and one-hot targets for `LocalRule.step`.
    seed : int
        Seeds the shuffles and each mini-batch's draws, with the counters below.
    sweep : int
        Epochs done.
    t : int
        Mini-batch updates done.
    loss_sum : 0-d array or None
        Summed loss of the mini-batches seen so far in this epoch, for rules that report it.
    epoch_loss : 0-d array or None
        Its mean over the last complete epoch (see `LocalRule.objective`).
    """

    layers: tuple[Any, ...]
    aux: tuple[Any, ...]
    fixed: tuple[Any, ...]
    opt: tuple[Any, ...]
    X: Any
    Y: Any
    seed: int
    sweep: int = 0
    t: int = 0
    loss_sum: Any = None
    epoch_loss: Any = None


@dataclass(frozen=True)
class LocalRule(ABC):
    """Base of the local learning rules: a multilayer network trained by mini-batch Adam.

    Subclasses implement `local_grads` (what reaches each layer) and, where they train or
    fix arrays besides the network, `init_extra`; rules whose prediction is not the
    network output override `decision_function`.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
    activation : {'tanh', 'relu', 'sigmoid'}, default='tanh'
        Hidden activation; the output layer is linear (softmax cross-entropy).
    batch_size : int, default=64
    learning_rate : float, default=1e-3
        Adam step size for every trained array.

    Notes
    -----
    A rule whose model is not one MLP (NoProp's blocks) overrides `init` as a whole; the
    loop only needs ``state.layers`` + ``state.aux`` to match ``state.opt``.

    Examples
    --------
    A rule that trains only the output layer, on its own cross-entropy gradient:

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class LastLayer(LocalRule):
    ...     def local_grads(self, state, X, Y, rng):
    ...         A, H = forward_cache(state.layers, X, self.activation)
    ...         e = (softmax(A[-1]) - Y) / X.shape[0]
    ...         return [None] * (len(state.layers) - 1) + [layer_grad(H[-1], e)], []
    >>> X = np.random.default_rng(0).normal(size=(30, 3))
    >>> Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    >>> rule = LastLayer(hidden_layer_sizes=(5,), batch_size=10)
    >>> state = rule.step(rule.init(X, Y, rng=0))
    >>> state.sweep, state.t, [W.shape for W in state.layers]
    (1, 3, [(4, 5), (6, 2)])
    """

    hidden_layer_sizes: tuple[int, ...] = (100,)
    activation: str = "tanh"
    batch_size: int = 64
    learning_rate: float = 1e-3

    aligns: ClassVar[bool] = False
    """Whether the hidden updates estimate the loss gradient (see `alignment_angles`)."""

    def __post_init__(self) -> None:
        sizes = tuple(self.hidden_layer_sizes)
        if not sizes:
            raise ValueError("`hidden_layer_sizes` must name at least one hidden layer.")
        for h in sizes:
            check_int(h, "hidden_layer_sizes", low=1)
        object.__setattr__(self, "hidden_layer_sizes", sizes)
        check_choice(self.activation, "activation", _ACTIVATIONS)
        check_int(self.batch_size, "batch_size", low=1)
        check_positive(self.learning_rate, "learning_rate")

    # -- what a rule defines --------------------------------------------------------------

    def layer_sizes(self, d: int, k: int) -> tuple[int, ...]:
        """Widths of the network from input `d` to output `k`."""
        return (d, *self.hidden_layer_sizes, k)

    def init_extra(
        self, sizes: tuple[int, ...], like: Any, rng: np.random.Generator
    ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """``(aux, fixed)``: the rule's trained and fixed arrays besides the network."""
        return (), ()

    @abstractmethod
    def local_grads(self, state: LocalState, X: Any, Y: Any, rng: np.random.Generator) -> Grads:
        """Update directions ``(layer_grads, aux_grads)`` for one mini-batch (None: frozen).

        A rule may append a third item, the mini-batch's summed loss (a 0-d array) as
        computed on the way; `objective` then reports its epoch mean at no extra cost.
        """

    def decision_function(self, state: LocalState, X: Any) -> Any:
        """Class scores ``(n, k)``; the predicted class is the arg-max."""
        A, _ = forward_cache(state.layers, X, self.activation)
        return A[-1]

    # -- the shared loop ------------------------------------------------------------------

    @property
    def _adam(self) -> Adam:
        return Adam(learning_rate=float(self.learning_rate))

    def init(self, X: Any, Y: Any, *, rng: Any = None) -> LocalState:
        """Random initial weights, the rule's extra arrays and zero Adam moments."""
        X, Y = check_Xy(X, Y)
        rng = check_rng(rng)
        sizes = self.layer_sizes(X.shape[1], Y.shape[1])
        acts = (self.activation,) * (len(sizes) - 2) + ("identity",)
        layers = tuple(MLP(sizes, activations=acts).init_params(rng=rng, like=X[:1, 0]))
        aux, fixed = self.init_extra(sizes, X[:1, 0], rng)
        seed = int(rng.integers(2**31))
        opt = tuple(self._adam.init(W) for W in (*layers, *aux))
        return LocalState(layers, tuple(aux), tuple(fixed), opt, X, Y, seed=seed)

    def partial_step(self, state: LocalState, X: Any, Y: Any) -> LocalState:
        """One mini-batch: the rule's local directions, then one Adam step per array."""
        rng = np.random.default_rng([state.seed, state.t, 1])
        grads, aux_grads, *loss = self.local_grads(state, X, Y, rng)
        if loss:
            total = loss[0] if state.loss_sum is None else state.loss_sum + loss[0]
            state = replace(state, loss_sum=total)
        rule, params, opt = self._adam, [*state.layers, *state.aux], list(state.opt)
        for i, g in enumerate([*grads, *aux_grads]):
            if g is not None:
                delta, opt[i] = rule.step(g, opt[i])
                params[i] = params[i] + delta
        n = len(state.layers)
        return replace(
            state,
            layers=tuple(params[:n]),
            aux=tuple(params[n:]),
            opt=tuple(opt),
            t=state.t + 1,
        )

    def step(self, state: LocalState) -> LocalState:
        """One epoch over mini-batches of the stored data, shuffled by ``(seed, epoch)``."""
        xp, _ = get_xp(state.X)
        n = state.X.shape[0]
        perm = np.random.default_rng([state.seed, state.sweep]).permutation(n)
        perm = asarray_like(perm, state.X, dtype=xp.int64)
        state = replace(state, loss_sum=None)
        for start in range(0, n, self.batch_size):
            idx = perm[start : min(start + self.batch_size, n)]
            state = self.partial_step(
                state, xp.take(state.X, idx, axis=0), xp.take(state.Y, idx, axis=0)
            )
        epoch_loss = None if state.loss_sum is None else state.loss_sum / n
        return replace(state, sweep=state.sweep + 1, loss_sum=None, epoch_loss=epoch_loss)

    def objective(self, state: LocalState) -> float:
        """Training cross-entropy of the class scores (the softmax of `decision_function`).

        After an epoch of a rule that reports its mini-batch losses (see `local_grads`) it
        is their mean over the epoch, each taken before that batch's update (as
        scikit-learn's ``loss_curve_``), which costs no extra pass over the data; otherwise
        a full pass over the training set.
        """
        if state.epoch_loss is not None:
            return float(state.epoch_loss)
        return cross_entropy(self.decision_function(state, state.X), state.Y)
