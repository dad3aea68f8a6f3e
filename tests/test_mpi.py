"""`workers='mpi'`: a run under ``mpirun -n 3 python -m mpi4py.futures`` equals the serial run.

Skipped where mpirun or mpi4py is missing (``.ci/run`` installs Open MPI and the wheel).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from gradfree import minimize
from gradfree.testing import rosenbrock

pytestmark = pytest.mark.skipif(
    shutil.which("mpirun") is None or importlib.util.find_spec("mpi4py") is None,
    reason="needs mpirun and mpi4py",
)

SCRIPT = """
import json, sys
import numpy as np
from gradfree import minimize
from gradfree.testing import rosenbrock

def fun(x):
    return float(rosenbrock(x))

if __name__ == "__main__":
    res = minimize(fun, np.zeros(4), method="cma-es", rng=3, workers="mpi", maxiter=15)
    with open(sys.argv[1], "w") as fh:
        json.dump({"x": res.x.tolist(), "fun": res.fun, "nfev": res.nfev}, fh)
"""


def test_mpi_pool_equals_serial(tmp_path):
    script = tmp_path / "mpi_run.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out.json"
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    cmd = ["mpirun", "-n", "3", "--oversubscribe", sys.executable, "-m", "mpi4py.futures"]
    proc = subprocess.run(
        [*cmd, str(script), str(out)], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(out.read_text())
    ref = minimize(lambda x: float(rosenbrock(x)), np.zeros(4), rng=3, maxiter=15)
    assert got["nfev"] == ref.nfev
    assert got["fun"] == ref.fun
    np.testing.assert_array_equal(got["x"], ref.x)
