"""A multilayer perceptron seen two ways: a black box over a flat vector, and layer by layer.

The black-box view (`MLP.forward`) maps one flat parameter vector ``(p,)`` or a whole
population ``(n, p)`` and a batch ``X`` of shape ``(b, d)`` to outputs ``(b, out)`` or
``(n, b, out)``. The population pass is one chain of batched matrix products over
stacked weights ``(n, d_in + 1, d_out)``, with no Python loop over the population: what
makes evolution strategies and ensemble Kalman methods on networks fast, above all on a
GPU. The layer view (`MLP.forward_cache`, `gradfree._typing.LayeredModel`) serves the
layer-local trainers: alternating minimization and the local rules use this same pass.

Layer ``i`` holds one array ``W_i`` of shape ``(d_in + 1, d_out)``: the weight matrix
with the bias appended as its last row, so that ``H_{i+1} = act_i(H_i W_i[:-1] +
W_i[-1])`` (least-squares layer updates see a plain linear map of ``[H, 1]``). The flat
vector is ``W_0, W_1, ...`` read in C order, one after the other.

Initialization: He et al. 2015 (std ``sqrt(2 / d_in)``, ReLU layers), Glorot & Bengio
2010 (std ``sqrt(2 / (d_in + d_out))``, the others); biases start at 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from .._array import get_xp
from .._random import check_rng, normal
from .._typing import Array
from .._validate import check_choice, check_positive
from ._activations import activate, check_activation
from ._flatten import unflatten_like
from ._layer import check_flat, check_inputs

__all__ = ["MLP"]

_INITS = ("auto", "he", "xavier")


@dataclass(frozen=True)
class MLP:
    """Fully connected network with one activation per layer, including non-differentiable ones.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(d, h_1, ..., h_k, out)``: input size, hidden sizes, output size (at least two
        entries, each >= 1). The network has ``len(layer_sizes) - 1`` layers.
    activations : str or sequence of str, default='relu'
        A name applies to every hidden layer and the output layer is ``'identity'``
        (logits); a sequence gives one name per layer, output layer included. Names:
        ``'relu'``, ``'tanh'``, ``'sigmoid'``, ``'identity'``, ``'sign'``, ``'step'``,
        ``'hard_threshold'`` (see `gradfree.models.activate`).
    weight_init : {'auto', 'he', 'xavier'}, default='auto'
        Scale of the initial weights: He (``sqrt(2 / d_in)``), Xavier/Glorot
        (``sqrt(2 / (d_in + d_out))``), or He for ReLU layers and Xavier for the rest.
    threshold : float, default=0.5
        Cut-off of ``'hard_threshold'`` layers.

    Attributes
    ----------
    n_layers, n_params : int
        Layers, and the length ``p`` of the flat parameter vector.
    layer_shapes : list of tuple
        ``(d_in + 1, d_out)`` per layer (the bias is the last row).

    Raises
    ------
    ValueError, TypeError
        For bad sizes, unknown activations or init, or a wrong number of activations.

    References
    ----------
    K. He, X. Zhang, S. Ren and J. Sun, "Delving deep into rectifiers", ICCV 2015, eq. (10);
    X. Glorot and Y. Bengio, "Understanding the difficulty of training deep feedforward
    neural networks", AISTATS 2010, eq. (16) (its normal-distribution variant).

    Examples
    --------
    >>> net = MLP((4, 8, 3), activations="tanh")
    >>> net.n_layers, net.n_params, net.activations
    (2, 67, ('tanh', 'identity'))
    >>> x0 = net.init_flat(rng=0)
    >>> X = np.ones((5, 4))
    >>> net.forward(x0, X).shape
    (5, 3)
    >>> P = np.stack([x0, 2 * x0, -x0])         # a population of 3 parameter vectors
    >>> net.forward(P, X).shape
    (3, 5, 3)
    >>> bool(np.allclose(net.forward(P, X)[1], net.forward(2 * x0, X)))
    True
    """

    layer_sizes: tuple[int, ...]
    activations: Any = "relu"
    weight_init: str = "auto"
    threshold: float = 0.5

    def __post_init__(self) -> None:
        sizes = self.layer_sizes
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
            raise TypeError(
                f"`layer_sizes` must be a sequence of ints; got {type(sizes).__name__}."
            )
        if len(sizes) < 2:
            raise ValueError(
                f"`layer_sizes` needs at least an input and an output size; got {tuple(sizes)}."
            )
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, Integral) or s < 1:
                raise ValueError(f"`layer_sizes` must be ints >= 1; got {tuple(sizes)}.")
        sizes = tuple(int(s) for s in sizes)
        n_layers = len(sizes) - 1
        acts = self.activations
        if isinstance(acts, str):
            acts = (check_activation(acts, "activations"),) * (n_layers - 1) + ("identity",)
        elif isinstance(acts, Sequence):
            acts = tuple(check_activation(a, "activations") for a in acts)
            if len(acts) != n_layers:
                raise ValueError(
                    f"`activations` must give one name per layer ({n_layers}); "
                    f"got {len(acts)}: {acts}."
                )
        else:
            raise TypeError(
                f"`activations` must be a name or a sequence of names; got {type(acts).__name__}."
            )
        check_choice(self.weight_init, "weight_init", _INITS)
        object.__setattr__(self, "threshold", check_positive(self.threshold, "threshold"))
        object.__setattr__(self, "layer_sizes", sizes)
        object.__setattr__(self, "activations", acts)

    @property
    def n_layers(self) -> int:
        """Number of layers (weight matrices)."""
        return len(self.layer_sizes) - 1

    @property
    def n_inputs(self) -> int:
        """Input size ``d``."""
        return self.layer_sizes[0]

    @property
    def n_outputs(self) -> int:
        """Output size."""
        return self.layer_sizes[-1]

    @property
    def layer_shapes(self) -> list[tuple[int, int]]:
        """``(d_in + 1, d_out)`` per layer; the last row holds the bias."""
        return [(a + 1, b) for a, b in zip(self.layer_sizes[:-1], self.layer_sizes[1:])]

    @property
    def n_params(self) -> int:
        """Length ``p`` of the flat parameter vector."""
        return sum(math.prod(s) for s in self.layer_shapes)

    # -- layer view (LayeredModel) --------------------------------------------------------

    def init_params(self, *, rng: Any = None, like: Array = None) -> list[Array]:
        """Seeded random weights and zero biases, one ``(d_in + 1, d_out)`` array per layer.

        Parameters
        ----------
        rng : None, int, SeedSequence or Generator, default=None
            Source of the draws (see `gradfree._random.check_rng`).
        like : array, optional
            Template for namespace, device and dtype (default: NumPy float64).

        Returns
        -------
        list of arrays

        Examples
        --------
        >>> [W.shape for W in MLP((4, 8, 3)).init_params(rng=0)]
        [(5, 8), (9, 3)]
        """
        rng = check_rng(rng)
        if like is None:
            like = np.empty(0)
        xp, dev = get_xp(like)
        if not xp.isdtype(like.dtype, "real floating"):
            raise TypeError(f"`like` must have a real floating dtype; got {like.dtype}.")
        params = []
        for (d_in, d_out), act in zip(
            zip(self.layer_sizes, self.layer_sizes[1:]), self.activations
        ):
            auto = self.weight_init == "auto"
            he = self.weight_init == "he" or (auto and act == "relu")
            std = math.sqrt(2.0 / d_in) if he else math.sqrt(2.0 / (d_in + d_out))
            weight = std * normal(rng, (d_in, d_out), like=like)
            bias = xp.zeros((1, d_out), dtype=like.dtype, device=dev)
            params.append(xp.concat([weight, bias], axis=0))
        return params

    def init_flat(self, *, rng: Any = None, like: Array = None) -> Array:
        """`init_params` as one flat vector ``(p,)``, e.g. an ``x0`` for `gradfree.minimize`.

        Examples
        --------
        >>> MLP((4, 8, 3)).init_flat(rng=0).shape
        (67,)
        """
        return self.flatten(self.init_params(rng=rng, like=like))

    @staticmethod
    def split_layer(W: Array) -> tuple[Array, Array]:
        """Weight matrix ``(..., d_in, d_out)`` and bias ``(..., d_out)`` of a layer array.

        Examples
        --------
        >>> weight, bias = MLP.split_layer(np.zeros((5, 8)))
        >>> weight.shape, bias.shape
        ((4, 8), (8,))
        """
        return W[..., :-1, :], W[..., -1, :]

    @staticmethod
    def join_layer(weight: Array, bias: Array) -> Array:
        """Inverse of `split_layer`: the bias becomes the last row.

        Examples
        --------
        >>> MLP.join_layer(np.zeros((4, 8)), np.ones(8)).shape
        (5, 8)
        """
        xp, _ = get_xp(weight, bias)
        return xp.concat([weight, xp.expand_dims(bias, axis=-2)], axis=-2)

    def preactivation(self, i: int, W: Array, H: Array) -> Array:
        """Linear part of layer `i`: ``H @ W[:-1] + W[-1]``, broadcasting leading axes.

        ``W`` of shape ``(d_in + 1, d_out)`` or a stack ``(n, d_in + 1, d_out)``; ``H`` of
        shape ``(b, d_in)`` (shared by the stack) or ``(n, b, d_in)``.

        Examples
        --------
        >>> MLP((2, 3)).preactivation(0, np.ones((3, 3)), np.ones((4, 2)))[0]
        array([3., 3., 3.])
        """
        self._check_layer(i)
        xp, _ = get_xp(W, H)
        return xp.matmul(H, W[..., :-1, :]) + W[..., -1:, :]

    def activate(self, i: int, Z: Array) -> Array:
        """Activation of layer `i` applied to pre-activations `Z`.

        Examples
        --------
        >>> MLP((2, 3, 1)).activate(0, np.asarray([-1.0, 2.0]))
        array([0., 2.])
        """
        self._check_layer(i)
        return activate(self.activations[i], Z, threshold=self.threshold)

    def forward_layer(self, i: int, W: Array, H: Array) -> Array:
        """Output of layer `i`: ``activate(i, preactivation(i, W, H))``.

        Examples
        --------
        >>> net = MLP((2, 3, 1), activations="step")
        >>> net.forward_layer(0, np.ones((3, 3)), np.asarray([[1.0, -3.0]]))
        array([[0., 0., 0.]])
        """
        return self.activate(i, self.preactivation(i, W, H))

    def forward_cache(self, params: Sequence[Array], X: Array) -> tuple[list[Array], list[Array]]:
        """Per layer: its input ``H_i`` (``H_0 = X``) and its pre-activation ``Z_i``.

        The one forward pass, for `forward` and for layer-local trainers. `params` is the
        per-layer list (stacks ``(n, d_in + 1, d_out)`` allowed), `X` is ``(b, d)``; the
        network output is ``activate(n_layers - 1, Z[-1])``.

        Returns
        -------
        inputs, pre : lists of arrays, one per layer

        Examples
        --------
        >>> net = MLP((4, 8, 3))
        >>> H, Z = net.forward_cache(net.init_params(rng=0), np.ones((5, 4)))
        >>> [h.shape for h in H], [z.shape for z in Z]
        ([(5, 4), (5, 8)], [(5, 8), (5, 3)])
        """
        self._check_layers(params, lead=None)
        H = check_inputs(X, params[0], self.n_inputs)
        inputs: list[Array] = []
        pre: list[Array] = []
        for i, W in enumerate(params):
            if i > 0:
                H = self.activate(i - 1, pre[-1])
            inputs.append(H)
            pre.append(self.preactivation(i, W, H))
        return inputs, pre

    def forward_layers(self, params: Sequence[Array], X: Array) -> list[Array]:
        """Outputs of every layer, ``[H_1, ..., H_L]`` (``H_L`` is the network output).

        Examples
        --------
        >>> net = MLP((4, 8, 3))
        >>> [H.shape for H in net.forward_layers(net.init_params(rng=0), np.ones((5, 4)))]
        [(5, 8), (5, 3)]
        """
        inputs, pre = self.forward_cache(params, X)
        return [*inputs[1:], self.activate(self.n_layers - 1, pre[-1])]

    # -- black-box view --------------------------------------------------------------------

    def flatten(self, params: Sequence[Array]) -> Array:
        """Per-layer list -> flat vector ``(p,)`` (or ``(n, p)`` from stacks ``(n, ...)``).

        Examples
        --------
        >>> net = MLP((4, 8, 3))
        >>> params = net.init_params(rng=0)
        >>> v = net.flatten(params)
        >>> all(np.array_equal(a, b) for a, b in zip(net.unflatten(v), params))
        True
        """
        lead = self._check_layers(params, lead=True)
        xp, _ = get_xp(*params)
        return xp.concat([xp.reshape(W, lead + (-1,)) for W in params], axis=-1)

    def unflatten(self, params: Array) -> list[Array]:
        """Flat vector ``(p,)`` or population ``(n, p)`` -> per-layer list (stacked for ``n``).

        Examples
        --------
        >>> [W.shape for W in MLP((4, 8, 3)).unflatten(np.zeros((10, 67)))]
        [(10, 5, 8), (10, 9, 3)]
        """
        check_flat(params, self.n_params)
        return unflatten_like(self.layer_shapes)(params)

    def forward(self, params: Array, X: Array) -> Array:
        """Network output for one parameter vector or a whole population.

        Parameters
        ----------
        params : array of shape (p,) or (n, p)
            Flat parameters (see `flatten`); real floating. Its namespace, device and
            dtype decide those of the output (`X` is cast to its dtype).
        X : array of shape (b, d)
            Inputs, in the namespace and on the device of `params` (not checked for NaN).

        Returns
        -------
        array of shape (b, out) or (n, b, out)
            For a population, one chain of batched matrix products over stacked
            weights; row ``j`` equals ``forward(params[j], X)``.

        Raises
        ------
        ValueError
            If ``params.shape[-1] != n_params`` or ``X`` is not ``(b, d)``.
        TypeError
            If `params` is not real floating.

        Examples
        --------
        >>> net = MLP((3, 2), activations=["sign"])
        >>> net.forward(np.asarray([1.0, 0, 0, 1, 0, 0, 0, 0]), np.asarray([[2.0, -1, 5]]))
        array([[ 1., -1.]])
        """
        return self.forward_layers(self.unflatten(params), X)[-1]

    def predict(self, params: Array, X: Array) -> Array:
        """Predicted class (arg-max output) per sample: ``(b,)`` or ``(n, b)``.

        Examples
        --------
        >>> net = MLP((4, 8, 3))
        >>> net.predict(net.init_flat(rng=0), np.ones((5, 4))).shape
        (5,)
        """
        xp, _ = get_xp(params)
        return xp.argmax(self.forward(params, X), axis=-1)

    def _check_layer(self, i: int) -> None:
        """Raise unless `i` is a layer index."""
        if isinstance(i, bool) or not isinstance(i, Integral) or not 0 <= i < self.n_layers:
            raise ValueError(f"`i` must be a layer index in [0, {self.n_layers}); got {i!r}.")

    def _check_layers(self, params: Sequence[Array], *, lead: bool | None) -> tuple[int, ...]:
        """Check one ``(..., d_in + 1, d_out)`` array per layer (`lead`: same leading axes)."""
        if len(params) != self.n_layers:
            raise ValueError(
                f"`params` must hold one array per layer ({self.n_layers}); got {len(params)}."
            )
        axes = tuple(params[0].shape[:-2])
        for i, (W, shape) in enumerate(zip(params, self.layer_shapes)):
            want = axes + shape if lead else tuple(W.shape[:-2]) + shape
            if tuple(W.shape) != want:
                raise ValueError(f"`params[{i}]` must have shape {want}; got {tuple(W.shape)}.")
        return axes
