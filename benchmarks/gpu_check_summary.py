"""The summary of `gpu_check.sh`: its steps, the CuPy tests' counts and failures, and
the headline numbers of the GPU benchmarks against their targets, as one JSON file.

Run by ``benchmarks/gpu_check.sh``; by hand:
``python benchmarks/gpu_check_summary.py --steps STEPS.tsv --junit JUNIT.xml --out OUT``.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def read_steps(path: Path) -> list[dict[str, Any]]:
    """Rows ``name, exit code, seconds, status`` written by the shell script."""
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        name, rc, seconds, status = line.split("\t")
        rows.append(
            {"step": name, "exit_code": int(rc), "seconds": int(seconds), "status": status}
        )
    return rows


def read_junit(path: Path) -> dict[str, Any] | None:
    """Counts of a pytest JUnit XML report and the ids of failed or erroring tests."""
    if not path.exists():
        return None
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors")}
    counts["skipped"] = sum(int(s.get("skipped", 0)) for s in suites)
    failed = []
    for case in root.iter("testcase"):
        bad = case.find("failure")
        bad = bad if bad is not None else case.find("error")
        if bad is not None:
            test_id = f"{case.get('classname')}::{case.get('name')}"
            failed.append({"test": test_id, "message": (bad.get("message") or "")[:300]})
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {**counts, "failed": failed}


def headline(results: Path, suffix: str) -> dict[str, Any]:
    """The benchmarks' numbers against their targets, where their JSON exists."""
    out: dict[str, Any] = {}
    es = results / f"es_gpu{suffix}.json"
    if es.exists():
        rows = []
        for case in json.loads(es.read_text())["results"]:
            for r in case["rows"]:
                keep = ("library", "method", "loop", "generations_per_s", "bandwidth_fraction")
                rows.append({k: r.get(k) for k in (*keep, "skipped") if k in r})
        out["es_gpu"] = {"rows": rows, "targets": "gradfree >= 1.5x the faster peer; "
                         ">= 50 % of the roofline for sampling + update"}  # fmt: skip
    eki = results / f"eki_gpu{suffix}.json"
    if eki.exists():
        r = json.loads(eki.read_text())["result"]
        out["eki_gpu"] = {"update_min_ms": r["update"]["min_ms"], "target_ms": 5.0,
                          "meets_target": r["meets_target"]}  # fmt: skip
    pf = results / f"population_forward_gpu{suffix}.json"
    if pf.exists():
        rows = json.loads(pf.read_text())["results"]
        out["population_forward"] = [
            {k: r[k] for k in ("backend", "n", "population_evals_per_s", "speedup")} for r in rows
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=Path, required=True)
    parser.add_argument("--junit", type=Path, required=True)
    parser.add_argument("--peers", default="")
    parser.add_argument("--wall", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    suffix = "_quick" if args.out.stem.endswith("_quick") else ""
    report = {
        "benchmark": "gpu_check",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "installed": args.peers,
        "steps": read_steps(args.steps),
        "tests": read_junit(args.junit),
        "headline": headline(args.out.parent, suffix),
        "wall_s": args.wall,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for s in report["steps"]:
        print(f"{s['step']:20s} {s['status']:24s} exit {s['exit_code']:4d} {s['seconds']:5d} s")
    t = report["tests"]
    if t is not None:
        print(f"tests: {t['passed']} passed, {t['failures']} failed, {t['errors']} errors, "
              f"{t['skipped']} skipped")  # fmt: skip
        for f in t["failed"][:20]:
            print(f"  FAILED {f['test']}: {f['message'][:120]}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
