"""The base of the local learning rules: the mini-batch epoch, Adam on every trained array,
the softmax cross-entropy, and the backprop reference (the estimator is in `_estimator`).

A rule is a frozen dataclass deriving from `LocalRule`. It says which arrays it trains
besides the network (`init_extra`) and, per mini-batch, what reaches each layer
(`local_grads`). Everything else (shuffling, seeding, Adam, the epoch, the result) lives
here or in the shared fit loop (`gradfree.estimators.fit`), so each rule's module holds
only the rule. The network, its one forward pass and the activation derivatives a rule
may take are `gradfree.models`'.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from .._array import get_xp
from .._random import check_rng
from .._validate import check_choice, check_int, check_positive
from ..estimators import NetworkSolver, check_Xy, epoch_batches
from ..models import MLP, derivative
from ..updates import Adam

__all__ = [
    "LocalRule",
    "LocalState",
    "alignment_angles",
    "backprop_grads",
    "cross_entropy",
    "layer_grad",
    "softmax",
]

_ACTIVATIONS = ("tanh", "relu", "sigmoid")

Grads = tuple[list[Any], list[Any]] | tuple[list[Any], list[Any], Any]
"""What `LocalRule.local_grads` returns: layer and aux directions, optionally the loss."""


@lru_cache(maxsize=64)
def network(sizes: tuple[int, ...], activation: str, linear_output: bool = True) -> MLP:
    """The MLP of widths `sizes`: hidden `activation`, and a linear output layer unless
    `linear_output` is False (then every layer has `activation`)."""
    n = len(sizes) - 1
    acts = (activation,) * (n - 1) + ("identity" if linear_output else activation,)
    return MLP(sizes, activations=acts)


def network_of(layers: tuple[Any, ...], activation: str, linear_output: bool = True) -> MLP:
    """`network` of the widths of `layers` (``(d_in + 1, d_out)`` arrays)."""
    sizes = (layers[0].shape[0] - 1, *(W.shape[1] for W in layers))
    return network(sizes, activation, linear_output)


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
    H, A = network_of(layers, activation).forward_cache(layers, X)
    delta = (softmax(A[-1]) - Y) / X.shape[0]
    grads = [None] * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        grads[i] = layer_grad(H[i], delta)
        if i > 0:  # the global backward chain: W_l^T carries delta down a layer
            delta = (delta @ layers[i][:-1, :].T) * derivative(activation, A[i - 1])
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
    """Weights and optimizer moments of a local-rule run (never the training data).

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
    dims : tuple of int
        ``(n_features, n_classes)`` of the data the state was built for.
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
    dims: tuple[int, int]
    seed: int
    sweep: int = 0
    t: int = 0
    loss_sum: Any = None
    epoch_loss: Any = None


@dataclass(frozen=True)
class LocalRule(NetworkSolver, ABC):
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
    ...         A, H = self.forward_cache(state.layers, X)
    ...         e = (softmax(A[-1]) - Y) / X.shape[0]
    ...         return [None] * (len(state.layers) - 1) + [layer_grad(H[-1], e)], []
    >>> X = np.random.default_rng(0).normal(size=(30, 3))
    >>> Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    >>> rule = LastLayer(hidden_layer_sizes=(5,), batch_size=10)
    >>> state = rule.step(rule.init(X, Y, rng=0), X, Y)
    >>> state.sweep, state.t, [W.shape for W in state.layers]
    (1, 3, [(4, 5), (6, 2)])
    """

    hidden_layer_sizes: tuple[int, ...] = (100,)
    activation: str = "tanh"
    batch_size: int = 64
    learning_rate: float = 1e-3

    aligns: ClassVar[bool] = False
    """Whether the hidden updates estimate the loss gradient (see `alignment_angles`)."""

    linear_output: ClassVar[bool] = True
    """Whether the last layer is linear (class scores); False: every layer has `activation`."""

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

    def network(self, d: int, k: int) -> MLP:
        """The network trained for `d` inputs and `k` classes (a `gradfree.models.MLP`)."""
        return network(self.layer_sizes(d, k), self.activation, self.linear_output)

    def forward_cache(self, layers: tuple[Any, ...], X: Any) -> tuple[list, list]:
        """Pre-activations ``a_l`` and layer inputs ``h_{l-1}`` (``h_0 = X``) of the one forward
        pass (`gradfree.models.MLP.forward_cache`) of the network `layers`."""
        H, A = network_of(layers, self.activation, self.linear_output).forward_cache(layers, X)
        return A, H

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

    # -- the shared loop ------------------------------------------------------------------

    @property
    def _adam(self) -> Adam:
        return Adam(learning_rate=float(self.learning_rate))

    def init(self, X: Any, Y: Any, *, rng: Any = None, params: Any = None) -> LocalState:
        """Random initial weights (or the starting network `params`), the rule's extra
        arrays and zero Adam moments."""
        X, Y = check_Xy(X, Y)
        rng = check_rng(rng)
        d, k = X.shape[1], Y.shape[1]
        layers = self.start_layers(d, k, X[:1, 0], rng, params)
        aux, fixed = self.init_extra(self.layer_sizes(d, k), X[:1, 0], rng)
        seed = int(rng.integers(2**31))
        opt = tuple(self._adam.init(W) for W in (*layers, *aux))
        return LocalState(layers, tuple(aux), tuple(fixed), opt, (d, k), seed=seed)

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

    def step(self, state: LocalState, X: Any, Y: Any) -> LocalState:
        """One epoch over mini-batches of ``(X, Y)``, shuffled by ``(seed, epoch)``."""
        state = replace(state, loss_sum=None)
        for Xb, Yb in epoch_batches(X, Y, self.batch_size, state.seed, state.sweep):
            state = self.partial_step(state, Xb, Yb)
        epoch_loss = None if state.loss_sum is None else state.loss_sum / X.shape[0]
        return replace(state, sweep=state.sweep + 1, loss_sum=None, epoch_loss=epoch_loss)

    def objective(self, state: LocalState, X: Any, Y: Any) -> float:
        """Training cross-entropy of the class scores (the softmax of `decision_function`).

        After an epoch of a rule that reports its mini-batch losses (see `local_grads`) it
        is their mean over the epoch, each taken before that batch's update (as
        scikit-learn's ``loss_curve_``), which costs no extra pass over the data; otherwise
        a full pass over the training set.
        """
        if state.epoch_loss is not None:
            return float(state.epoch_loss)
        return cross_entropy(self.decision_function(state, X), Y)
