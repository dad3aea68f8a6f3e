"""Digits: a 64-32-10 MLP trained by minibatched EKI against backprop at equal epochs.

EKI (Kovachki & Stuart 2019): `gradfree.kalman.solve_minibatched` on an
`ObservationSeries` of one-hot labels (``k = 10`` numbers per image, ``Gamma = 0.1^2 I``)
with a seeded `RandomFixedSizeMinibatcher` of 128 images, so one epoch is
``N // 128`` iterations (the remainder is dropped, as scikit-learn's Adam does not).
The forward map is the softmax of the flattened MLP evaluated for the whole ensemble
at once (``workers='vectorized'``). EKI stays in the span of its initial ensemble, so
it runs in rounds of `--round` epochs, each re-spreading a fresh ensemble
(``sigma0 = 0.1``) around the last mean, as in ``examples/digits_es_eki.py``.
Backprop: scikit-learn's `MLPClassifier` with the same architecture (one tanh hidden
layer of 32), Adam (default step 1e-3, and 1e-2), batch 128, ``max_iter`` = epochs.
5 seeds; test accuracy mean and sd, and wall time per epoch with BLAS pinned to one
thread.

Run: ``python benchmarks/eki_digits.py [--quick]``; writes
``benchmarks/results/eki_digits.json`` (``eki_digits_quick.json``).
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
from gradfree.datasets import load_digits  # noqa: E402
from gradfree.kalman import (  # noqa: E402
    ObservationSeries,
    RandomFixedSizeMinibatcher,
    solve_minibatched,
)
from gradfree.models import MLP  # noqa: E402


def softmax(Z):
    Z = Z - Z.max(axis=-1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=-1, keepdims=True)


def train_eki(data, epochs, seed, *, batch, n_ensemble, round_epochs, noise_std):
    net = MLP((64, 32, 10), activations="tanh")
    X = data.X_train
    onehot = np.eye(10)[data.y_train]

    def forward(U, idx):
        return softmax(net.forward(U, X[idx]))  # (J, b, 10)

    w = net.init_flat(rng=seed)
    done, nfev = 0, 0
    while done < epochs:
        n = min(round_epochs, epochs - done)
        mb = RandomFixedSizeMinibatcher(batch, rng=1000 * seed + done)
        series = ObservationSeries(onehot, noise_std**2, minibatcher=mb)
        res = solve_minibatched(
            forward,
            series,
            "eki",
            x0=w,
            n_ensemble=n_ensemble,
            epochs=n,
            rng=1000 * seed + done + 500,
            workers="vectorized",
            options={"sigma0": 0.1},
        )
        w, nfev, done = res.x, nfev + res.nfev, done + n
    acc = float((net.predict(w, data.X_test) == data.y_test).mean())
    return acc, nfev


def train_sklearn(data, epochs, seed, *, batch, lr=1e-3):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=(32,),
        activation="tanh",
        solver="adam",
        learning_rate_init=lr,
        batch_size=batch,
        max_iter=epochs,
        n_iter_no_change=epochs + 1,
        tol=0.0,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(data.X_train, data.y_train)
    return float(clf.score(data.X_test, data.y_test)), clf.n_iter_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 4 epochs")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--round", type=int, default=2, help="EKI epochs per re-spread")
    parser.add_argument("--ensemble", type=int, default=100)
    args = parser.parse_args()
    import sklearn

    seeds = list(range(2)) if args.quick else list(range(5))
    epochs = args.epochs or (4 if args.quick else 30)
    batch, noise_std = 128, 0.1
    data = load_digits(rng=0)  # 1347 train / 450 test, pixels in [0, 1]
    lrs = {"sklearn-adam": 1e-3, "sklearn-adam-lr0.01": 1e-2}
    rows = {"eki": [], **{name: [] for name in lrs}}
    times = {name: [] for name in rows}
    for seed in seeds:
        t0 = time.perf_counter()
        acc, nfev = train_eki(
            data,
            epochs,
            seed,
            batch=batch,
            n_ensemble=args.ensemble,
            round_epochs=args.round,
            noise_std=noise_std,
        )
        times["eki"].append((time.perf_counter() - t0) / epochs)
        rows["eki"].append(acc)
        print(f"seed {seed}: eki {acc:.3f} ({nfev} member evaluations)", end="")
        for name, lr in lrs.items():
            t0 = time.perf_counter()
            acc_sk, _ = train_sklearn(data, epochs, seed, batch=batch, lr=lr)
            times[name].append((time.perf_counter() - t0) / epochs)
            rows[name].append(acc_sk)
            print(f", {name} {acc_sk:.3f}", end="")
        print()
    summary = {
        name: {
            "test_accuracy": accs,
            "accuracy_mean": float(np.mean(accs)),
            "accuracy_sd": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
            "seconds_per_epoch_mean": float(np.mean(times[name])),
            "seconds_per_epoch_sd": float(np.std(times[name], ddof=1)) if len(accs) > 1 else 0.0,
        }
        for name, accs in rows.items()
    }
    for name, s in summary.items():
        print(
            f"{name:13s} accuracy {s['accuracy_mean']:.3f} ± {s['accuracy_sd']:.3f}   "
            f"{1e3 * s['seconds_per_epoch_mean']:.1f} ms/epoch"
        )
    report = {
        "benchmark": "eki_digits",
        "description": __doc__.strip().split("\n\n")[0],
        "setup": {
            "architecture": [64, 32, 10],
            "activation": "tanh",
            "epochs": epochs,
            "batch_size": batch,
            "seeds": seeds,
            "eki": {
                "n_ensemble": args.ensemble,
                "round_epochs": args.round,
                "sigma0": 0.1,
                "noise_std": noise_std,
                "scheduler": "DataMisfitController(on_terminate='continue')",
                "iterations_per_epoch": len(data.y_train) // batch,
            },
            "sklearn": {"solver": "adam", "max_iter": epochs, "learning_rate_init": lrs},
            "data": "gradfree.datasets.load_digits(rng=0): 1347 train / 450 test",
        },
        "results": summary,
        "machine": machine_info(),
        "versions": {
            "gradfree": getattr(gradfree, "__version__", "unknown"),
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
        },
    }
    name = "eki_digits_quick.json" if args.quick else "eki_digits.json"
    out = Path(__file__).resolve().parent / "results" / name
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
