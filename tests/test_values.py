"""Objective values are real numbers or a clear error: nothing is coerced silently."""

from __future__ import annotations

import numpy as np
import pytest

from gradfree import Optimizer, minimize
from gradfree.evaluators import JoblibEvaluator, SerialEvaluator, VectorizedEvaluator

BAD = [None, "1.5", True, np.bool_(False), 1 + 2j, np.complex128(1.0), [1.0, None], object()]


@pytest.mark.parametrize("value", BAD, ids=repr)
def test_a_value_that_is_not_real_is_a_type_error_naming_fun(value):
    with pytest.raises(TypeError, match=r"`fun` must return a real number .* candidate 0"):
        minimize(lambda x: value, np.zeros(2), rng=0, maxiter=2)


@pytest.mark.parametrize("value", BAD, ids=repr)
def test_with_on_error_nan_it_is_a_counted_failure_with_its_reason(value):
    res = minimize(lambda x: value, np.zeros(2), rng=0, maxiter=2, on_error="nan")
    assert res.status == 4 and res.failures["count"] == 6  # NONFINITE, one generation
    assert "must return real numbers" in res.failures["first_error"]
    assert "evaluations failed" in res.message and "real numbers" in res.message


def test_only_the_bad_candidates_fail():
    calls = iter(range(10**6))

    def fun(x):
        return None if next(calls) % 3 == 0 else float(x @ x)

    res = minimize(fun, np.ones(2), rng=0, maxiter=4, on_error="nan", options={"popsize": 6})
    assert res.failures["count"] == 8 and res.nit == 4 and np.isfinite(res.fun)


@pytest.mark.parametrize(
    "out",
    [np.asarray([None, 1.0]), np.asarray([True, False]), np.asarray([1j, 2.0]), ["1", "2"]],
    ids=["object", "bool", "complex", "str"],
)
def test_vectorized_values_must_be_real(out):
    with pytest.raises(TypeError, match="vectorized `fun` must return an array of real"):
        VectorizedEvaluator()(lambda X: out, np.zeros((2, 3)))


def test_real_values_of_every_kind_pass():
    X = np.zeros((4, 2))
    outs = iter([1, 2.5, np.float32(3.0), np.int64(4)])
    np.testing.assert_array_equal(SerialEvaluator()(lambda x: next(outs), X), [1, 2.5, 3, 4])
    vec = VectorizedEvaluator()(lambda X: [1, 2, 3, 4], X)
    np.testing.assert_array_equal(vec, [1.0, 2.0, 3.0, 4.0])


def test_worker_processes_refuse_the_same_values():
    with pytest.raises(TypeError, match="`fun` must return a real number"):
        JoblibEvaluator(2)(_none_for_negative, np.asarray([[1.0], [-1.0]]))


def _none_for_negative(x):
    return None if x[0] < 0 else float(x[0])


def test_optimizer_tell_refuses_a_population_it_did_not_ask():
    opt = Optimizer("cma-es", np.zeros(3), rng=0)
    X = opt.ask()
    with pytest.raises(ValueError, match="population returned by the last ask"):
        opt.tell(X + 1, [float(x @ x) for x in X])
    with pytest.raises(ValueError, match="population returned by the last ask"):
        opt.tell(X[::-1], [float(x @ x) for x in X])
    opt.tell(X.copy(), [float(x @ x) for x in X])  # an equal copy is the same population
    asked = [X]
    asked.append(opt.ask())
    opt.tell(asked[-1], np.asarray([float(x @ x) for x in asked[-1]]))
    res = opt.result()
    assert res.nfev == 2 * X.shape[0]
    assert any(np.array_equal(res.x, row) for row in np.concatenate(asked))  # an asked point


@pytest.mark.parametrize("values", [[None] * 6, ["1.0"] * 6, [True] * 6, [1j] * 6, 3.0])
def test_optimizer_tell_refuses_values_that_are_not_real(values):
    opt = Optimizer("cma-es", np.zeros(3), rng=0, popsize=6)
    X = opt.ask()
    with pytest.raises(TypeError):
        opt.tell(X, values)
    assert opt.pending is X  # nothing was told: the same population can be told again
    opt.tell(X, [1.0] * 6)
