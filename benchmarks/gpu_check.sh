#!/usr/bin/env bash
# The GPU check of gradfree, in one script for a fresh GPU machine without internet:
#   1. install the carried wheels and gradfree from this working tree into a temporary
#      site directory (nothing is fetched);
#   2. run the CuPy-marked tests (`pytest -m gpu`, about 280 of them);
#   3. run the GPU benchmarks at their headline sizes, writing JSON under
#      benchmarks/results/:
#        es_gpu.json              OpenAI-ES and sep-CMA-ES, n = 4096, d = 10**6, float32,
#                                 against evosax (skipped when evosax or jax is missing)
#        eki_gpu.json             EKI update at J = 100, p = 10**6, m = 10**4 (ms/update)
#        population_forward_gpu.json  MLP.forward on a population of n = 4096
#      and a summary, gpu_check.json (steps, exit codes, times, test counts, failures).
#      Where $OUT is set (the device tool's machine), the JSON files and the log are
#      copied there too.
# Each step gets a share of a wall-clock budget (default 450 s, under 8 minutes with
# the install); a step that runs over is stopped and recorded, the others still run.
#
# Wheels (the GPU machine has numpy, scipy, scikit-learn, pytest, hypothesis, CuPy, JAX,
# flax and PyTorch, but not these): fetch them once on a machine with internet,
#     bash benchmarks/gpu_check.sh --download
# which puts CPython 3.12 manylinux wheels into benchmarks/wheels/ (gitignored, about
# 8 MB; carry that folder to the GPU machine). EvoTorch is not among them: it imports
# ray, whose wheel alone (76 MiB) is more than what can travel, so its rows are absent.
#
# Usage: bash benchmarks/gpu_check.sh [--download] [--dry-run] [--quick] [--no-tests]
#                                     [--no-bench] [--budget SECONDS] [--python PYTHON]
#   --dry-run   install and probe the GPU, print the plan, run nothing else
#   --quick     the benchmarks at their quick sizes (results *_quick.json, not reported)
# Without a usable GPU the script says so, lets each benchmark print its own skip
# line, and exits 0 without results.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="$ROOT/benchmarks/wheels"
RESULTS="$ROOT/benchmarks/results"
PY="${PYTHON:-python3}"
DOWNLOAD=0 DRY=0 QUICK=0 TESTS=1 BENCH=1 BUDGET=450
WHEEL_PINS=(array-api-compat==1.16.0 array-api-strict==2.6.1 tensorly==0.10.0
            evosax==0.3.2 dotmap==1.3.30)

usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --download) DOWNLOAD=1 ;;
    --dry-run) DRY=1 ;;
    --quick) QUICK=1 ;;
    --no-tests) TESTS=0 ;;
    --no-bench) BENCH=0 ;;
    --budget)
      [[ $# -ge 2 && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] \
        || { echo "gpu_check: --budget needs a number of seconds > 0" >&2; exit 2; }
      BUDGET="$2"; shift ;;
    --python)
      [[ $# -ge 2 ]] || { echo "gpu_check: --python needs an interpreter" >&2; exit 2; }
      PY="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
command -v "$PY" >/dev/null || { echo "gpu_check: no Python interpreter '$PY'" >&2; exit 2; }

if ((DOWNLOAD)); then
  mkdir -p "$WHEELS"
  "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$WHEELS" "${WHEEL_PINS[@]}" || exit 1
  du -ch "$WHEELS"/*.whl
  exit 0
fi

START=$SECONDS
LOG="$RESULTS/gpu_check.log"
STEPS="$(mktemp)"
mkdir -p "$RESULTS"
: >"$LOG"
say() { echo "gpu_check: $*" | tee -a "$LOG"; }
# step NAME SHARE CMD...: run CMD with at most SHARE seconds (and what the budget has left)
step() {
  local name="$1" share="$2" t0=$SECONDS rc left
  shift 2
  left=$((BUDGET - (SECONDS - START)))
  ((left < share)) && share=$left
  if ((left < 10)); then
    say "$name: not run, the budget of ${BUDGET} s is spent"
    printf '%s\t%s\t%s\t%s\n' "$name" -1 0 "budget spent" >>"$STEPS"
    return
  fi
  say "$name: $* (at most ${share} s)"
  timeout --kill-after=10 "$share" "$@" 2>&1 | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  local status=ok
  ((rc == 124 || rc == 137)) && status="stopped after ${share} s"
  ((rc != 0 && rc != 124 && rc != 137)) && status="failed"
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" "$status" >>"$STEPS"
  say "$name: $status (exit $rc, $((SECONDS - t0)) s)"
}

# 1. install: the carried wheels, then gradfree from this tree, into a fresh site dir
SITE="$(mktemp -d)/site"
shopt -s nullglob
wheels=("$WHEELS"/*.whl)
if ((${#wheels[@]})); then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "${wheels[@]}" 2>&1 | tee -a "$LOG"
else
  say "no wheels in $WHEELS (run --download where there is internet); using what is installed"
fi
# a check that the tree installs; the runs below import the tree itself (first on the path)
if "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir \
  --target "$SITE" "$ROOT" >>"$LOG" 2>&1; then
  say "gradfree installed from $ROOT"
else
  say "pip could not build gradfree from $ROOT (setuptools and wheel needed; see $LOG)"
fi
export PYTHONPATH="$ROOT:$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
cd "$ROOT" || exit 1
if ! "$PY" -c "import gradfree, array_api_compat" 2>>"$LOG"; then
  say "gradfree does not import (array-api-compat missing?): carry benchmarks/wheels"
  exit 1
fi
GPU="$("$PY" -c 'from gradfree._array import gpu_available as g; print(int(g()))' 2>>"$LOG")"
PEERS="$("$PY" - <<'EOF'
import importlib.util as u
print(", ".join(f"{m}: {'yes' if u.find_spec(m) else 'no'}" for m in
                ("cupy", "jax", "evosax", "evotorch", "array_api_strict", "tensorly")))
EOF
)"
say "python $("$PY" -c 'import sys; print(sys.version.split()[0])'); installed: $PEERS"

if [[ "$GPU" != 1 ]]; then
  say "no usable CUDA GPU (CuPy missing or cannot allocate): the tests and benchmarks" \
      "need one; each benchmark checks for itself:"
  if ((!DRY)); then
    for script in es_gpu eki_gpu; do "$PY" "benchmarks/$script.py" | tee -a "$LOG"; done
    "$PY" benchmarks/population_forward.py --gpu-only | tee -a "$LOG"
  fi
  say "nothing measured, no results written (exit 0)"
  exit 0
fi

SUFFIX=""; QUICKARG=()
((QUICK)) && SUFFIX="_quick" && QUICKARG=(--quick)
say "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo unknown)"
if ((DRY)); then
  say "dry run: would run pytest -m gpu, es_gpu, eki_gpu and population_forward; budget ${BUDGET} s"
  exit 0
fi

# 2. the CuPy-marked tests
JUNIT="$RESULTS/gpu_check_junit.xml"
((TESTS)) && step tests 180 "$PY" -m pytest -m gpu -q -p no:cacheprovider -o addopts="" \
  --strict-markers --junitxml="$JUNIT" tests

# 3. the benchmarks at their headline sizes (es_gpu: fewer timed generations, to fit)
if ((BENCH)); then
  step es_gpu 180 "$PY" benchmarks/es_gpu.py "${QUICKARG[@]}" --generations 10 --repeats 2 \
    --out "$RESULTS/es_gpu$SUFFIX.json"
  step eki_gpu 45 "$PY" benchmarks/eki_gpu.py "${QUICKARG[@]}" \
    --out "$RESULTS/eki_gpu$SUFFIX.json"
  step population_forward 45 "$PY" benchmarks/population_forward.py "${QUICKARG[@]}" \
    --gpu-only --out "$RESULTS/population_forward_gpu$SUFFIX.json"
fi

# 4. the summary, and copies for the caller
"$PY" benchmarks/gpu_check_summary.py --steps "$STEPS" --junit "$JUNIT" --peers "$PEERS" \
  --wall "$((SECONDS - START))" --out "$RESULTS/gpu_check$SUFFIX.json" | tee -a "$LOG"
if [[ -n "${OUT:-}" && -d "${OUT:-}" ]]; then
  for f in gpu_check es_gpu eki_gpu population_forward_gpu; do
    [[ -f "$RESULTS/$f$SUFFIX.json" ]] && cp "$RESULTS/$f$SUFFIX.json" "$OUT/"
  done
  cp "$LOG" "$OUT/"
fi
say "done in $((SECONDS - START)) s"
