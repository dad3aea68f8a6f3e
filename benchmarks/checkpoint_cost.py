"""Time and size of a gradfree checkpoint, against pycma's pickle.

Cases: CMA-ES at n = 1000 and sep-CMA-ES at n = 100 000 (gradfree, `Run.save` after
two generations on the sphere with a vectorized objective), and pycma's
``CMAEvolutionStrategy`` at n = 1000 after two generations, pickled with
``pickle.dumps``. Times are the fastest of `--repeats` saves (and loads); the JSON
also keeps the size of every array in the gradfree ``.npz``, which says where the
bytes go. Usage::

    python benchmarks/checkpoint_cost.py          # -> results/checkpoint_cost.json
    python benchmarks/checkpoint_cost.py --quick  # smoke run (smaller n)
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import tempfile
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import scipy  # noqa: E402
from _common import machine_info  # noqa: E402

import gradfree  # noqa: E402
from gradfree._driver import Run  # noqa: E402
from gradfree.es import CMAES, SepCMAES  # noqa: E402
from gradfree.evaluators import VectorizedEvaluator  # noqa: E402
from gradfree.testing import sphere  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
GENERATIONS = 2


def gradfree_case(name: str, strategy: object, n: int, repeats: int) -> dict:
    """Save (and load) a checkpoint of a run of `strategy` at dimension `n`."""
    job = Run(strategy, np.ones(n), rng=np.random.default_rng(0), maxiter=GENERATIONS + 1)
    for _ in range(GENERATIONS):
        job.step(VectorizedEvaluator(), sphere)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.npz"
        save, load = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            job.save(path)
            save.append(time.perf_counter() - start)
            start = time.perf_counter()
            again = Run.restore(path)
            load.append(time.perf_counter() - start)
        assert again.nit == job.nit and again.best_fun == job.best_fun
        size = path.stat().st_size
        with zipfile.ZipFile(path) as zf:
            members = {i.filename: i.file_size for i in zf.infolist()}
        with np.load(path, allow_pickle=False) as npz:
            shapes = {k: list(npz[k].shape) for k in npz.files}
    return {
        "case": name,
        "library": "gradfree",
        "n": n,
        "popsize": job.popsize,
        "bytes": size,
        "save_s": min(save),
        "load_s": min(load),
        "members": {
            k: {"bytes": v, "shape": shapes.get(k.removesuffix(".npy"))}
            for k, v in sorted(members.items(), key=lambda kv: -kv[1])
        },
    }


def pycma_case(n: int, repeats: int) -> dict:
    """pycma's CMAEvolutionStrategy at dimension `n`, pickled."""
    import cma

    es = cma.CMAEvolutionStrategy(np.ones(n), 0.5, {"verbose": -9, "seed": 1})
    for _ in range(GENERATIONS):
        X = es.ask()
        es.tell(X, [float(x @ x) for x in X])
    dump, load = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        blob = pickle.dumps(es)
        dump.append(time.perf_counter() - start)
        start = time.perf_counter()
        pickle.loads(blob)
        load.append(time.perf_counter() - start)
    return {
        "case": f"pycma CMAEvolutionStrategy, n={n} (pickle.dumps)",
        "library": "pycma",
        "n": n,
        "popsize": es.popsize,
        "bytes": len(blob),
        "save_s": min(dump),
        "load_s": min(load),
        "members": None,
    }


def markdown_table(results: list[dict]) -> str:
    """Results as a markdown table."""
    rows = [
        "| checkpoint | n | popsize | size (MB) | save (s) | load (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows += [
        f"| {r['case']} | {r['n']:,} | {r['popsize']} | {r['bytes'] / 1e6:.2f} | "
        f"{r['save_s']:.3f} | {r['load_s']:.3f} |"
        for r in results
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, help="default: results/checkpoint_cost[_quick].json")
    parser.add_argument("--quick", action="store_true", help="n = 200 and 10 000, 2 repeats")
    args = parser.parse_args(argv)
    n_cma, n_sep = (200, 10_000) if args.quick else (1000, 100_000)
    if args.quick:
        args.repeats = 2
    out = args.out or RESULTS / f"checkpoint_cost{'_quick' if args.quick else ''}.json"
    import cma

    results = [
        gradfree_case(f"gradfree CMA-ES, n={n_cma}", CMAES(), n_cma, args.repeats),
        gradfree_case(f"gradfree sep-CMA-ES, n={n_sep}", SepCMAES(), n_sep, args.repeats),
        pycma_case(n_cma, args.repeats),
    ]
    report = {
        "benchmark": "checkpoint_cost",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            **machine_info(),
        },
        "versions": {m.__name__: m.__version__ for m in (np, scipy, gradfree, cma)},
        "settings": {"generations": GENERATIONS, "repeats": args.repeats, "problem": "sphere"},
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown_table(results))
    for r in results:
        if r["members"]:
            top = list(r["members"].items())[:4]
            print(
                f"\n{r['case']}: largest members "
                + ", ".join(f"{k} {v['shape']} {v['bytes'] / 1e6:.2f} MB" for k, v in top)
            )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
