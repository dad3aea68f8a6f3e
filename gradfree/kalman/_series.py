"""Minibatched observations: a data series with block-diagonal noise, served a batch at a time.

In the spirit of EnsembleKalmanProcesses.jl's ``ObservationSeries`` and minibatchers
(Kovachki & Stuart, "Ensemble Kalman inversion: a derivative-free technique for machine
learning tasks", Inverse Problems 35 (2019) 095005, sec. 4). The data are ``N`` data
points ``y_i`` (each a block of ``k`` numbers) with a block-diagonal noise covariance
``Gamma = blockdiag(Gamma_1, ..., Gamma_N)``. A *minibatcher* splits the indices
``0..N-1`` into minibatches once per epoch:

* `FixedMinibatcher`: the same given batches, in the same order, every epoch;
* `RandomFixedSizeMinibatcher`: a permutation of the indices per epoch, seeded by
  ``default_rng([seed, epoch])``, cut into batches of ``size`` (the remainder is
  dropped, or added to the last batch with ``extra=True``).

Iteration ``k`` uses batch ``k mod n_batches`` of epoch ``k // n_batches``: the
schedule is a pure function of ``k`` and the seed (`ObservationSeries.batch`), so
nothing is hidden in a call counter and a run can be replayed or resumed at any
iteration (`gradfree.kalman.solve_minibatched`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg

from .._random import check_rng
from .._validate import check_int
from ._gaussian import Gaussian

__all__ = ["FixedMinibatcher", "Minibatch", "ObservationSeries", "RandomFixedSizeMinibatcher"]


def _index_array(batch: Any, name: str) -> np.ndarray:
    idx = np.asarray(batch)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(
            f"`{name}` must hold non-empty 1-d sequences of integer indices; got {batch!r}."
        )
    if (idx < 0).any():
        raise ValueError(f"`{name}` indices must be >= 0; got {idx[idx < 0][:5].tolist()}.")
    return idx.astype(np.intp)


@dataclass(frozen=True)
class FixedMinibatcher:
    """The same minibatches, in the given order, every epoch.

    Parameters
    ----------
    batches : sequence of sequences of int, or int
        The minibatches as lists of data indices; an int ``b`` means contiguous
        batches ``[0..b-1], [b..2b-1], ...`` of the data (the last may be shorter).
        With a list, the indices are checked against the data when an
        `ObservationSeries` is built.

    Examples
    --------
    >>> FixedMinibatcher([[0, 1], [2]]).epoch(3, 7)
    [array([0, 1]), array([2])]
    >>> FixedMinibatcher(2).epoch(5, 0)
    [array([0, 1]), array([2, 3]), array([4])]
    """

    batches: Any

    def __post_init__(self) -> None:
        if isinstance(self.batches, (int, np.integer)) and not isinstance(self.batches, bool):
            check_int(self.batches, "batches", low=1)
            return
        if isinstance(self.batches, (str, bytes)) or not isinstance(self.batches, Sequence):
            raise TypeError(
                "`batches` must be an int or a sequence of index sequences; "
                f"got {type(self.batches).__name__}."
            )
        if len(self.batches) == 0:
            raise ValueError("`batches` must hold at least one minibatch.")
        fixed = tuple(_index_array(b, "batches") for b in self.batches)
        object.__setattr__(self, "batches", fixed)

    def epoch(self, n: int, epoch: int) -> list[np.ndarray]:
        """The minibatches of `epoch` for `n` data points (the same for every epoch)."""
        del epoch
        if isinstance(self.batches, (int, np.integer)):
            b = int(self.batches)
            return [np.arange(i, min(i + b, n)) for i in range(0, n, b)]
        return [b.copy() for b in self.batches]


@dataclass(frozen=True)
class RandomFixedSizeMinibatcher:
    """A seeded random permutation of the data per epoch, cut into batches of `size`.

    Parameters
    ----------
    size : int
        Data points per minibatch (>= 1).
    rng : None, int, SeedSequence or Generator, default=None
        Seeds the schedule: epoch ``e`` uses ``default_rng([seed, e]).permutation(N)``
        with one ``seed`` drawn from `rng` at construction.
    extra : bool, default=False
        The ``N mod size`` points left over in an epoch are dropped (False, every
        batch has `size` points) or added to the last batch (True; EKP's ``"extra"``).

    Attributes
    ----------
    seed : int
        The seed of the schedule.

    Examples
    --------
    >>> mb = RandomFixedSizeMinibatcher(2, rng=0)
    >>> first = mb.epoch(5, 0)
    >>> [len(b) for b in first], [len(b) for b in mb.epoch(5, 0)]
    ([2, 2], [2, 2])
    >>> bool(all((a == b).all() for a, b in zip(first, mb.epoch(5, 0))))  # pure in epoch
    True
    >>> [len(b) for b in RandomFixedSizeMinibatcher(2, rng=0, extra=True).epoch(5, 0)]
    [2, 3]
    """

    size: int
    rng: Any = field(default=None, repr=False, compare=False)
    extra: bool = False
    seed: int = field(init=False)

    def __post_init__(self) -> None:
        check_int(self.size, "size", low=1)
        if not isinstance(self.extra, bool):
            raise TypeError(f"`extra` must be a bool; got {type(self.extra).__name__}.")
        object.__setattr__(self, "seed", int(check_rng(self.rng).integers(2**63)))

    def epoch(self, n: int, epoch: int) -> list[np.ndarray]:
        """The minibatches of `epoch` for `n` data points."""
        if self.size > n:
            raise ValueError(f"`size` ({self.size}) exceeds the number of data points ({n}).")
        perm = np.random.default_rng([self.seed, int(epoch)]).permutation(n)
        n_batches = n // self.size
        batches = [perm[j * self.size : (j + 1) * self.size] for j in range(n_batches)]
        if self.extra and n_batches * self.size < n:
            batches[-1] = perm[(n_batches - 1) * self.size :]
        return batches


@dataclass(frozen=True)
class Minibatch:
    """One iteration's data: indices, ``y_B`` (flattened), ``Gamma_B`` and ``N(y_B, Gamma_B)``."""

    iteration: int
    epoch: int
    position: int  # the batch's place within its epoch
    indices: np.ndarray
    y: np.ndarray  # (b * k,)
    noise_cov: Any  # scalar, (b * k,) variances or (b * k, b * k) block-diagonal matrix
    observation: Gaussian


@dataclass(frozen=True, eq=False)
class ObservationSeries:
    """Data points with a block-diagonal noise covariance, served one minibatch at a time.

    Parameters
    ----------
    observations : array of shape (N,) or (N, k)
        ``N`` data points ``y_i``, each one number or a block of ``k``.
    noise_cov : float, array like `observations`, or array of shape (N, k, k)
        ``Gamma``: one variance, a variance per entry, or one SPD block per data point.
    minibatcher : FixedMinibatcher or RandomFixedSizeMinibatcher, optional
        Default: one batch holding all the data (full-batch EKI).

    Attributes
    ----------
    n_data : int
        ``N``.
    block : int
        ``k``, numbers per data point.
    n_batches : int
        Minibatches per epoch.

    Raises
    ------
    ValueError, TypeError
        Naming the argument: non-finite data, a covariance of the wrong shape or not
        positive definite, batch indices outside ``[0, N)``.

    Examples
    --------
    >>> y = np.arange(6.0).reshape(3, 2)           # 3 data points of 2 numbers
    >>> series = ObservationSeries(y, 0.5, minibatcher=FixedMinibatcher([[2], [0, 1]]))
    >>> series.n_batches, series.block
    (2, 2)
    >>> b = series.batch(3)                        # epoch 1, second batch
    >>> b.epoch, b.indices, b.y, b.noise_cov
    (1, array([0, 1]), array([0., 1., 2., 3.]), 0.5)
    """

    observations: Any
    noise_cov: Any
    minibatcher: Any = None
    y: np.ndarray = field(init=False, repr=False)
    n_data: int = field(init=False)
    block: int = field(init=False)
    n_batches: int = field(init=False)

    def __post_init__(self) -> None:
        y = np.asarray(self.observations)
        if y.dtype == object or not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y):
            raise TypeError(f"`observations` must hold real numbers; got dtype {y.dtype}.")
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[0] == 0 or y.shape[1] == 0:
            raise ValueError(
                f"`observations` must have shape (N,) or (N, k) with N >= 1; got {y.shape}."
            )
        y = y.astype(np.float64)
        if not np.isfinite(y).all():
            raise ValueError("`observations` must be finite.")
        n, k = y.shape
        cov = np.asarray(self.noise_cov)
        if cov.dtype == object or not np.issubdtype(cov.dtype, np.number):
            raise TypeError(f"`noise_cov` must be numeric; got {self.noise_cov!r}.")
        cov = cov.astype(np.float64)
        if cov.ndim == 1 and k == 1 and cov.shape == (n,):
            cov = cov[:, None]
        if not np.isfinite(cov).all():
            raise ValueError("`noise_cov` must be finite.")
        if cov.ndim == 0 or cov.shape == (n, k):
            if (cov <= 0).any():
                raise ValueError("`noise_cov` variances must be > 0.")
        elif cov.shape == (n, k, k):
            if not np.allclose(cov, np.swapaxes(cov, 1, 2)):
                raise ValueError("`noise_cov` blocks must be symmetric.")
            if (np.linalg.eigvalsh(cov)[:, 0] <= 0).any():
                raise ValueError("`noise_cov` blocks must be positive definite.")
        else:
            raise ValueError(
                f"`noise_cov` must be a scalar, of shape {(n, k)} or {(n, k, k)}; got {cov.shape}."
            )
        minibatcher = self.minibatcher
        if minibatcher is None:
            minibatcher = FixedMinibatcher([np.arange(n)])
        if not isinstance(minibatcher, (FixedMinibatcher, RandomFixedSizeMinibatcher)):
            raise TypeError(
                "`minibatcher` must be a FixedMinibatcher or a RandomFixedSizeMinibatcher; "
                f"got {type(minibatcher).__name__}."
            )
        batches = minibatcher.epoch(n, 0)
        for b in batches:
            if b.max() >= n:
                raise ValueError(
                    f"`minibatcher` indices must lie in [0, {n}); got {int(b.max())}."
                )
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "noise_cov", cov)
        object.__setattr__(self, "minibatcher", minibatcher)
        object.__setattr__(self, "n_data", n)
        object.__setattr__(self, "block", k)
        object.__setattr__(self, "n_batches", len(batches))

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """The minibatches (index arrays) of `epoch`."""
        return self.minibatcher.epoch(self.n_data, check_int(epoch, "epoch", low=0))

    def batch(self, iteration: int) -> Minibatch:
        """The data of `iteration`: batch ``iteration mod n_batches`` of its epoch."""
        iteration = check_int(iteration, "iteration", low=0)
        epoch, position = divmod(iteration, self.n_batches)
        idx = self.minibatcher.epoch(self.n_data, epoch)[position]
        y = self.y[idx].reshape(-1)
        cov = self.noise_cov
        if cov.ndim == 0:
            block_cov: Any = float(cov)
        elif cov.ndim == 2:
            block_cov = cov[idx].reshape(-1)
        else:
            block_cov = scipy.linalg.block_diag(*cov[idx])
        return Minibatch(
            iteration=iteration,
            epoch=epoch,
            position=position,
            indices=idx,
            y=y,
            noise_cov=block_cov,
            observation=Gaussian(y, block_cov),
        )
