"""MNIST: the local learning rules against backprop, with learning curves and epoch times.

Two protocols (``--protocol``):

``cpu`` (default; sized for 2 busy cores)
    Every rule on the same network, 784-256-256-10 (Forward-Forward: the label is
    appended to the input; NoProp: the same hidden sizes per block), the 50k training
    images, 5 epochs of mini-batches of 64, float32, pixels in [0, 1], one seed, the
    rule settings of ``local_digits.py``. Each rule runs at every learning rate of
    ``CPU_LEARNING_RATES``; the one with the best final accuracy on the 10k validation
    images is reported, with its test accuracy after every epoch. Time per epoch excludes
    evaluation.

``published``
    The papers' architectures and epoch counts (``PUBLISHED``) on the 60k set; meant for
    a GPU (``gradfree._array.gpu_available()``: the arrays are then CuPy). The published
    test accuracies it is compared with are listed in ``PUBLISHED`` with their sources.

Run: ``python benchmarks/local_mnist.py [--protocol cpu|published] [--only NAME ...]``;
writes ``benchmarks/results/local_mnist[_published].json`` and a ``.png`` of the curves.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine_info, plot_curves  # noqa: E402
from local_digits import RULES  # noqa: E402

import gradfree  # noqa: E402
from gradfree import local  # noqa: E402
from gradfree._array import gpu_available, to_host  # noqa: E402
from gradfree.datasets import load_mnist  # noqa: E402

# name -> (hidden sizes, epochs, published test accuracy, source and how far it was checked).
# Only the DFA figure was seen in the paper's own words (its abstract); the others are the
# figures commonly quoted for each paper and still have to be checked against its table.
PUBLISHED: dict[str, tuple[tuple[int, ...], int, float | None, str]] = {
    "backprop": ((1000,), 20, 0.984, "as quoted for Lillicrap et al. 2016; unverified"),
    "feedback_alignment": (
        (1000,),
        20,
        0.979,
        "Lillicrap et al. 2016, Fig. 2a (784-1000-10, sigmoid, squared error); unverified",
    ),
    "direct_feedback_alignment": (
        (800, 800),
        60,
        0.9855,
        "Nokland 2016, abstract: 1.45% error with dropout (no dropout here); verified",
    ),
    "difference_target_propagation": (
        (240,) * 7,
        100,
        0.981,
        "Lee et al. 2015 (7x240 tanh); unverified",
    ),
    "hsic_bottleneck": ((256,) * 5, 50, 0.97, "Ma, Lewis & Kleijn 2019 (97-98%); unverified"),
    "synthetic_gradients": ((256,) * 3, 50, None, "Jaderberg et al. 2016 (FCN table); unverified"),
    "forward_forward": (
        (2000,) * 4,
        60,
        0.9864,
        "Hinton 2022: 1.36% error, 4x2000 ReLU, 60 epochs; secondary sources agree",
    ),
    "noprop_dt": (
        (256, 256),
        100,
        0.995,
        "Li, Teh & Pascanu 2025 (CNN blocks; MLP blocks here); unverified",
    ),
    "readout_only": ((1000,), 20, None, "control"),
}
CPU_HIDDEN, CPU_EPOCHS, CPU_LEARNING_RATES = (256, 256), 5, (3e-4, 1e-3, 3e-3)


def accuracy(solver, state, X, y) -> float:
    """Fraction of rows of `X` whose arg-max class score is `y`."""
    return float(np.mean(to_host(solver.decision_function(state, X).argmax(axis=1)) == y))


def train(cls, kw, hidden, epochs, lr, data) -> dict:
    """One run: validation and test accuracy after every epoch, median epoch time."""
    X, y, Xv, yv, Xt, yt = data
    clf = cls(hidden, learning_rate=lr, max_iter=epochs, rng=0, **kw)
    solver = clf._solver()
    Xe, Y = clf._encode(X, y)
    state = solver.init(Xe, Y, rng=np.random.default_rng(0))
    val, test, times = [], [], []
    for _ in range(epochs):
        t0 = time.perf_counter()
        state = solver.step(state, Xe, Y)
        times.append(time.perf_counter() - t0)
        if Xv is not None:
            val.append(accuracy(solver, state, Xv, yv))
        test.append(accuracy(solver, state, Xt, yt))
    return {"lr": lr, "val": val, "test": test, "time": float(np.median(times))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--protocol", choices=("cpu", "published"), default="cpu")
    parser.add_argument("--only", nargs="*", help="rule names (default: all)")
    args = parser.parse_args()
    mnist = load_mnist(merge_validation=args.protocol == "published")
    data = [mnist.X_train, mnist.y_train, mnist.X_val, mnist.y_val, mnist.X_test, mnist.y_test]
    if args.protocol == "published" and gpu_available():
        import cupy

        data[0], data[4] = cupy.asarray(data[0]), cupy.asarray(data[4])
    rows = {}
    for name, (cls_name, kw) in RULES.items():
        cls = getattr(local, cls_name, None)
        if cls is None or (args.only and name not in args.only):
            continue
        if args.protocol == "cpu":
            hidden, epochs, published, source = CPU_HIDDEN, CPU_EPOCHS, None, ""
            runs = [train(cls, kw, hidden, epochs, lr, data) for lr in CPU_LEARNING_RATES]
            best = max(runs, key=lambda r: r["val"][-1])
        else:
            hidden, epochs, published, source = PUBLISHED[name]
            best = train(cls, kw, hidden, epochs, 1e-3, data)
            runs = [best]
        rows[name] = {
            "hidden_layer_sizes": list(hidden),
            "epochs": epochs,
            "learning_rate": best["lr"],
            "validation_accuracy_by_learning_rate": {str(r["lr"]): r["val"][-1:] for r in runs},
            "rule_settings": kw,
            "test_accuracy_per_epoch": best["test"],
            "final_test_accuracy": best["test"][-1],
            "time_per_epoch_s": best["time"],
            "published_accuracy": published,
            "source": source,
        }
        print(
            f"{name:30s} lr {best['lr']:g} acc {best['test'][-1]:.4f}  {best['time']:.2f} "
            "s/epoch  curve " + " ".join(f"{a:.3f}" for a in best["test"]),
            flush=True,
        )
    results = Path(__file__).resolve().parent / "results"
    suffix = "" if args.protocol == "cpu" else "_published"
    out = results / f"local_mnist{suffix}.json"
    if args.only and out.exists():  # a partial rerun updates its rows of the last report
        rows = {**json.loads(out.read_text())["results"], **rows}
    if "backprop" in rows:
        for row in rows.values():
            row["epoch_time_ratio_to_backprop"] = (
                row["time_per_epoch_s"] / rows["backprop"]["time_per_epoch_s"]
            )
    report = {
        "benchmark": "local_mnist",
        "protocol": args.protocol,
        "description": __doc__.split("\n\n")[1 if args.protocol == "cpu" else 2].strip(),
        "device": "gpu" if args.protocol == "published" and gpu_available() else "cpu",
        "machine": machine_info(),
        "versions": {"gradfree": gradfree.__version__, "numpy": np.__version__},
        "results": rows,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    plot_curves(
        out.with_suffix(".png"),
        {name: row["test_accuracy_per_epoch"] for name, row in rows.items()},
        ylabel="test accuracy",
        ylim=(0.85, 1.0),
        title=f"MNIST ({args.protocol} protocol): local rules against backprop",
    )


if __name__ == "__main__":
    main()
