"""Act 2: digits without backpropagation, against scikit-learn's `MLPClassifier`.

Three families train the same kind of one-hidden-layer network on scikit-learn's
bundled digits (1347 training and 450 test images): direct feedback alignment (a
local rule: the output error reaches the hidden layer through a fixed random matrix;
Nokland 2016), online alternating minimization (layer-local problems on auxiliary
codes; Choromanska et al. 2019) and ensemble Kalman inversion (the network as a
black-box model fitted to one-hot labels; Kovachki & Stuart 2019).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from .._minimize import minimize
from ..altmin import OnlineAMClassifier
from ..datasets import load_digits
from ..kalman import EKI
from ..local import DFAClassifier
from ..models import MLP, residual
from ._table import Act, secs

__all__ = ["digits_act"]


def _eki_digits(data: Any, hidden: int, rounds: int, seed: int) -> tuple[float, int]:
    """EKI on minibatches of 128, in rounds that re-spread a fresh ensemble around the mean."""
    net = MLP((64, hidden, 10), activations="tanh")
    r = residual(net, data.X_train, data.y_train, batch_size=128, rng=seed, noise_std=0.1)
    w, nfev = net.init_flat(rng=seed), 0
    for k in range(rounds):
        res = minimize(
            r, w, method=EKI(n_ensemble=100, sigma0=0.1), rng=seed + k, workers="vectorized",
            maxiter=20,
        )  # fmt: skip
        w, nfev = res.state.ensemble.mean(axis=0), nfev + res.nfev
    return float((net.predict(w, data.X_test) == data.y_test).mean()), nfev


def _trainers(hidden: int, epochs: int, seed: int) -> dict[str, Any]:
    from sklearn.neural_network import MLPClassifier

    return {
        "scikit-learn MLPClassifier (backprop, Adam)": MLPClassifier(
            (hidden,), max_iter=epochs * 5, random_state=seed
        ),
        "gradfree local.DFAClassifier (direct feedback alignment)": DFAClassifier(
            (hidden,), max_iter=epochs, learning_rate=3e-3, rng=seed
        ),
        "gradfree altmin.OnlineAMClassifier": OnlineAMClassifier(
            (hidden,), max_iter=epochs // 2, rng=seed
        ),
    }


def digits_act(*, quick: bool, seed: int, maxfev: int | None) -> Act:
    """Train on digits with DFA, online AM, EKI and backprop; accuracy and seconds."""
    from sklearn.exceptions import ConvergenceWarning

    del maxfev  # these trainers count epochs, not evaluations
    start = time.perf_counter()
    hidden, epochs, rounds = (32, 10, 2) if quick else (64, 40, 8)
    seeds = [seed] if quick else [seed, seed + 1, seed + 2]
    got: dict[str, list[tuple[float, float]]] = {}
    nfev = 0
    for s in seeds:
        data = load_digits(rng=s)  # a fresh stratified split per seed
        for name, est in _trainers(hidden, epochs, s).items():
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed epoch budget
                est.fit(data.X_train, data.y_train)
            seconds = time.perf_counter() - t0
            got.setdefault(name, []).append((float(est.score(data.X_test, data.y_test)), seconds))
        t0 = time.perf_counter()
        eki_accuracy, nfev = _eki_digits(data, hidden, rounds, s)
        got.setdefault("gradfree EKI", []).append((eki_accuracy, time.perf_counter() - t0))
    rows: list[list[Any]] = []
    for name, values in got.items():
        a = np.asarray(values)
        spread = f" ± {a[:, 0].std(ddof=1):.3f}" if len(seeds) > 1 else ""
        rows.append([name, f"{a[:, 0].mean():.3f}{spread}", secs(a[:, 1].mean())])
    accuracy = {name: float(np.mean([v[0] for v in values])) for name, values in got.items()}
    times = [float(np.mean([v[1] for v in values])) for values in got.values()]
    names = list(got)
    backprop = accuracy[names[0]]
    best = max(names[1:], key=accuracy.__getitem__)
    reading = (
        f"Best without backprop: {best} at {accuracy[best]:.3f} against {backprop:.3f} for "
        f"backprop ({accuracy[best] - backprop:+.3f}). EKI needs no derivative of anything "
        f"(the network is a black box: {nfev} network evaluations per fit) and took "
        f"{times[-1] / times[0]:.1f}x backprop's time."
    )
    return Act(
        title="2. Digits trained without backpropagation",
        setting=(
            f"64-{hidden}-10 network on scikit-learn's digits (1347 train / 450 test "
            f"images); DFA {epochs} epochs, online AM {epochs // 2}, EKI {rounds} rounds "
            f"of 20 minibatches, MLPClassifier up to {epochs * 5} epochs; test accuracy, "
            f"mean over {len(seeds)} seeds (splits and initializations)."
        ),
        header=["trainer", "test accuracy", "seconds"],
        rows=rows,
        reading=reading,
        seconds=time.perf_counter() - start,
        plot={"names": names, "accuracy": list(accuracy.values()), "seconds": times},
    )
