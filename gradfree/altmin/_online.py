"""Online alternating minimization with auxiliary variables (AM-mem and AM-Adam, square loss).

Reference: A. Choromanska, B. Cowen, S. Kumaravel, R. Luss, M. Rigotti, I. Rish,
B. Kingsbury, P. DiAchille, V. Gurev, R. Tejwani and D. Bouneffouf, "Beyond Backprop:
Online Alternating Minimization with Auxiliary Variables", ICML 2019 (arXiv:1806.09077),
Algorithm 1 (mini-batch loop), Algorithm 2 (AM-mem weight update) and the AM-Adam weight
update of the authors' released code (IBM/online-alt-min, ``run_altmin_sgd.py``).

Codes ``c_l`` are the hidden pre-activations. Per mini-batch the objective is::

    1/2 ||[f(c_{L-1}), 1] W_L - Y||^2 + mu * sum_{l<L} ||c_l - [f(c_{l-1}), 1] W_l||^2

with ``f = relu`` and ``f(c_0) = X``. Codes start at the forward pass and are updated from
the top down by `n_code_steps` gradient steps (step ``1 / Lipschitz bound``); weights are then
refitted layer by layer from memory matrices ``A_l = eta A_l + a^T a``,
``B_l = eta B_l + a^T t`` (``a = [f(c_{l-1}), 1]``, ``t`` the next code or ``Y``), by the
exact minimizer of the surrogate ``tr(W^T A W)/2 - tr(W^T B)`` (plus a ridge), which
is the fixed point of the paper's column-wise coordinate updates
(``weight_update='mem'``). With ``weight_update='adam'`` (AM-Adam) each layer instead takes
`n_weight_steps` Adam steps (`gradfree.updates.Adam`) per mini-batch on its own local loss
with the codes fixed: ``mu/n ||a W_l - c_l||^2`` for hidden layers and
``1/(2n) ||a W_L - Y||^2`` for the output layer (``n`` the batch size); the Adam moments
persist across mini-batches. The paper's schedule (learning rate halved every 8 epochs) is
not applied; the learning rate is constant.

**This trainer uses local one-layer derivatives** (for the code steps, and for the weights
under AM-Adam): it is backprop-free (no chain rule across layers) but not derivative-free,
unlike `BCD` and `ADMM`. The output layer uses the square loss on one-hot targets (the
paper uses cross-entropy) so that every AM-mem weight update is closed form.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .._array import get_xp
from .._random import check_rng
from .._validate import check_int, check_positive
from ..estimators import NetworkSolver, OnlineNetworkClassifier, check_Xy, epoch_batches
from ..models import activate, with_ones
from ..updates import Adam

__all__ = ["OnlineAM", "OnlineAMClassifier", "OnlineAMState"]


@dataclass(frozen=True)
class OnlineAMState:
    """Weights, memory matrices and optimizer moments of an online AM run.

    Attributes
    ----------
    layers : tuple of arrays
        ``(d_{l-1} + 1, d_l)`` per layer, bias as last row.
    A, B : tuple of arrays
        Memory ``(d_{l-1} + 1, d_{l-1} + 1)`` and ``(d_{l-1} + 1, d_l)`` per layer
        (``weight_update='mem'``); empty tuples for ``'adam'``.
    seed : int
        Seeds the per-epoch shuffles (drawn from `rng` in `init`).
    sweep : int
        Epochs done.
    opt : tuple of gradfree.updates.AdamState or None
        Adam moments per layer (``weight_update='adam'``); None for ``'mem'``.
    loss_sum : 0-d array or None
        Summed square loss of the forward passes seen so far in the current epoch.
    epoch_loss : 0-d array or None
        Mean of those losses over the last complete epoch (see `OnlineAM.objective`).
    """

    layers: tuple[Any, ...]
    A: tuple[Any, ...]
    B: tuple[Any, ...]
    seed: int
    sweep: int = 0
    opt: tuple[Any, ...] | None = None
    loss_sum: Any = None
    epoch_loss: Any = None


@dataclass(frozen=True)
class OnlineAM(NetworkSolver):
    """Online AM-mem or AM-Adam (Choromanska et al. 2019) for a ReLU MLP with square loss.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
    mu : float, default=0.1
        Weight of the code-proximity terms ``||c_l - W_l f(c_{l-1})||^2``.
    n_code_steps : int, default=5
        Gradient steps per code layer and mini-batch (the paper's ``n_iter_codes``).
    batch_size : int, default=200
    forget : float, default=0.5
        Memory forgetting factor ``eta`` in ``(0, 1]``.
    ridge : float, default=1.0
        Ridge added to the memory matrices (``'mem'`` only). It keeps each refit well
        posed when a layer is wider than the mini-batch: at 1e-4, AM-mem on MNIST with
        three layers of 1000 and batches of 256 blew up (weights ~1e6 in float32). On
        digits 1.0 also gave the best test accuracy of {1e-4, 1e-2, 0.1, 1}.
    weight_update : {'mem', 'adam'}, default='mem'
        ``'mem'``: closed-form refit from memory matrices (AM-mem). ``'adam'``: Adam steps
        on each layer's local loss, codes fixed (AM-Adam).
    learning_rate : float, default=0.008
        Adam step size (``'adam'`` only; the paper's default).
    n_weight_steps : int, default=1
        Adam steps per layer and mini-batch (``'adam'`` only; the paper uses 1).
    n_jobs : int, default=1
        Threads for the weight updates, which are independent per layer once the codes
        are fixed (joblib, ``prefer='threads'``; the matrix products and solves release
        the GIL; AM-mem on three layers of 1000 ran 1.27x faster with 2 threads in
        ``benchmarks/local_parallel.py``, AM-Adam gained nothing). The code updates are
        one batched array call per layer over all samples of the mini-batch, parallel
        through BLAS on CPU and through CuPy on a GPU.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(30, 4))
    >>> Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    >>> am = OnlineAM(hidden_layer_sizes=(6,), batch_size=10)
    >>> s = am.step(am.init(X, Y, rng=0), X, Y)
    >>> [W.shape for W in s.layers], s.sweep
    ([(5, 6), (7, 2)], 1)
    >>> am = OnlineAM(hidden_layer_sizes=(6,), batch_size=10, weight_update="adam")
    >>> s = am.step(am.init(X, Y, rng=0), X, Y)
    >>> [st.count for st in s.opt]
    [3, 3]
    """

    hidden_layer_sizes: tuple[int, ...] = (100,)
    mu: float = 0.1
    n_code_steps: int = 5
    batch_size: int = 200
    forget: float = 0.5
    ridge: float = 1.0
    weight_update: str = "mem"
    learning_rate: float = 0.008
    n_weight_steps: int = 1
    n_jobs: int = 1

    def __post_init__(self) -> None:
        sizes = tuple(self.hidden_layer_sizes)
        for h in sizes:
            check_int(h, "hidden_layer_sizes", low=1)
        object.__setattr__(self, "hidden_layer_sizes", sizes)
        check_positive(self.mu, "mu")
        check_int(self.n_code_steps, "n_code_steps", low=0)
        check_int(self.batch_size, "batch_size", low=1)
        if not 0.0 < float(self.forget) <= 1.0:
            raise ValueError(f"`forget` must be in (0, 1]; got {self.forget!r}.")
        check_positive(self.ridge, "ridge")
        if self.weight_update not in ("mem", "adam"):
            raise ValueError(
                f"`weight_update` must be 'mem' or 'adam'; got {self.weight_update!r}."
            )
        check_positive(self.learning_rate, "learning_rate")
        check_int(self.n_weight_steps, "n_weight_steps", low=1)
        check_int(self.n_jobs, "n_jobs", low=1)

    def _per_layer(self, update: Any, n_layers: int) -> list[Any]:
        """``[update(i) for i in range(n_layers)]``, in `n_jobs` threads when asked."""
        if self.n_jobs == 1 or n_layers == 1:
            return [update(i) for i in range(n_layers)]
        from joblib import Parallel, delayed

        return Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(update)(i) for i in range(n_layers)
        )

    @property
    def _adam(self) -> Adam:
        return Adam(learning_rate=float(self.learning_rate))

    def init(self, X: Any, Y: Any, *, rng: Any = None, params: Any = None) -> OnlineAMState:
        """He-scaled random weights (or the starting network `params`) and empty memory
        (or zero Adam moments)."""
        X, Y = check_Xy(X, Y)
        xp, dev = get_xp(X)
        rng = check_rng(rng)
        layers = self.start_layers(X.shape[1], Y.shape[1], X[:1, 0], rng, params)
        seed = int(rng.integers(2**31))
        if self.weight_update == "adam":
            opt = tuple(self._adam.init(W) for W in layers)
            return OnlineAMState(layers, (), (), seed=seed, opt=opt)
        A = tuple(xp.zeros((W.shape[0], W.shape[0]), dtype=X.dtype, device=dev) for W in layers)
        B = tuple(xp.zeros_like(W) for W in layers)
        return OnlineAMState(layers, A, B, seed=seed)

    def partial_step(self, state: OnlineAMState, Xb: Any, Yb: Any) -> OnlineAMState:
        """One mini-batch: forward, codes top-down (Alg. 1), then weights (Alg. 2 or Adam)."""
        xp, dev = get_xp(Xb)
        W = list(state.layers)
        L = len(W)
        inputs, pre = self.network(Xb.shape[1], Yb.shape[1]).forward_cache(W, Xb)
        codes = pre[:-1]  # the forward pass initializes the codes
        loss = 0.5 * xp.sum((pre[-1] - Yb) ** 2)  # before this batch's update
        state = replace(state, loss_sum=loss if state.loss_sum is None else state.loss_sum + loss)
        mu = self.mu
        for i in range(L - 2, -1, -1):  # top-down code updates, local one-layer derivatives
            Wt, bias = W[i + 1][:-1, :], W[i + 1][-1:, :]
            target = Yb if i == L - 2 else codes[i + 1]
            scale = 1.0 if i == L - 2 else 2.0 * mu  # loss_next weight
            lip = scale * xp.sum(Wt**2) + 2.0 * mu  # on the device: no host sync per batch
            c0 = codes[i]
            c = c0
            for _ in range(self.n_code_steps):
                r = activate("relu", c) @ Wt + bias - target
                mask = xp.astype(c > 0, c.dtype)
                g = scale * (r @ Wt.T) * mask + 2.0 * mu * (c - c0)
                c = c - g / lip
            codes[i] = c
        inputs = [Xb, *(activate("relu", c) for c in codes)]
        targets = [*codes, Yb]
        if self.weight_update == "adam":
            return self._adam_weights(state, W, inputs, targets)
        eta = float(self.forget)

        def refit(i: int) -> tuple[Any, Any, Any]:  # layer-local: W_l fits a -> t from memory
            a = with_ones(inputs[i])
            A = eta * state.A[i] + a.T @ a
            B = eta * state.B[i] + a.T @ targets[i]
            eye = xp.eye(A.shape[0], dtype=a.dtype, device=dev)
            return xp.linalg.solve(A + self.ridge * eye, B), A, B

        new, A, B = zip(*self._per_layer(refit, L))
        return replace(state, layers=tuple(new), A=tuple(A), B=tuple(B))

    def _adam_weights(
        self, state: OnlineAMState, W: list[Any], inputs: list[Any], targets: list[Any]
    ) -> OnlineAMState:
        """AM-Adam: Adam steps on each layer's local loss, codes fixed (layer-independent)."""
        rule, moments = self._adam, state.opt
        assert moments is not None  # weight_update='adam' keeps one Adam state per layer
        L, n = len(W), inputs[0].shape[0]

        def adam_steps(i: int) -> tuple[Any, Any]:  # layer-local, independent of the others
            a, Wi, opt = with_ones(inputs[i]), W[i], moments[i]
            scale = (1.0 if i == L - 1 else 2.0 * self.mu) / n  # d/dW of the local loss
            for _ in range(self.n_weight_steps):
                grad = scale * (a.T @ (a @ Wi - targets[i]))
                delta, opt = rule.step(grad, opt)
                Wi = Wi + delta
            return Wi, opt

        new, opt = zip(*self._per_layer(adam_steps, L))
        return replace(state, layers=tuple(new), opt=tuple(opt))

    def step(self, state: OnlineAMState, X: Any, Y: Any) -> OnlineAMState:
        """One epoch over mini-batches of ``(X, Y)``, shuffled by ``(seed, epoch)``."""
        state = replace(state, loss_sum=None)
        for Xb, Yb in epoch_batches(X, Y, self.batch_size, state.seed, state.sweep):
            state = self.partial_step(state, Xb, Yb)
        epoch_loss = state.loss_sum / X.shape[0]
        return replace(state, sweep=state.sweep + 1, epoch_loss=epoch_loss, loss_sum=None)

    def objective(self, state: OnlineAMState, X: Any, Y: Any) -> float:
        """Training square loss ``1/2 mean_i ||out_i - y_i||^2``.

        After an epoch it is the mean over that epoch of the loss of the forward pass each
        mini-batch saw before its update (as scikit-learn's ``loss_curve_``), which costs
        no extra pass over the data; before the first epoch, that of a full forward pass.
        """
        if state.epoch_loss is not None:
            return float(state.epoch_loss)
        xp, _ = get_xp(X)
        out = self.decision_function(state, X)
        return float(0.5 * xp.sum((out - Y) ** 2)) / X.shape[0]


class OnlineAMClassifier(OnlineNetworkClassifier, solver=OnlineAM, max_iter=20):
    """Scikit-learn classifier trained by online AM (Choromanska et al., ICML 2019).

    Uses local one-layer derivatives for the code updates (see `OnlineAM`).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
    mu, n_code_steps, batch_size, forget, ridge, weight_update, learning_rate
        See `OnlineAM`.
    n_weight_steps, n_jobs
        See `OnlineAM`; ``weight_update='adam'`` gives AM-Adam.
    max_iter : int, default=20
        Epochs for `fit`.
    tol, warm_start, init_params, rng
        See `gradfree.estimators.NetworkClassifier`.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(60, 2))
    >>> y = (X[:, 0] > X[:, 1]).astype(int)
    >>> clf = OnlineAMClassifier((16,), batch_size=20, max_iter=5, rng=0).fit(X, y)
    >>> clf.partial_fit(X[:20], y[:20]).predict(X[:3]).shape
    (3,)
    >>> adam = OnlineAMClassifier((16,), batch_size=20, max_iter=5, weight_update="adam", rng=0)
    >>> adam.fit(X, y).partial_fit(X[:20], y[:20]).state_.opt[0].count
    16
    """
