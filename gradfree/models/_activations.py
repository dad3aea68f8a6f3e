"""Elementwise activations on any array namespace, differentiable or not."""

from __future__ import annotations

from collections.abc import Callable

from .._array import get_xp
from .._typing import Array

__all__ = ["ACTIVATIONS", "DIFFERENTIABLE", "activate", "check_activation", "derivative"]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity", "sign", "step", "hard_threshold")
"""Names accepted wherever an activation is asked for."""

DIFFERENTIABLE = ("relu", "tanh", "sigmoid", "identity")
"""Activations with a `derivative`: the one derivative a layer-local rule may take."""


def _relu(Z: Array, threshold: float) -> Array:
    xp, _ = get_xp(Z)
    return xp.where(Z > 0, Z, xp.zeros_like(Z))


def _tanh(Z: Array, threshold: float) -> Array:
    xp, _ = get_xp(Z)
    return xp.tanh(Z)


def _sigmoid(Z: Array, threshold: float) -> Array:
    xp, _ = get_xp(Z)
    return 0.5 * xp.tanh(0.5 * Z) + 0.5  # the same function as 1 / (1 + e^-z), never overflows


def _identity(Z: Array, threshold: float) -> Array:
    return Z


def _sign(Z: Array, threshold: float) -> Array:
    xp, _ = get_xp(Z)
    return xp.sign(Z)


def _step(Z: Array, threshold: float) -> Array:
    xp, _ = get_xp(Z)
    return xp.astype(Z > 0, Z.dtype)


def _hard_threshold(Z: Array, threshold: float) -> Array:
    xp, _ = get_xp(Z)
    return xp.where(xp.abs(Z) > threshold, Z, xp.zeros_like(Z))


_FUNCTIONS: dict[str, Callable[[Array, float], Array]] = {
    "relu": _relu,
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "identity": _identity,
    "sign": _sign,
    "step": _step,
    "hard_threshold": _hard_threshold,
}


def _relu_grad(Z: Array) -> Array:
    xp, _ = get_xp(Z)
    return xp.astype(Z > 0, Z.dtype)


def _tanh_grad(Z: Array) -> Array:
    xp, _ = get_xp(Z)
    return 1.0 - xp.tanh(Z) ** 2


def _sigmoid_grad(Z: Array) -> Array:
    s = _sigmoid(Z, 0.0)
    return s * (1.0 - s)


def _identity_grad(Z: Array) -> Array:
    xp, _ = get_xp(Z)
    return xp.ones_like(Z)


_DERIVATIVES: dict[str, Callable[[Array], Array]] = {
    "relu": _relu_grad,
    "tanh": _tanh_grad,
    "sigmoid": _sigmoid_grad,
    "identity": _identity_grad,
}


def check_activation(value: object, name: str) -> str:
    """Return `value` if it names an activation, else raise naming `name`.

    Examples
    --------
    >>> check_activation("relu", "activations")
    'relu'
    """
    if not isinstance(value, str):
        raise TypeError(
            f"`{name}` must be an activation name in {list(ACTIVATIONS)}; "
            f"got {type(value).__name__}."
        )
    if value not in _FUNCTIONS:
        raise ValueError(f"`{name}` must be one of {list(ACTIVATIONS)}; got {value!r}.")
    return value


def activate(name: str, Z: Array, *, threshold: float = 0.5) -> Array:
    """Apply the activation `name` entrywise; namespace, device, dtype and shape are kept.

    Parameters
    ----------
    name : str
        One of `ACTIVATIONS`: ``relu`` ``max(z, 0)``; ``tanh``; ``sigmoid``
        ``1 / (1 + exp(-z))``; ``identity``; ``sign`` (-1, 0 or 1); ``step``
        (1 where ``z > 0``, else 0); ``hard_threshold`` (``z`` where
        ``|z| > threshold``, else 0).
    Z : array
        Pre-activations, any shape.
    threshold : float, default=0.5
        Cut-off of ``hard_threshold``; ignored by the others.

    Returns
    -------
    array like `Z`

    Raises
    ------
    ValueError
        For an unknown `name`.

    Examples
    --------
    >>> z = np.asarray([-1.0, 0.0, 0.25, 2.0])
    >>> activate("step", z), activate("hard_threshold", z)
    (array([0., 0., 1., 1.]), array([-1.,  0.,  0.,  2.]))
    """
    return _FUNCTIONS[check_activation(name, "name")](Z, threshold)


def derivative(name: str, Z: Array) -> Array:
    """Derivative ``f'(z)`` of the activation `name` at the pre-activations `Z`, entrywise.

    This is the only derivative the layer-local rules take: the one of the entrywise
    nonlinearity of the layer being updated, never a chain across layers. ``relu`` has
    derivative 1 where ``z > 0`` and 0 elsewhere (0 at the kink).

    Parameters
    ----------
    name : str
        One of `DIFFERENTIABLE` (``relu``, ``tanh``, ``sigmoid``, ``identity``).
    Z : array
        Pre-activations, any shape; namespace, device, dtype and shape are kept.

    Returns
    -------
    array like `Z`

    Raises
    ------
    ValueError
        For an unknown name, or one without a derivative (``sign``, ``step``,
        ``hard_threshold``: zero almost everywhere, so no rule can learn through it).

    Examples
    --------
    >>> derivative("relu", np.asarray([-1.0, 2.0]))
    array([0., 1.])
    >>> float(derivative("tanh", np.asarray(0.0)))
    1.0
    """
    check_activation(name, "name")
    if name not in _DERIVATIVES:
        raise ValueError(
            f"`name` must be one of {list(DIFFERENTIABLE)} to have a derivative; got {name!r}."
        )
    return _DERIVATIVES[name](Z)
