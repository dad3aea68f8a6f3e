"""Error-feedback rules: feedback alignment, direct feedback alignment, and the baselines.

- Feedback alignment (FA): T. P. Lillicrap, D. Cownden, D. B. Tweed and C. J. Akerman,
  "Random synaptic feedback weights support error backpropagation for deep learning",
  Nature Communications 7, 13276 (2016), eq. (2): ``delta_l = (B_{l+1} delta_{l+1}) *
  f'(a_l)`` with ``B`` fixed and random in place of ``W^T``.
- Direct feedback alignment (DFA): A. Nokland, "Direct Feedback Alignment Provides
  Learning in Deep Neural Networks", NIPS 2016 (arXiv:1609.01596), eq. (3):
  ``delta_l = (B_l e) * f'(a_l)``; the output error ``e`` goes to every layer directly.
- `Backprop`: the chain rule, the baseline the others are measured against.
- `ReadoutOnly`: random hidden layers, frozen; only the output layer learns. A rule that
  learns features must beat it.

Every layer update is ``[h_{l-1}, 1]^T delta_l``; the rules differ only in ``delta_l``. The
output error is ``e = softmax(a_L) - y`` (cross-entropy), the derivative of the loss at the
output. FA and DFA also take ``f'(a_l)``, the derivative of the layer's own activation;
no derivative crosses a layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._array import asarray_like
from .._validate import check_int
from ..models import derivative
from ._estimator import LocalClassifier
from ._rule import Grads, LocalRule, LocalState, _backprop, cross_entropy_sum, layer_grad, softmax

__all__ = [
    "Backprop",
    "BackpropClassifier",
    "DFAClassifier",
    "DirectFeedbackAlignment",
    "FAClassifier",
    "FeedbackAlignment",
    "ReadoutOnly",
    "ReadoutOnlyLocalClassifier",
]


def _feedback(rng: np.random.Generator, shape: tuple[int, int], like: Any) -> Any:
    """Fixed random feedback matrix with entries N(0, 1/shape[0])."""
    return asarray_like(rng.standard_normal(shape) / np.sqrt(shape[0]), like)


@dataclass(frozen=True)
class Backprop(LocalRule):
    """Mini-batch Adam on the exact cross-entropy gradient (the chain rule): the baseline.

    Parameters
    ----------
    hidden_layer_sizes, activation, batch_size, learning_rate
        See `LocalRule`.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(40, 3))
    >>> Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    >>> bp = Backprop(hidden_layer_sizes=(8,), learning_rate=0.01)
    >>> s0 = bp.init(X, Y, rng=0)
    >>> s = s0
    >>> for _ in range(20):
    ...     s = bp.step(s, X, Y)
    >>> bp.objective(s, X, Y) < bp.objective(s0, X, Y)
    True
    """

    aligns: ClassVar[bool] = True

    def local_grads(self, state: LocalState, X: Any, Y: Any, rng: np.random.Generator) -> Grads:
        """The chain-rule gradient of every layer (and the batch loss)."""
        grads, loss = _backprop(state.layers, X, Y, self.activation)
        return grads, [], loss


@dataclass(frozen=True)
class ReadoutOnly(LocalRule):
    """Control: random hidden layers stay frozen; Adam trains the output layer only.

    Parameters
    ----------
    hidden_layer_sizes, activation, batch_size, learning_rate
        See `LocalRule`.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(40, 3))
    >>> Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    >>> ro = ReadoutOnly(hidden_layer_sizes=(8,))
    >>> s0 = ro.init(X, Y, rng=0)
    >>> s = ro.step(s0, X, Y)
    >>> bool(np.all(s.layers[0] == s0.layers[0])), bool(np.any(s.layers[1] != s0.layers[1]))
    (True, True)
    """

    def local_grads(self, state: LocalState, X: Any, Y: Any, rng: np.random.Generator) -> Grads:
        """Only the output layer gets a signal: its own cross-entropy gradient."""
        A, H = self.forward_cache(state.layers, X)
        e = (softmax(A[-1]) - Y) / X.shape[0]
        grads = [None] * (len(state.layers) - 1) + [layer_grad(H[-1], e)]
        return grads, [], cross_entropy_sum(A[-1], Y)


@dataclass(frozen=True)
class FeedbackAlignment(LocalRule):
    """Feedback alignment (Lillicrap et al. 2016): the error travels down fixed random weights.

    ``delta_L = e`` and ``delta_l = (delta_{l+1} B_{l+1}) * f'(a_l)`` (eq. 2), with each
    ``B_{l+1}`` of shape ``(d_{l+1}, d_l)`` drawn once, N(0, 1/d_{l+1}), and never trained.
    The update of layer ``l`` reads its input ``h_{l-1}``, its own ``f'(a_l)`` and the
    signal of the layer above passed through ``B``; no weight of another layer and no
    derivative of another layer reaches it. The signal still travels layer by layer
    (sequentially), unlike `DirectFeedbackAlignment`.

    Parameters
    ----------
    hidden_layer_sizes, activation, batch_size, learning_rate
        See `LocalRule`.

    References
    ----------
    Lillicrap, Cownden, Tweed and Akerman, Nat. Commun. 7, 13276 (2016), eq. (2).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(30, 4))
    >>> Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    >>> fa = FeedbackAlignment(hidden_layer_sizes=(6, 5))
    >>> s = fa.step(fa.init(X, Y, rng=0), X, Y)
    >>> [B.shape for B in s.fixed], s.t
    ([(5, 6), (2, 5)], 1)
    """

    aligns: ClassVar[bool] = True

    def init_extra(
        self, sizes: tuple[int, ...], like: Any, rng: np.random.Generator
    ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """One fixed ``B_{l+1}`` per layer above the first."""
        return (), tuple(
            _feedback(rng, (sizes[i + 1], sizes[i]), like) for i in range(1, len(sizes) - 1)
        )

    def local_grads(self, state: LocalState, X: Any, Y: Any, rng: np.random.Generator) -> Grads:
        """Eq. (2): the output error passed down through the fixed ``B``."""
        A, H = self.forward_cache(state.layers, X)
        delta = (softmax(A[-1]) - Y) / X.shape[0]
        grads: list[Any] = [None] * len(state.layers)
        for i in range(len(state.layers) - 1, -1, -1):
            grads[i] = layer_grad(H[i], delta)
            if i > 0:
                delta = (delta @ state.fixed[i - 1]) * derivative(self.activation, A[i - 1])
        return grads, [], cross_entropy_sum(A[-1], Y)


@dataclass(frozen=True)
class DirectFeedbackAlignment(LocalRule):
    """Direct feedback alignment (Nokland 2016): the output error goes to every layer at once.

    ``delta_l = (e B_l) * f'(a_l)`` (eq. 3) with each ``B_l`` of shape ``(k, d_l)`` fixed
    and random, N(0, 1/k). Layer ``l`` reads its input ``h_{l-1}``, its own ``f'(a_l)`` and
    the output error ``e``; nothing from the layers between. Once the forward pass and
    ``e`` are known the layer updates are independent; with ``n_jobs > 1`` they run in
    a thread pool (joblib). Whether that pays depends on the BLAS: NumPy's bundled
    OpenBLAS ran concurrent single-threaded calls one at a time in
    ``benchmarks/local_parallel.py`` (0.9x on three layers of 1000), where BLAS's own
    threads are the way to use more cores; on a GPU the batched matmuls already fill the
    device.

    Parameters
    ----------
    hidden_layer_sizes, activation, batch_size, learning_rate
        See `LocalRule`.
    n_jobs : int, default=1
        Threads for the per-layer updates.

    References
    ----------
    Nokland, NIPS 2016 (arXiv:1609.01596), eq. (3).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(30, 4))
    >>> Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    >>> dfa = DirectFeedbackAlignment(hidden_layer_sizes=(6, 5))
    >>> s = dfa.step(dfa.init(X, Y, rng=0), X, Y)
    >>> [B.shape for B in s.fixed]
    [(2, 6), (2, 5)]
    """

    n_jobs: int = 1

    aligns: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self.n_jobs, "n_jobs", low=1)

    def init_extra(
        self, sizes: tuple[int, ...], like: Any, rng: np.random.Generator
    ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """One fixed ``B_l`` per hidden layer."""
        return (), tuple(_feedback(rng, (sizes[-1], h), like) for h in sizes[1:-1])

    def local_grads(self, state: LocalState, X: Any, Y: Any, rng: np.random.Generator) -> Grads:
        """Eq. (3): each hidden layer's signal is the output error through its own ``B_l``."""
        A, H = self.forward_cache(state.layers, X)
        e = (softmax(A[-1]) - Y) / X.shape[0]

        def hidden(i: int) -> Any:
            return layer_grad(H[i], (e @ state.fixed[i]) * derivative(self.activation, A[i]))

        n_hidden = len(state.layers) - 1
        if self.n_jobs > 1 and n_hidden > 1:
            from joblib import Parallel, delayed

            grads = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(hidden)(i) for i in range(n_hidden)
            )
        else:
            grads = [hidden(i) for i in range(n_hidden)]
        return [*grads, layer_grad(H[-1], e)], [], cross_entropy_sum(A[-1], Y)


