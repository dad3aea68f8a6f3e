"""Minibatched EKI: observation series, minibatchers and `solve_minibatched`."""

import numpy as np
import pytest

from gradfree import Status
from gradfree.kalman import (
    EKI,
    DefaultScheduler,
    FixedMinibatcher,
    InverseProblem,
    ObservationSeries,
    RandomFixedSizeMinibatcher,
    resume_minibatched,
    solve,
    solve_minibatched,
)


def _linear(n=60, p=3, seed=0, noise=0.05):
    gen = np.random.default_rng(seed)
    A = gen.normal(size=(n, p))
    y = A @ np.arange(1.0, p + 1) + noise * gen.normal(size=n)
    return A, y


def test_fixed_minibatcher_covers_every_index_once_per_epoch_in_order():
    series = ObservationSeries(np.zeros(10), 1.0, FixedMinibatcher(3))
    assert series.n_batches == 4
    for epoch in range(3):
        batches = [series.batch(epoch * 4 + j) for j in range(4)]
        assert all(b.epoch == epoch for b in batches)
        np.testing.assert_array_equal(np.concatenate([b.indices for b in batches]), np.arange(10))
    given = [[4, 5], [0, 1, 2, 3], [6, 7, 8, 9]]
    series = ObservationSeries(np.zeros(10), 1.0, FixedMinibatcher(given))
    for k in range(6):
        np.testing.assert_array_equal(series.batch(k).indices, given[k % 3])


def test_random_minibatcher_is_a_seeded_permutation_per_epoch():
    mb = RandomFixedSizeMinibatcher(4, rng=7)
    series = ObservationSeries(np.arange(12.0), 1.0, mb)
    epochs = [np.concatenate(series.epoch_batches(e)) for e in range(3)]
    for perm in epochs:
        np.testing.assert_array_equal(np.sort(perm), np.arange(12))
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled
    again = ObservationSeries(np.arange(12.0), 1.0, RandomFixedSizeMinibatcher(4, rng=7))
    for e in range(3):
        np.testing.assert_array_equal(np.concatenate(again.epoch_batches(e)), epochs[e])
    other = RandomFixedSizeMinibatcher(4, rng=8).epoch(12, 0)
    assert not np.array_equal(np.concatenate(other), epochs[0])
    b = series.batch(5)  # epoch 1, batch 2
    assert (b.epoch, b.position) == (1, 2)
    np.testing.assert_array_equal(b.indices, epochs[1][8:12])
    np.testing.assert_array_equal(b.y, b.indices.astype(float))  # y_i = i
    # the remainder is dropped, or added to the last batch
    assert [len(x) for x in RandomFixedSizeMinibatcher(4, rng=0).epoch(10, 0)] == [4, 4]
    assert [len(x) for x in RandomFixedSizeMinibatcher(4, rng=0, extra=True).epoch(10, 0)] == [
        4,
        6,
    ]


def test_noise_blocks_follow_the_batch():
    y = np.arange(8.0).reshape(4, 2)
    var = np.arange(1.0, 9.0).reshape(4, 2)
    s = ObservationSeries(y, var, FixedMinibatcher([[3, 1]]))
    np.testing.assert_array_equal(s.batch(0).noise_cov, [7.0, 8.0, 3.0, 4.0])
    np.testing.assert_array_equal(s.batch(0).y, [6.0, 7.0, 2.0, 3.0])
    blocks = np.stack([np.eye(2) * (i + 1) + 0.1 for i in range(4)])
    s = ObservationSeries(y, blocks, FixedMinibatcher([[2, 0]]))
    cov = s.batch(0).noise_cov
    np.testing.assert_array_equal(cov[:2, :2], blocks[2])
    np.testing.assert_array_equal(cov[2:, 2:], blocks[0])
    assert (cov[:2, 2:] == 0).all()
    w = s.batch(0).observation.whiten(np.zeros(4))
    assert w.shape == (4,)


def test_minibatched_eki_converges_towards_the_full_batch_solution():
    A, y = _linear()
    x_ls = np.linalg.lstsq(A, y, rcond=None)[0]
    series = ObservationSeries(y, 0.05**2, RandomFixedSizeMinibatcher(10, rng=0))
    res = solve_minibatched(
        lambda U, idx: U @ A[idx].T,
        series,
        x0=np.zeros(3),
        n_ensemble=30,
        epochs=8,
        rng=1,
        workers="vectorized",
    )
    assert res.nit == 48 and res.nfev == 48 * 30
    assert np.linalg.norm(res.x - x_ls) < 0.02 * np.linalg.norm(x_ls)
    # full-batch reference through `solve` with the same constant step converges too
    problem = InverseProblem(
        lambda U: U @ A.T, y=y, noise_cov=0.05**2, prior_mean=np.zeros(3), prior_cov=1.0
    )
    full = solve(
        problem,
        EKI(scheduler=DefaultScheduler(1.0), perturbed=False),
        n_ensemble=30,
        rng=1,
        workers="vectorized",
        maxiter=20,
    )
    assert np.linalg.norm(res.x - full.mean) < 0.02 * np.linalg.norm(x_ls)


