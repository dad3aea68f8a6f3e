"""Evaluations per second of `MLP.forward` on a population, against a loop of single forwards.

An MLP of about 1e5 parameters (64-384-192-10, relu, 100,810 parameters) on a digits-sized
batch of 64 inputs; a population of n = 4096 flat parameter vectors (float32) goes through
one batched matmul chain. Backends: NumPy on the CPU with one BLAS thread and with the
default number, and CuPy when a GPU is present. The loop calls ``forward(P[j], X)`` once
per member on a subset and is reported as evaluations per second too.

Run: python benchmarks/population_forward.py [--quick] [--gpu-only] [--out PATH]
Writes benchmarks/results/population_forward.json (``--quick``: *_quick.json);
``--gpu-only`` skips the NumPy rows (and, without a usable GPU, prints one line and
exits 0 without results).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import gradfree
from gradfree._array import gpu_available
from gradfree.models import MLP

SIZES = (64, 384, 192, 10)
BATCH = 64


def _best_time(fn, repeats, sync=lambda: None):
    fn()  # warm-up
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def _measure(net, P, X, n_loop, repeats, sync=lambda: None):
    n = P.shape[0]
    t_pop = _best_time(lambda: net.forward(P, X), repeats, sync)

    def loop():
        for j in range(n_loop):
            net.forward(P[j], X)

    t_loop = _best_time(loop, max(1, repeats // 2), sync)
    return {
        "n": n,
        "population_s": t_pop,
        "population_evals_per_s": n / t_pop,
        "loop_members": n_loop,
        "loop_evals_per_s": n_loop / t_loop,
        "speedup": (n / t_pop) / (n_loop / t_loop),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 512, fewer repeats")
    parser.add_argument("--gpu-only", action="store_true", help="CuPy rows only")
    parser.add_argument("--out", type=Path, help="default: results/population_forward.json")
    args = parser.parse_args(argv)
    if args.gpu_only and not gpu_available():
        print("population_forward: skipped: --gpu-only and no usable GPU; no results.")
        return
    n, repeats, n_loop = (512, 2, 128) if args.quick else (4096, 5, 512)

    net = MLP(SIZES, activations="relu")
    gen = np.random.default_rng(0)
    P = (gen.standard_normal((n, net.n_params), dtype=np.float32) * 0.05).astype(np.float32)
    X = gen.random((BATCH, SIZES[0])).astype(np.float32)
    rows = []
    for threads in () if args.gpu_only else (1, None):
        with threadpool_limits(limits=threads):
            res = _measure(net, P, X, n_loop, repeats)
        label = "numpy, 1 BLAS thread" if threads == 1 else f"numpy, {os.cpu_count()} cpus default"
        rows.append({"backend": label, **res})
        print(
            f"{label:32s} {res['population_evals_per_s']:12.0f} evals/s population, "
            f"{res['loop_evals_per_s']:10.0f} evals/s loop, x{res['speedup']:.1f}",
            flush=True,
        )
    gpu = None
    if gpu_available():
        import cupy

        Pg, Xg = cupy.asarray(P), cupy.asarray(X)
        sync = cupy.cuda.Device().synchronize
        res = _measure(net, Pg, Xg, n_loop, repeats * 4, sync)
        gpu = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
        rows.append({"backend": f"cupy, {gpu}", **res})
        print(
            f"{'cupy ' + gpu:32s} {res['population_evals_per_s']:12.0f} evals/s population, "
            f"{res['loop_evals_per_s']:10.0f} evals/s loop, x{res['speedup']:.1f}"
        )
        np.testing.assert_allclose(
            cupy.asnumpy(net.forward(Pg[:8], Xg)), net.forward(P[:8], X), rtol=1e-3, atol=1e-3
        )
    else:
        print("cupy: skipped (no CUDA GPU: CuPy could not allocate)")

    out = {
        "benchmark": "population_forward",
        "model": {
            "layer_sizes": SIZES,
            "n_params": net.n_params,
            "batch": BATCH,
            "dtype": "float32",
            "activations": list(net.activations),
        },
        "quick": args.quick,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "gpu": gpu,
            "blas": [
                {k: i.get(k) for k in ("internal_api", "version", "num_threads")}
                for i in threadpool_info()
            ],
        },
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "gradfree": gradfree.__version__,
            "cupy": sys.modules["cupy"].__version__ if "cupy" in sys.modules else None,
        },
        "results": rows,
    }
    path = args.out or (
        Path(__file__).parent
        / "results"
        / ("population_forward_quick.json" if args.quick else "population_forward.json")
    )
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
