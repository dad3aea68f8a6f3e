"""NoProp, discrete time: every block learns on its own to denoise a noisy label embedding.

Q. Li, Y. W. Teh and R. Pascanu, "NoProp: Training Neural Networks without
Back-propagation or Forward-propagation", arXiv:2503.24322 (2025), NoProp-DT.

The network is ``T`` blocks and a linear head. Block ``t`` maps the input ``x`` and a
noisy label embedding ``z_{t-1}`` to a guess ``u_hat_t(z_{t-1}, x)`` of the clean class
embedding ``u_y`` (row ``y`` of ``W_embed``). Training never chains the blocks: the input
``z_{t-1}`` of block ``t`` is drawn from the fixed noising process (eq. 6 of the paper)

    q(z_t | y) = N(sqrt(abar_t) u_y, (1 - abar_t) I),

and the NoProp-DT loss (eq. 8) is

    E_q(z_T|y)[-log p(y | z_T)] + KL(q(z_0|y) || N(0, I))
        + (T/2) eta E_t[(SNR(t) - SNR(t-1)) ||u_hat_t(z_{t-1}, x) - u_y||^2],

with ``SNR(t) = abar_t / (1 - abar_t)``. Each term touches one set of weights only (the
cross-entropy the head, the ``t``-th denoising term block ``t``), so each block's update
is the gradient of its own term; nothing travels between blocks, and no block sees
another block's output or weights while training.

Inference (Sec. 2.1) runs the chain ``z_0 -> z_1 -> ... -> z_T``:

    z_t = a_t u_hat_t(z_{t-1}, x) + b_t z_{t-1} (+ sqrt(c_t) eps_t),

    a_t = sqrt(abar_t) (1 - alpha_{t-1}) / (1 - abar_{t-1}),
    b_t = sqrt(alpha_{t-1}) (1 - abar_t) / (1 - abar_{t-1}),
    c_t = (1 - abar_t) (1 - alpha_{t-1}) / (1 - abar_{t-1}),  alpha_{t-1} = abar_{t-1} / abar_t,

the mean and variance of the posterior ``q(z_t | z_{t-1}, y)`` with ``u_y`` replaced by
the block's guess; the head's logits on ``z_T`` are the class scores.

What is local, and what is not:

- Block ``t`` reads ``x``, the label ``y`` (through ``u_y``) and fresh noise. Inside the
  block, the update of each of its layers is the exact gradient of the block's own
  squared error, taken by a hand-written backward pass through the block's layers (the
  chain rule *within* one block, including the derivative of the block's activation).
  This is a single-block gradient; no error crosses from one block to another.
- The head reads a noisy ``z_T`` drawn from ``q(z_T | y)`` and the label: its update is
  the gradient of its own cross-entropy.
- The blocks share nothing trainable: the class embeddings ``W_embed`` are fixed here.

Differences from the paper, on purpose:

- Blocks are MLPs on the concatenation ``[x, z]`` (``hidden_layer_sizes``), not the
  paper's CNN with separate image and label paths. As in the paper, a block ends in a
  softmax over the classes and predicts ``u_hat = softmax(.) @ W_embed``.
- ``W_embed`` is fixed (one-hot, or random orthonormal rows), the paper's fixed-embedding
  variants; the learned and prototype embeddings are left out. With it fixed the KL term
  of eq. (8) is a constant and is dropped.
- Every mini-batch updates every block (the sum over ``t`` instead of one sampled ``t``;
  the expectation of eq. (8) exactly, times ``T``). Each block and the head have their own
  Adam moments, so ``eta`` and the SNR weights set only the scale of each block's
  gradient, which Adam removes; they are kept for fidelity.
- The cosine schedule (Nichol and Dhariwal 2021, in NoProp's order: ``abar`` rises from
  ``abar_0 = 0`` to ``abar_T``) is capped at ``abar_T = 0.999`` so ``SNR(T)`` is finite.
- The head starts at zero (its cross-entropy is convex in it); from a random start it
  needs many more epochs to undo the initial scramble of classes.
- Prediction runs the chain without the noise ``sqrt(c_t) eps_t`` from ``z_0 = 0`` (the
  mean of ``p(z_0)``), so that it is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._array import asarray_like, get_xp
from .._random import check_rng, normal
from .._validate import check_choice, check_int, check_positive
from ..estimators import check_Xy
from ..models import MLP, derivative, with_ones
from ._estimator import LocalClassifier
from ._rule import Grads, LocalRule, LocalState, layer_grad, network, network_of, softmax

__all__ = ["NoPropClassifier", "NoPropDT", "noise_schedule"]

_ABAR_MAX = 0.999  # cap of abar_T, so that SNR(T) stays finite
_COSINE_OFFSET = 0.008  # s of the cosine schedule (Nichol and Dhariwal 2021)


def noise_schedule(n_blocks: int) -> dict[str, np.ndarray]:
    """Cosine schedule of NoProp-DT and the inference coefficients, as host arrays.

    Returns ``abar`` ``(T + 1,)`` (rising from 0 at ``t = 0`` to 0.999 at ``t = T``),
    ``snr`` ``(T + 1,)``, and ``a``, ``b``, ``c`` ``(T,)`` for ``t = 1..T``.

    Examples
    --------
    >>> s = noise_schedule(4)
    >>> np.round(s["abar"], 3)
    array([0.   , 0.144, 0.494, 0.847, 0.999])
    >>> bool(np.all(np.diff(s["snr"]) > 0)), s["a"].shape
    (True, (4,))
    """
    T = check_int(n_blocks, "n_blocks", low=1)
    off = _COSINE_OFFSET

    def f(u: float) -> float:
        return math.cos(0.5 * math.pi * (u + off) / (1 + off)) ** 2

    abar = np.asarray([f(1.0 - t / T) / f(0.0) for t in range(T + 1)])
    abar = np.clip(abar, 0.0, _ABAR_MAX)
    abar[0] = 0.0  # cos(pi/2)^2 up to rounding
    snr = abar / (1.0 - abar)
    prev, cur = abar[:-1], abar[1:]
    alpha_prev = prev / cur  # alpha_{t-1} = abar_{t-1} / abar_t
    a = np.sqrt(cur) * (1.0 - alpha_prev) / (1.0 - prev)
    b = np.sqrt(alpha_prev) * (1.0 - cur) / (1.0 - prev)
    c = (1.0 - cur) * (1.0 - alpha_prev) / (1.0 - prev)
    return {"abar": abar, "snr": snr, "a": a, "b": b, "c": c}


def _row_sum(M: Any) -> Any:
    """Row sums of `M` as a column ``(n, 1)``."""
    xp, _ = get_xp(M)
    return xp.sum(M, axis=1, keepdims=True)


@dataclass(frozen=True)
class NoPropDT(LocalRule):
    """NoProp-DT (Li, Teh and Pascanu 2025): ``T`` blocks, each trained alone to denoise.

    Block ``t`` is an MLP on ``[x, z_{t-1}]`` with hidden widths `hidden_layer_sizes` and a
    softmax output over the ``k`` classes; its guess of the class embedding is
    ``u_hat_t = softmax(.) @ W_embed``. Training draws ``z_{t-1} ~ q(z_{t-1} | y)`` for
    every block and descends ``(eta/2) (SNR(t) - SNR(t-1)) ||u_hat_t - u_y||^2`` (eq. 8);
    the linear head descends the cross-entropy of ``z_T ~ q(z_T | y)``. Each block's
    update is its own single-block gradient, computed by a hand-written backward pass
    through that block's layers only (it takes the derivative of the block's own
    activations); no signal passes between blocks, and the head's error never reaches a
    block. Prediction runs ``z_t = a_t u_hat_t(z_{t-1}, x) + b_t z_{t-1}`` from
    ``z_0 = 0`` (noise-free, deterministic) and returns the head's logits on ``z_T``.

    ``state.layers`` holds the blocks' layers in order (``len(hidden_layer_sizes) + 1``
    arrays per block, first layer ``(d + d_e + 1, h_1)``, last ``(h_L + 1, k)``), then the
    head ``(d_e + 1, k)``; ``state.fixed`` is ``(W_embed,)`` of shape ``(k, d_e)``.

    Parameters
    ----------
    hidden_layer_sizes, activation, batch_size, learning_rate
        See `LocalRule`; the hidden widths are those of each block.
    n_blocks : int, default=3
        ``T``, the number of blocks (diffusion steps).
    embedding : {'onehot', 'orthogonal'}, default='onehot'
        Fixed class embeddings: the identity (``d_e = k``), or ``k`` random orthonormal
        rows of length `embedding_dim`.
    embedding_dim : int or None, default=None
        ``d_e`` for ``'orthogonal'`` (at least ``k``; None means ``k``). Must be None for
        ``'onehot'``.
    eta : float, default=0.1
        Weight of the denoising terms in eq. (8). Under Adam it only rescales each
        block's gradient, which Adam undoes.

    Raises
    ------
    ValueError, TypeError
        For a bad hyperparameter, naming it; `init` raises ValueError if
        ``embedding_dim < k``.

    References
    ----------
    Li, Teh and Pascanu, arXiv:2503.24322 (2025): eq. (6) (``q(z_t | y)``), eq. (8)
    (the NoProp-DT loss), Sec. 2.1 (the posterior coefficients ``a_t, b_t, c_t`` and
    inference).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(60, 4))
    >>> Y = np.eye(3)[np.argmax(X[:, :3], axis=1)]
    >>> rule = NoPropDT(hidden_layer_sizes=(16,), n_blocks=3, learning_rate=0.01)
    >>> s0 = rule.init(X, Y, rng=0)
    >>> [W.shape for W in s0.layers[:2]], len(s0.layers)
    ([(8, 16), (17, 3)], 7)
    >>> s = s0
    >>> for _ in range(30):
    ...     s = rule.step(s, X, Y)
    >>> rule.objective(s, X, Y) < rule.objective(s0, X, Y), rule.decision_function(s, X).shape
    (True, (60, 3))
    """

    n_blocks: int = 3
    embedding: str = "onehot"
    embedding_dim: int | None = None
    eta: float = 0.1

    aligns: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self.n_blocks, "n_blocks", low=1)
        check_choice(self.embedding, "embedding", ("onehot", "orthogonal"))
        if self.embedding_dim is not None:
            if self.embedding == "onehot":
                raise ValueError(
                    "`embedding_dim` must be None for embedding='onehot' (d_e = k); "
                    f"got {self.embedding_dim!r}."
                )
            check_int(self.embedding_dim, "embedding_dim", low=1)
        check_positive(self.eta, "eta")

    @property
    def _per_block(self) -> int:
        return len(self.hidden_layer_sizes) + 1

    def _blocks(self, state: LocalState) -> list[tuple[Any, ...]]:
        n = self._per_block
        return [state.layers[t * n : (t + 1) * n] for t in range(self.n_blocks)]

    def _embedding_dim(self, k: int) -> int:
        return (
            k if self.embedding == "onehot" or self.embedding_dim is None else self.embedding_dim
        )

    def network(self, d: int, k: int) -> MLP:
        """One block's network, ``[x, z] -> hidden -> k`` (every block has this shape)."""
        sizes = (d + self._embedding_dim(k), *self.hidden_layer_sizes, k)
        return network(sizes, self.activation)

    def param_shapes(self, d: int, k: int) -> list[tuple[int, ...]]:
        """Every block's layer shapes, block after block, then the head ``(d_e + 1, k)``."""
        block = self.network(d, k).layer_shapes
        return [*block * self.n_blocks, (self._embedding_dim(k) + 1, k)]

    def init(self, X: Any, Y: Any, *, rng: Any = None, params: Any = None) -> LocalState:
        """Random blocks and zero head (or the starting network `params`: blocks, then the
        head), the fixed embeddings ``W_embed`` and zero Adam moments."""
        X, Y = check_Xy(X, Y)
        rng = check_rng(rng)
        d, k = X.shape[1], Y.shape[1]
        like = X[:1, 0]
        if self.embedding == "onehot":
            xp, dev = get_xp(X)
            W_embed = xp.eye(k, dtype=X.dtype, device=dev)
        else:
            d_e = k if self.embedding_dim is None else self.embedding_dim
            if d_e < k:
                raise ValueError(
                    f"`embedding_dim` must be at least the number of classes {k}; got {d_e}."
                )
            Q, _ = np.linalg.qr(rng.standard_normal((d_e, k)))  # host draw, orthonormal
            W_embed = asarray_like(Q.T, like)
        d_e = W_embed.shape[1]
        if params is None:
            layers: list[Any] = []
            for _ in range(self.n_blocks):
                layers += self.network(d, k).init_params(rng=rng, like=like)
            xp, dev = get_xp(X)
            layers.append(xp.zeros((d_e + 1, k), dtype=X.dtype, device=dev))  # the head
        else:
            layers = list(self.start_layers(d, k, like, rng, params))
        seed = int(rng.integers(2**31))
        opt = tuple(self._adam.init(W) for W in layers)
        return LocalState(tuple(layers), (), (W_embed,), opt, (d, k), seed=seed)

    def _block_forward(self, block: tuple[Any, ...], X: Any, Z: Any) -> tuple[list, list, Any]:
        """Pre-activations, layer inputs and softmax output of one block on ``[x, z]``."""
        xp, _ = get_xp(X)
        H, A = network_of(block, self.activation).forward_cache(block, xp.concat([X, Z], axis=1))
        return A, H, softmax(A[-1])

    def local_grads(self, state: LocalState, X: Any, Y: Any, rng: np.random.Generator) -> Grads:
        """Each block's own denoising gradient (eq. 8) and the head's cross-entropy gradient."""
        sched = noise_schedule(self.n_blocks)
        mean = [math.sqrt(float(v)) for v in sched["abar"]]  # sqrt(abar_t)
        std = [math.sqrt(1.0 - float(v)) for v in sched["abar"]]  # sqrt(1 - abar_t)
        snr = [float(v) for v in sched["snr"]]
        (W_embed,) = state.fixed
        n, d_e = X.shape[0], W_embed.shape[1]
        U = Y @ W_embed  # u_y, one row per example
        grads: list[Any] = []
        for t, block in enumerate(self._blocks(state), start=1):
            eps = normal(rng, (n, d_e), like=X)
            Z = mean[t - 1] * U + std[t - 1] * eps  # z_{t-1} ~ q(z_{t-1} | y), eq. (6)
            A, H, P = self._block_forward(block, X, Z)
            U_hat = P @ W_embed
            weight = self.eta * (snr[t] - snr[t - 1])
            g_u = (weight / n) * (U_hat - U)  # eq. (8): d/du_hat of (eta/2) w ||u_hat - u_y||^2
            g_p = g_u @ W_embed.T
            delta = P * (g_p - _row_sum(P * g_p))  # through the block's own softmax
            block_grads: list[Any] = [None] * len(block)
            for i in range(len(block) - 1, -1, -1):  # backward pass inside this block only
                block_grads[i] = layer_grad(H[i], delta)
                if i > 0:
                    delta = (delta @ block[i][:-1, :].T) * derivative(self.activation, A[i - 1])
            grads += block_grads
        eps = normal(rng, (n, d_e), like=X)
        Z_T = mean[-1] * U + std[-1] * eps  # z_T ~ q(z_T | y), eq. (6)
        head = state.layers[-1]
        e = (softmax(with_ones(Z_T) @ head) - Y) / n  # eq. (8): the head's cross-entropy
        grads.append(layer_grad(Z_T, e))
        return grads, []

    def decision_function(self, state: LocalState, X: Any) -> Any:
        """Head logits ``(n, k)`` on ``z_T`` of the noise-free chain from ``z_0 = 0``."""
        xp, dev = get_xp(X)
        sched = noise_schedule(self.n_blocks)
        (W_embed,) = state.fixed
        Z = xp.zeros((X.shape[0], W_embed.shape[1]), dtype=X.dtype, device=dev)
        for t, block in enumerate(self._blocks(state)):
            _, _, P = self._block_forward(block, X, Z)
            Z = float(sched["a"][t]) * (P @ W_embed) + float(sched["b"][t]) * Z  # Sec. 2.1
        return with_ones(Z) @ state.layers[-1]


class NoPropClassifier(LocalClassifier, rule=NoPropDT):
    """Scikit-learn-style classifier trained by NoProp-DT (Li, Teh and Pascanu 2025).

    Parameters are the fields of `NoPropDT`, plus ``max_iter`` (epochs) and ``rng``.
    ``layers_`` holds every block's layers, then the head.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(60, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = NoPropClassifier((16,), n_blocks=3, learning_rate=0.01, max_iter=20, rng=0)
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    """