def test_serial_workers_and_inverse_problem_match_vectorized():
    A, y = _linear(n=20, p=2)
    series = ObservationSeries(y, 0.01, RandomFixedSizeMinibatcher(5, rng=3))
    kw = dict(n_ensemble=10, epochs=2, rng=4)
    vec = solve_minibatched(
        lambda U, idx: U @ A[idx].T,
        series,
        prior_mean=np.zeros(2),
        prior_cov=1.0,
        workers="vectorized",
        **kw,
    )
    ser = solve_minibatched(
        lambda u, idx: A[idx] @ u, series, prior_mean=np.zeros(2), prior_cov=1.0, **kw
    )
    np.testing.assert_allclose(ser.ensemble, vec.ensemble, rtol=1e-10, atol=1e-12)
    problem = InverseProblem(
        lambda U: U @ A.T, y=y, noise_cov=0.01, prior_mean=np.zeros(2), prior_cov=1.0
    )
    via_problem = solve_minibatched(problem, series, workers="vectorized", **kw)
    np.testing.assert_allclose(via_problem.ensemble, vec.ensemble, rtol=1e-10, atol=1e-12)


def test_deterministic_given_the_seeds():
    A, y = _linear(n=30)

    def run(rng, mb_rng):
        series = ObservationSeries(y, 0.01, RandomFixedSizeMinibatcher(6, rng=mb_rng))
        return solve_minibatched(
            lambda U, idx: U @ A[idx].T,
            series,
            x0=np.zeros(3),
            n_ensemble=12,
            epochs=2,
            rng=rng,
            workers="vectorized",
        )

    a, b = run(5, 6), run(5, 6)
    np.testing.assert_array_equal(a.ensemble, b.ensemble)
    np.testing.assert_array_equal(a.misfits, b.misfits)
    assert not np.array_equal(a.ensemble, run(5, 7).ensemble)
    assert not np.array_equal(a.ensemble, run(9, 6).ensemble)


def test_callback_stops_and_sees_the_batch():
    A, y = _linear(n=20)
    series = ObservationSeries(y, 0.01, FixedMinibatcher(5))
    seen = []

    def callback(res):
        seen.append(series.batch(res.nit - 1).indices.tolist())
        if len(seen) == 3:
            raise StopIteration

    res = solve_minibatched(
        lambda U, idx: U @ A[idx].T,
        series,
        x0=np.zeros(3),
        n_ensemble=8,
        epochs=3,
        rng=0,
        workers="vectorized",
        callback=callback,
    )
    assert res.nit == 3 and res.status == Status.CALLBACK and not res.success
    assert seen == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14]]


def _problem_series(n=30, size=6):
    A, y = _linear(n=n)
    return A, ObservationSeries(y, 0.01, RandomFixedSizeMinibatcher(size, rng=4))


def test_minibatched_runs_respect_maxfev_and_report_a_status():
    A, series = _problem_series()
    kw = dict(x0=np.zeros(3), n_ensemble=10, epochs=4, rng=0, workers="vectorized")
    done = solve_minibatched(lambda U, idx: U @ A[idx].T, series, **kw)
    assert done.status == Status.MAXITER and done.nit == 20 and done.nfev == 200
    assert done.message == "Completed 4 epochs of 5 minibatches."
    cut = solve_minibatched(lambda U, idx: U @ A[idx].T, series, maxfev=75, **kw)
    assert cut.status == Status.MAXFEV and cut.nfev == 70 and cut.nit == 7
    assert len(cut.misfits) == 7 and cut.epochs == 7 / 5


def test_minibatched_nan_members_are_counted_and_the_run_goes_on():
    A, series = _problem_series()

    def flaky(U, idx):
        G = U @ A[idx].T
        G[::4] = np.nan  # a quarter of the members fail every iteration
        return G

    res = solve_minibatched(
        flaky, series, x0=np.zeros(3), n_ensemble=12, epochs=10, rng=0, workers="vectorized"
    )
    assert res.failures["count"] == 3 * res.nit and res.status == Status.MAXITER
    truth = np.arange(1.0, 4.0)
    assert np.linalg.norm(res.x - truth) < 0.1 * np.linalg.norm(truth)  # x0 = 0


