"""Gaussian distributions with a kept square-root factor: priors and observation noise.

A covariance is given as a scalar (``c I``), a vector (a diagonal) or a full matrix.
The lower Cholesky factor ``L`` (``C = L L^T``) and its inverse are computed once;
ensemble methods only ever apply them row-wise (`whiten`, `color`), so scalar and
diagonal covariances cost O(d) per row and no d x d matrix is formed for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
from array_api_compat import array_namespace, is_array_api_obj

from .._array import asarray_like, get_xp, to_host
from .._typing import Array

__all__ = ["Gaussian", "as_vector", "like"]


def like(a: Array, template: Array) -> Array:
    """`a` in the namespace, device and dtype of `template` (no copy when it already is)."""
    if array_namespace(a) is array_namespace(template):
        xp, _ = get_xp(template)
        return a if a.dtype == template.dtype else xp.astype(a, template.dtype)
    return asarray_like(to_host(a), template)


def as_vector(value: Any, name: str) -> Array:
    """A finite, real, 1-d floating array (lists become NumPy float64), or raise naming it."""
    if not is_array_api_obj(value):
        try:
            value = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"`{name}` must be a 1-d array of real numbers; got {value!r}."
            ) from exc
    xp, _ = get_xp(value)
    if xp.isdtype(value.dtype, "integral"):
        value = xp.astype(value, xp.float64)
    if not xp.isdtype(value.dtype, "real floating"):
        raise TypeError(f"`{name}` must hold real numbers; got dtype {value.dtype}.")
    if value.ndim == 0:
        value = xp.reshape(value, (1,))
    if value.ndim != 1 or value.shape[0] == 0:
        raise ValueError(
            f"`{name}` must be a non-empty 1-d array; got shape {tuple(value.shape)}."
        )
    if not np.isfinite(to_host(value)).all():
        raise ValueError(f"`{name}` must be finite; got NaN or inf entries.")
    return value


@dataclass(frozen=True, eq=False)
class Gaussian:
    """A Gaussian ``N(mean, cov)`` that keeps a square-root factor of its covariance.

    Parameters
    ----------
    mean : array of shape (d,)
        Mean; its namespace, device and dtype are used for every derived array.
    cov : float, array of shape (d,) or array of shape (d, d)
        Covariance: a positive scalar (``cov * I``), positive variances (a diagonal
        covariance) or a symmetric positive-definite matrix.

    Attributes
    ----------
    kind : {'scalar', 'diagonal', 'dense'}
        How `cov` was given.
    factor : array
        The lower Cholesky factor ``L`` with ``cov = L L^T`` (a scalar or the vector of
        standard deviations for the first two kinds).
    inv_factor : array
        ``L^{-1}`` in the same form.

    Raises
    ------
    ValueError
        For a non-finite or non-positive variance, a non-symmetric or indefinite
        matrix, or shapes that do not match `mean`.
    TypeError
        For non-numeric input.

    Examples
    --------
    >>> g = Gaussian(np.zeros(2), np.asarray([4.0, 1.0]))
    >>> g.kind, g.whiten(np.asarray([[2.0, 3.0]]))
    ('diagonal', array([[1., 3.]]))
    >>> Gaussian(np.zeros(2), np.asarray([[2.0, 1.0], [1.0, 2.0]])).dense_cov()
    array([[2., 1.],
           [1., 2.]])
    """

    mean: Array
    cov: Any
    kind: str = field(init=False)
    factor: Array = field(init=False)
    inv_factor: Array = field(init=False)

    def __post_init__(self) -> None:
        mean = as_vector(self.mean, "mean")
        d = mean.shape[0]
        cov = self.cov
        host = np.asarray(to_host(cov) if is_array_api_obj(cov) else cov)
        if host.dtype == object or not np.issubdtype(host.dtype, np.number):
            raise TypeError(f"`cov` must be a number or an array of numbers; got {cov!r}.")
        if np.iscomplexobj(host) or host.dtype == bool:
            raise TypeError(f"`cov` must be real; got dtype {host.dtype}.")
        host = host.astype(np.float64)
        if not np.isfinite(host).all():
            raise ValueError("`cov` must be finite; got NaN or inf entries.")
        if host.ndim == 0 or host.ndim == 1:
            kind = "scalar" if host.ndim == 0 else "diagonal"
            if host.ndim == 1 and host.shape != (d,):
                raise ValueError(f"`cov` of shape {host.shape} does not match `mean` ({d},).")
            if (host <= 0).any():
                raise ValueError("`cov` variances must be > 0.")
            factor = np.sqrt(host)
            inv = 1.0 / factor
        elif host.ndim == 2:
            kind = "dense"
            if host.shape != (d, d):
                raise ValueError(f"`cov` of shape {host.shape} does not match `mean` ({d},).")
            if not np.allclose(host, host.T, rtol=1e-10, atol=1e-14 * np.abs(host).max()):
                raise ValueError("`cov` must be symmetric.")
            try:
                factor = np.linalg.cholesky((host + host.T) / 2)
            except np.linalg.LinAlgError as exc:
                raise ValueError("`cov` must be positive definite (Cholesky failed).") from exc
            inv = scipy.linalg.solve_triangular(factor, np.eye(d), lower=True)
        else:
            raise ValueError(
                f"`cov` must be a scalar, a vector or a matrix; got ndim {host.ndim}."
            )
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", asarray_like(host, mean))
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "factor", asarray_like(factor, mean))
        object.__setattr__(self, "inv_factor", asarray_like(inv, mean))

    @property
    def dim(self) -> int:
        """Dimension ``d``."""
        return int(self.mean.shape[0])

    def like(self, template: Array) -> Gaussian:
        """This distribution with arrays in the namespace, device and dtype of `template`.

        Examples
        --------
        >>> Gaussian(np.zeros(2), 1.0).like(np.zeros(1, dtype=np.float32)).mean.dtype
        dtype('float32')
        """
        if array_namespace(self.mean) is array_namespace(template) and (
            self.mean.dtype == template.dtype
        ):
            return self
        return Gaussian(like(self.mean, template), to_host(self.cov))

    def whiten(self, x: Array) -> Array:
        """``L^{-1} (x - mean)`` for each row of `x` (or for a single vector).

        Examples
        --------
        >>> Gaussian(np.ones(2), 4.0).whiten(np.asarray([3.0, 1.0]))
        array([1., 0.])
        """
        return self.scale_inv(x - self.mean)

    def scale_inv(self, d: Array) -> Array:
        """``L^{-1} d`` for each row of `d` (no mean): ``d C^{-1} e = <L^{-1} d, L^{-1} e>``.

        Examples
        --------
        >>> Gaussian(np.ones(2), 4.0).scale_inv(np.asarray([2.0, 4.0]))
        array([1., 2.])
        """
        if self.kind == "dense":
            return d @ self.inv_factor.T
        return d * self.inv_factor

    def color(self, z: Array) -> Array:
        """``mean + L z`` for each row of `z`: standard normal rows become draws.

        Examples
        --------
        >>> Gaussian(np.ones(2), 4.0).color(np.asarray([[1.0, 0.0]]))
        array([[3., 1.]])
        """
        return self.mean + self.scale(z)

    def scale(self, z: Array) -> Array:
        """``L z`` for each row of `z` (no mean).

        Examples
        --------
        >>> Gaussian(np.ones(2), 4.0).scale(np.asarray([1.0, 2.0]))
        array([2., 4.])
        """
        if self.kind == "dense":
            return z @ self.factor.T
        return z * self.factor

    def dense_cov(self) -> Array:
        """The covariance as a ``(d, d)`` matrix (forms it; for small `d`).

        Examples
        --------
        >>> Gaussian(np.zeros(2), 2.0).dense_cov()
        array([[2., 0.],
               [0., 2.]])
        """
        xp, dev = get_xp(self.mean)
        if self.kind == "dense":
            return self.cov
        eye = xp.eye(self.dim, dtype=self.mean.dtype, device=dev)
        return eye * self.cov if self.kind == "scalar" else eye * self.cov[None, :]
