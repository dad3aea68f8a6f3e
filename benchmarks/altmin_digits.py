"""Digits: BCD, ADMM, online AM, OpenAI-ES and EKI against scikit-learn's MLPClassifier.

Same architecture (one hidden ReLU layer of 64 by default, ``--hidden``) and epochs:
full-batch sweeps for BCD/ADMM (with the closing readout refit, and without it as the
papers' algorithms: ``bcd_paper``, ``admm_paper``),
epochs of batch 200 for online AM-mem (5 code steps per batch) and AM-Adam (1 code step,
which was as accurate and faster than 5 on digits), ``max_iter`` Adam epochs for
MLPClassifier (backprop). OpenAI-ES (`gradfree.minimize` on `gradfree.models.objective`,
cross-entropy, ``workers='vectorized'``, population 100) and EKI (`gradfree.models.residual`,
softmax outputs, 100 members, rounds of 20 generations re-spread around the mean, as in
``examples/digits_es_eki.py``) see one minibatch of 128 per generation and run as many
generations as there are minibatches in ``epochs`` epochs (same data passes; each
generation evaluates 100 networks). 3 seeds by default (``--seeds``), standardized inputs.
Reports test accuracy and wall time per epoch (BLAS pinned to 1 thread); the
readout-only control (random frozen hidden layer + ridge readout) shows what the hidden
layer adds.

Run: ``python benchmarks/altmin_digits.py [--quick] [--hidden 256]``; writes
``benchmarks/results/altmin_digits.json`` (``altmin_digits_<hidden>.json`` for another
width).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # pinned before NumPy is imported: comparable single-core timings

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine_info  # noqa: E402

import gradfree  # noqa: E402
from gradfree import OpenES, minimize  # noqa: E402
from gradfree.altmin import (  # noqa: E402
    ADMMClassifier,
    BCDClassifier,
    OnlineAMClassifier,
    ReadoutOnlyClassifier,
)
from gradfree.datasets import load_digits  # noqa: E402
from gradfree.kalman import EKI, DataMisfitController  # noqa: E402
from gradfree.models import MLP, objective, residual  # noqa: E402

ES_BATCH, POP = 128, 100


class _FlatNet:
    """`gradfree.models.MLP` trained by OpenAI-ES or EKI, with ``fit``/``score``."""

    def __init__(self, method: str, hidden: int, epochs: int, seed: int) -> None:
        self.method, self.hidden, self.epochs, self.seed = method, hidden, epochs, seed

    def fit(self, X: np.ndarray, y: np.ndarray) -> _FlatNet:
        self.net = MLP((X.shape[1], self.hidden, int(y.max()) + 1), activations="relu")
        w = self.net.init_flat(rng=self.seed)
        gens = self.epochs * -(-X.shape[0] // ES_BATCH)
        if self.method == "es":
            f = objective(self.net, X, y, batch_size=ES_BATCH, rng=self.seed)
            es = OpenES(popsize=POP, sigma=0.05, learning_rate=0.03)
            res = minimize(f, w, method=es, rng=self.seed, workers="vectorized", maxiter=gens)
            self.w = res.state.mean  # the search mean, not the luckiest minibatch's best
            return self
        r = residual(self.net, X, y, batch_size=ES_BATCH, rng=self.seed, noise_std=0.1)
        for k in range(gens // 20):
            eki = EKI(
                n_ensemble=POP,
                sigma0=0.1,
                scheduler=DataMisfitController(on_terminate="continue"),
            )
            rng = 1000 * self.seed + k
            res = minimize(r, w, method=eki, rng=rng, workers="vectorized", maxiter=20)
            w = res.state.ensemble.mean(axis=0)
        self.w = w
        return self

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.net.predict(self.w, X) == y))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 30 epochs")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=3, help="seeds (full run)")
    args = parser.parse_args()
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    seeds = range(2) if args.quick else range(args.seeds)
    epochs = 30 if args.quick else 100
    h = (args.hidden,)
    data = load_digits()
    mu, sd = data.X_train.mean(0), data.X_train.std(0) + 1e-8
    X, Xt = (data.X_train - mu) / sd, (data.X_test - mu) / sd
    y, yt = data.y_train, data.y_test
    makers = {
        "bcd": lambda s: BCDClassifier(h, alpha=0.1, max_iter=epochs, rng=s),
        "bcd_paper": lambda s: BCDClassifier(
            h, alpha=0.1, max_iter=epochs, readout_ridge=None, rng=s
        ),
        "admm": lambda s: ADMMClassifier(h, beta=0.1, gamma=0.1, max_iter=epochs, rng=s),
        "admm_paper": lambda s: ADMMClassifier(
            h, beta=0.1, gamma=0.1, max_iter=epochs, readout_ridge=None, rng=s
        ),
        "online_am_mem": lambda s: OnlineAMClassifier(h, max_iter=epochs, rng=s),
        "online_am_adam": lambda s: OnlineAMClassifier(
            h, weight_update="adam", n_code_steps=1, max_iter=epochs, rng=s
        ),
        "openai_es": lambda s: _FlatNet("es", args.hidden, epochs, s),
        "eki": lambda s: _FlatNet("eki", args.hidden, epochs, s),
        "readout_only": lambda s: ReadoutOnlyClassifier(h, rng=s),
        "sklearn_mlp_adam": lambda s: MLPClassifier(
            h, max_iter=epochs, random_state=s, tol=0.0, n_iter_no_change=epochs + 1
        ),
    }
    rows = {}
    for name, make in makers.items():
        accs, times = [], []
        for s in seeds:
            clf = make(s)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X, y)
            times.append(time.perf_counter() - t0)
            accs.append(float(clf.score(Xt, yt)))
        per_epoch = [t / (1 if name == "readout_only" else epochs) for t in times]
        rows[name] = {
            "test_accuracy": accs,
            "mean_accuracy": float(np.mean(accs)),
            "std_accuracy": float(np.std(accs)),
            "time_per_epoch_s": float(np.median(per_epoch)),
            "fit_time_s": float(np.median(times)),
        }
        print(
            f"{name:18s} acc {np.mean(accs):.4f} +- {np.std(accs):.4f}  "
            f"{1e3 * np.median(per_epoch):.2f} ms/epoch",
            flush=True,
        )
    report = {
        "benchmark": "altmin_digits",
        "protocol": {
            "data": "sklearn digits, gradfree.datasets.load_digits split, standardized",
            "hidden_layer_sizes": list(h),
            "epochs": epochs,
            "seeds": list(seeds),
            "bcd": {"gamma": 1.0, "rho": 1.0, "alpha": 0.1, "readout_ridge": 1.0},
            "bcd_paper": {"gamma": 1.0, "rho": 1.0, "alpha": 0.1, "readout_ridge": None},
            "admm": {
                "beta": 0.1,
                "gamma": 0.1,
                "warmup": 5,
                "loss": "square",
                "penalties": "picked from 8 (beta, gamma) pairs in [0.01, 10] by accuracy on "
                "a stratified 20% validation split of the training set, seed 0, 64 hidden",
                "readout_ridge": 1.0,
                "admm_paper": "the same without the readout refit (readout_ridge=None)",
            },
            "online_am_mem": {"mu": 0.1, "forget": 0.5, "batch_size": 200, "n_code_steps": 5},
            "online_am_adam": {
                "mu": 0.1,
                "batch_size": 200,
                "n_code_steps": 1,
                "learning_rate": 0.008,
                "n_weight_steps": 1,
            },
            "openai_es": {
                "popsize": POP,
                "sigma": 0.05,
                "learning_rate": 0.03,
                "batch_size": ES_BATCH,
                "loss": "cross_entropy",
                "generations": epochs * -(-X.shape[0] // ES_BATCH),
                "weights": "search mean",
            },
            "eki": {
                "n_ensemble": POP,
                "sigma0": 0.1,
                "noise_std": 0.1,
                "scheduler": "DataMisfitController",
                "rounds_of_20_generations": epochs * -(-X.shape[0] // ES_BATCH) // 20,
                "batch_size": ES_BATCH,
                "link": "softmax",
            },
            "sklearn": "MLPClassifier(adam, batch 200, lr 1e-3), max_iter = epochs",
        },
        "machine": machine_info(),
        "blas_threads": 1,
        "versions": {
            "gradfree": getattr(gradfree, "__version__", "unknown"),
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "results": rows,
    }
    name = "altmin_digits" + ("" if args.hidden == 64 else f"_{args.hidden}")
    out = Path(__file__).resolve().parent / "results" / f"{name}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