def test_minibatched_runs_resume_exactly(tmp_path):
    A, series = _problem_series()
    fwd = lambda U, idx: U @ A[idx].T  # noqa: E731
    kw = dict(x0=np.zeros(3), n_ensemble=10, epochs=3, rng=2, workers="vectorized")
    full = solve_minibatched(fwd, series, **kw)
    path = tmp_path / "mb.npz"
    part = solve_minibatched(fwd, series, **kw, checkpoint=path, walltime=0)
    assert part.status == Status.WALLTIME and part.nit == 1
    while True:
        rest = resume_minibatched(path, fwd, series, workers="vectorized", walltime=0)
        if rest.status != Status.WALLTIME:
            break
    assert rest.nit == full.nit and rest.nfev == full.nfev
    np.testing.assert_array_equal(rest.ensemble, full.ensemble)
    np.testing.assert_array_equal(rest.history["fun"], full.history["fun"])


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"observations": np.asarray([1.0, np.nan])}, ValueError, "observations"),
        ({"observations": np.zeros((2, 2, 2))}, ValueError, "observations"),
        ({"observations": ["a", "b"]}, TypeError, "observations"),
        ({"noise_cov": -1.0}, ValueError, "noise_cov"),
        ({"noise_cov": np.ones(3)}, ValueError, "noise_cov"),
        ({"noise_cov": "x"}, TypeError, "noise_cov"),
        ({"minibatcher": "random"}, TypeError, "minibatcher"),
        ({"minibatcher": FixedMinibatcher([[0, 5]])}, ValueError, "minibatcher"),
        ({"minibatcher": RandomFixedSizeMinibatcher(3)}, ValueError, "size"),
    ],
)
def test_series_errors_name_the_argument(kwargs, exc, name):
    args = {"observations": np.zeros(2), "noise_cov": 1.0, **kwargs}
    with pytest.raises(exc, match=f"`{name}`"):
        ObservationSeries(**args)


@pytest.mark.parametrize(
    ("make", "exc", "name"),
    [
        (lambda: FixedMinibatcher([]), ValueError, "batches"),
        (lambda: FixedMinibatcher([[0.5]]), ValueError, "batches"),
        (lambda: FixedMinibatcher([[-1]]), ValueError, "batches"),
        (lambda: FixedMinibatcher(0), ValueError, "batches"),
        (lambda: FixedMinibatcher("ab"), TypeError, "batches"),
        (lambda: RandomFixedSizeMinibatcher(0), ValueError, "size"),
        (lambda: RandomFixedSizeMinibatcher(2, extra=1), TypeError, "extra"),
        (lambda: RandomFixedSizeMinibatcher(2, rng="x"), TypeError, "rng"),
    ],
)
def test_minibatcher_errors_name_the_argument(make, exc, name):
    with pytest.raises(exc, match=f"`{name}`"):
        make()


def test_solve_minibatched_errors_name_the_argument():
    A, y = _linear(n=10)
    series = ObservationSeries(y, 0.01, FixedMinibatcher(5))
    fwd = lambda U, idx: U @ A[idx].T  # noqa: E731
    kw = dict(x0=np.zeros(3), workers="vectorized")
    with pytest.raises(TypeError, match="`series`"):
        solve_minibatched(fwd, y, **kw)
    with pytest.raises(TypeError, match="`forward`"):
        solve_minibatched(3, series, **kw)
    with pytest.raises(ValueError, match="`epochs`"):
        solve_minibatched(fwd, series, epochs=0, **kw)
    with pytest.raises(ValueError, match="`method`"):
        solve_minibatched(fwd, series, "uki", **kw)
    with pytest.raises(TypeError, match="`method`"):
        solve_minibatched(fwd, series, object(), **kw)
    with pytest.raises(TypeError, match="`options`"):
        solve_minibatched(fwd, series, options=[1], **kw)
    with pytest.raises(ValueError, match="`x0`"):
        solve_minibatched(fwd, series, workers="vectorized")
    with pytest.raises(ValueError, match="`prior_cov`"):
        solve_minibatched(fwd, series, prior_mean=np.zeros(3), workers="vectorized")
    with pytest.raises(ValueError, match="outputs per member"):
        solve_minibatched(lambda U, idx: U @ A.T, series, **kw)
    problem = InverseProblem(
        lambda U: U @ A[:4].T, y=y[:4], noise_cov=0.01, prior_mean=np.zeros(3), prior_cov=1.0
    )
    with pytest.raises(ValueError, match="`forward`"):
        solve_minibatched(problem, series, workers="vectorized")