class BackpropClassifier(LocalClassifier, rule=Backprop):
    """Scikit-learn-style classifier trained by backprop and Adam (the baseline).

    Parameters are the fields of `Backprop`, plus ``max_iter`` (epochs, default 20) and
    ``rng``.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(60, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = BackpropClassifier((16,), learning_rate=0.01, max_iter=30, rng=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """


class ReadoutOnlyLocalClassifier(LocalClassifier, rule=ReadoutOnly):
    """Scikit-learn-style readout-only control (random frozen hidden layers, Adam readout).

    Parameters are the fields of `ReadoutOnly`, plus ``max_iter`` and ``rng``.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(60, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> ReadoutOnlyLocalClassifier((16,), max_iter=3, rng=0).fit(X, y).predict(X[:4]).shape
    (4,)
    """


class FAClassifier(LocalClassifier, rule=FeedbackAlignment):
    """Scikit-learn-style classifier trained by feedback alignment (Lillicrap et al. 2016).

    Parameters are the fields of `FeedbackAlignment`, plus ``max_iter`` and ``rng``.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(60, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = FAClassifier((16,), learning_rate=0.01, max_iter=30, rng=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    >>> clf.partial_fit(X[:10], y[:10]).state_.t
    31
    """


class DFAClassifier(LocalClassifier, rule=DirectFeedbackAlignment):
    """Scikit-learn-style classifier trained by direct feedback alignment (Nokland 2016).

    Parameters are the fields of `DirectFeedbackAlignment`, plus ``max_iter`` and ``rng``.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(60, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> DFAClassifier((16, 16), learning_rate=0.01, max_iter=30, rng=0).fit(X, y).score(X, y) > 0.9
    True
    """
