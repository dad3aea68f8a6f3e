"""Digits: gradient-free BCD, ADMM and online AM against scikit-learn's MLPClassifier.

Same architecture (one hidden ReLU layer) and epochs: full-batch sweeps for BCD/ADMM,
epochs of batch 200 for online AM-mem, ``max_iter`` Adam epochs for MLPClassifier
(backprop); 5 seeds, standardized inputs.
Reports test accuracy and wall time per epoch (BLAS pinned to 1 thread); the
readout-only control (random frozen hidden layer + ridge readout) shows what the hidden
layer adds.

Run: ``python benchmarks/altmin_digits.py [--quick]``; writes
``benchmarks/results/altmin_digits.json``.
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
from gradfree.altmin import (  # noqa: E402
    ADMMClassifier,
    BCDClassifier,
    OnlineAMClassifier,
    ReadoutOnlyClassifier,
)
from gradfree.datasets import load_digits  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 30 epochs")
    parser.add_argument("--hidden", type=int, default=64)
    args = parser.parse_args()
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    seeds = range(2) if args.quick else range(5)
    epochs = 30 if args.quick else 100
    h = (args.hidden,)
    data = load_digits()
    mu, sd = data.X_train.mean(0), data.X_train.std(0) + 1e-8
    X, Xt = (data.X_train - mu) / sd, (data.X_test - mu) / sd
    y, yt = data.y_train, data.y_test
    makers = {
        "bcd": lambda s: BCDClassifier(h, alpha=0.1, max_iter=epochs, rng=s),
        "admm": lambda s: ADMMClassifier(h, max_iter=epochs, rng=s),
        "online_am_mem": lambda s: OnlineAMClassifier(h, max_iter=epochs, rng=s),
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
            "bcd": {"gamma": 1.0, "rho": 1.0, "alpha": 0.1},
            "admm": {"beta": 1.0, "gamma": 10.0, "warm_start": 5, "loss": "square"},
            "online_am_mem": {"mu": 0.1, "forget": 0.5, "batch_size": 200, "n_code_steps": 5},
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
    out = Path(__file__).resolve().parent / "results" / "altmin_digits.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
