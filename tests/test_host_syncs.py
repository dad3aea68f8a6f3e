"""Host syncs per generation (and per epoch), counted on array-api-strict.

Every conversion of a device array to a Python value or a host array waits for the
device (a CUDA stream synchronisation on CuPy). A counting wrapper over the array
class's conversions counts them; the budget per generation is the difference between
two runs of different length, so setup and the final result are not counted.

Budgets with ``workers="vectorized"``: at most 3 per generation for every method (the
driver reads one generation's values; a strategy's ``tell`` reads one summary, CMA-ES
also the eigenvalues of its eigendecomposition). lq-CMA-ES, per batch of true
evaluations: at most 8 (the driver's values, the values again for the archive, the
model's values for the ranking and for Kendall's tau, and, when the batch completes a
generation, the model's values of the population, its optimum and CMA-ES's 2). The
wrappers: restarts and bounds add none, uncertainty handling one, integrality four
(``ask`` reads the integer coordinates of the population and the centre, ``tell`` the
centre and the deviations), constraints ``n + 4`` (constraint functions are called one
point at a time, on the population and the centre; then the objective's values, the
violations and the multiplier update).
Estimators: one per epoch (the epoch's loss), however many batches.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest
from _families import REFUSED, classifiers, has_epochs
from scipy.optimize import NonlinearConstraint

from gradfree import METHODS, minimize
from gradfree.kalman import InverseProblem, solve
from gradfree.testing import TEST_CONFIGS, problem_for

strict = pytest.importorskip("array_api_strict")
CONVERSIONS = ("__float__", "__bool__", "__int__", "__index__", "__array__", "__dlpack__")
CONVERSIONS += ("__complex__", "tolist", "item")  # where the array class has them
X0 = [0.5, -1.0, 2.0, 0.1, 0.3, -0.4]
NAMES = sorted(METHODS)
SCALAR = [n for n in NAMES if not METHODS[n].vector_values]


@pytest.fixture
def syncs(monkeypatch):
    """A Counter of conversions of array-api-strict arrays, by name."""
    counts = collections.Counter()
    cls = type(strict.asarray(0.0))
    for name in CONVERSIONS:
        if not hasattr(cls, name):
            continue
        original = getattr(cls, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, counted)
    return counts


def per_step(syncs, run, short=3, long=9):
    """Syncs per step: the difference of a `long` and a `short` run, per extra step."""
    syncs.clear()
    run(short)
    first = sum(syncs.values())
    syncs.clear()
    run(long)
    return (sum(syncs.values()) - first) / (long - short)


def test_counter_sees_every_conversion(syncs):
    a = strict.asarray([1.5, 2.5])
    float(a[0]), bool(a[1] > 0), int(strict.asarray(3)), np.asarray(a), np.from_dlpack(a)
    assert sum(syncs.values()) >= 5
    assert {"__float__", "__bool__", "__int__", "__dlpack__"} <= set(syncs)


def _minimize(name, syncs, **kw):
    strategy = METHODS[name](**TEST_CONFIGS[name])

    def run(maxiter):
        minimize(problem_for(strategy), strict.asarray(X0), method=strategy, rng=0,
                 workers="vectorized", maxiter=maxiter, **kw)  # fmt: skip

    return per_step(syncs, run)


@pytest.mark.parametrize("name", NAMES)
def test_methods_sync_at_most_three_times_per_generation(name, syncs):
    assert 1 <= _minimize(name, syncs) <= (8 if METHODS[name].partial_batches else 3)


BOX = [(-3.0, 3.0)] * len(X0)
WRAPPERS = {  # options, syncs added per generation (n: the population size)
    "restarts": ({"options": {"restarts": "ipop"}}, lambda n: 0),
    "bounds": ({"bounds": BOX}, lambda n: 0),
    "noise": ({"options": {"noise_handling": True}}, lambda n: 1),
    "integrality": ({"integrality": [True, False] * 3, "bounds": BOX}, lambda n: 4),
    "constraints": (
        {"constraints": NonlinearConstraint(lambda x: x[0] + x[1], -np.inf, 0.0)},
        lambda n: n + 4,
    ),
}


@pytest.mark.parametrize(
    ("name", "wrapper"),
    [(n, w) for n in SCALAR for w in sorted(WRAPPERS) if (n, w) not in REFUSED],
)
def test_wrappers_sync_budget(name, wrapper, syncs):
    kw, extra = WRAPPERS[wrapper]
    base = _minimize(name, syncs)
    n = TEST_CONFIGS[name]["popsize"]
    assert _minimize(name, syncs, **kw) <= base + extra(n)


@pytest.mark.parametrize("method", ["eki", "etki", "teki", "eks"])
def test_kalman_solve_syncs_at_most_three_times_per_generation(method, syncs):
    g = np.random.default_rng(0)
    A = strict.asarray(g.standard_normal((10, 4)))
    problem = InverseProblem(
        lambda U: U @ A.T, strict.asarray(g.standard_normal(10)), 0.1, strict.zeros(4), 1.0
    )

    def run(maxiter):
        solve(problem, method, n_ensemble=8, rng=0, workers="vectorized", maxiter=maxiter,
              options={"scheduler": 0.5})  # fmt: skip

    assert 1 <= per_step(syncs, run) <= 3


TRAINED = [c for c in classifiers() if has_epochs(c)]


@pytest.mark.parametrize("cls", TRAINED, ids=lambda c: c.__name__)
def test_estimators_sync_once_per_epoch(cls, syncs):
    g = np.random.default_rng(0)
    X = strict.asarray(g.normal(size=(64, 3)))
    y = np.argmax(g.normal(size=(64, 3)), axis=1)
    batch = {"batch_size": 16} if "batch_size" in cls().get_params() else {}  # 4 batches

    def run(epochs):
        cls((6,), max_iter=epochs, rng=0, **batch).fit(X, y)

    assert per_step(syncs, run, short=2, long=6) <= 1
