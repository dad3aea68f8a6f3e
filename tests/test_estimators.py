"""The shared estimator machinery: namespaces and devices, networks that cross families."""

from __future__ import annotations

import numpy as np
import pytest
from array_api_compat import array_namespace, device
from sklearn.exceptions import DataConversionWarning

from gradfree import altmin, local, tensor
from gradfree.estimators import NetworkClassifier, check_X, fit
from gradfree.models import MLP


def _toy(n=60, d=3, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.argmax(X[:, :k], axis=1)
    return X, y


NETWORK_CLASSIFIERS = [
    altmin.BCDClassifier((6,), max_iter=2, rng=0),
    altmin.OnlineAMClassifier((6,), max_iter=2, rng=0),
    local.FAClassifier((6,), max_iter=2, rng=0),
    local.FFClassifier((6,), max_iter=2, rng=0),
    local.NoPropClassifier((6,), max_iter=2, rng=0),
]


@pytest.fixture
def device1():
    """array-api-strict with its second device: a stand-in for a second GPU."""
    xp = pytest.importorskip("array_api_strict")
    return xp, xp.Device("device1")


@pytest.mark.parametrize("clf", NETWORK_CLASSIFIERS, ids=lambda c: type(c).__name__)
def test_fit_and_predictions_stay_on_the_device_of_X(clf, device1):
    xp, dev = device1
    X, y = _toy()
    Xd = xp.asarray(X, device=dev)
    clf.fit(Xd, y)
    assert device(clf.params_) == dev and array_namespace(clf.params_) is xp
    for out in (clf.decision_function(Xd), clf.predict(Xd)):
        assert array_namespace(out) is xp and device(out) == dev
    ref = type(clf)(**clf.get_params()).fit(X, y)
    np.testing.assert_allclose(
        np.asarray(xp.asarray(clf.decision_function(Xd), device=xp.Device("CPU_DEVICE"))),
        ref.decision_function(X),
        rtol=1e-8,
        atol=1e-10,
    )
    assert 0.0 <= clf.score(Xd, y) <= 1.0


def test_tensor_estimators_keep_the_device_of_X(device1):
    xp, dev = device1
    g = np.random.default_rng(0)
    X = g.standard_normal((4000, 4))
    y = np.tanh(X @ np.asarray([1.0, -1.0, 0.5, 0.0]) + 0.3)
    Xd = xp.asarray(X, device=dev)
    lift = tensor.NNLIFTRegressor(1, rng=0).fit(Xd, xp.asarray(y, device=dev))
    pred = lift.predict(Xd)
    assert device(pred) == dev and device(lift.params_) == dev
    gmm = tensor.SphericalGMM(1, rng=0).fit(Xd)
    assert device(gmm.predict(Xd)) == dev


def test_string_labels_come_back_on_the_host(device1):
    xp, dev = device1
    X, y = _toy()
    labels = np.asarray(["a", "b", "c"])[y]
    clf = local.FAClassifier((6,), max_iter=2, rng=0).fit(xp.asarray(X, device=dev), labels)
    pred = clf.predict(xp.asarray(X, device=dev))
    assert isinstance(pred, np.ndarray) and set(pred) <= {"a", "b", "c"}


def test_network_crosses_families():
    """BCD's hidden layers start a local rule that keeps them frozen (the readout control),
    and its model_ reproduces the classifier's scores from params_."""
    X, y = _toy()
    bcd = altmin.BCDClassifier((8,), max_iter=3, rng=0).fit(X, y)
    assert bcd.model_ == MLP((3, 8, 3), activations="relu")
    np.testing.assert_allclose(bcd.model_.forward(bcd.params_, X), bcd.decision_function(X))
    ro = local.ReadoutOnlyLocalClassifier((8,), activation="relu", max_iter=2, rng=1)
    ro.set_params(init_params=bcd.params_).fit(X, y)
    np.testing.assert_array_equal(ro.layers_[0], bcd.layers_[0])  # frozen, as given
    assert not np.array_equal(ro.layers_[1], bcd.layers_[1])  # the readout trains


@pytest.mark.parametrize(
    "cls",
    [altmin.BCDClassifier, altmin.ADMMClassifier, local.FAClassifier, local.NoPropClassifier],
)
def test_warm_start_continues_from_the_last_fit(cls):
    X, y = _toy()
    warm = cls((6,), max_iter=2, warm_start=True, rng=0).fit(X, y)
    first = warm.params_
    warm.fit(X, y)
    given = cls((6,), max_iter=2, init_params=first, rng=0).fit(X, y)
    np.testing.assert_array_equal(warm.params_, given.params_)
    cold = cls((6,), max_iter=2, rng=0).fit(X, y)
    assert not np.array_equal(cold.params_, given.params_)


def test_init_params_are_checked():
    X, y = _toy()
    with pytest.raises(
        ValueError, match="`init_params` must be a flat vector of the network's 45"
    ):
        local.FAClassifier((6,), init_params=np.zeros(5), rng=0).fit(X, y)
    with pytest.raises(ValueError, match="flat vector"):
        local.FAClassifier((6,), init_params=np.zeros((2, 5)), rng=0).fit(X, y)


def test_nnlift_network_is_an_mlp_that_eki_refines():
    """NN-LIFT's params_ are an x0 for EKI (`gradfree.minimize`) on its model_."""
    from gradfree import minimize
    from gradfree.kalman import EKI, DataMisfitController
    from gradfree.models import residual

    g = np.random.default_rng(0)
    A1 = np.linalg.qr(g.standard_normal((5, 2)))[0]
    X = g.standard_normal((20000, 5))
    y = np.tanh(X @ A1 + [0.4, -0.3]) @ [1.0, -1.5] + 0.1 * g.standard_normal(20000)
    lift = tensor.NNLIFTRegressor(2, rng=0).fit(X, y)
    net = lift.model_
    np.testing.assert_allclose(net.forward(lift.params_, X[:7])[:, 0], lift.predict(X[:7]))
    r = residual(net, X, y, link="identity", batch_size=500, rng=0, noise_std=0.1)
    eki = EKI(n_ensemble=60, sigma0=0.02, scheduler=DataMisfitController(on_terminate="continue"))
    res = minimize(r, lift.params_, method=eki, rng=0, workers="vectorized", maxiter=20)
    w = res.state.ensemble.mean(axis=0)
    Xt = g.standard_normal((5000, 5))
    yt = np.tanh(Xt @ A1 + [0.4, -0.3]) @ [1.0, -1.5]
    before = np.mean((lift.predict(Xt) - yt) ** 2)
    after = np.mean((net.forward(w, Xt)[:, 0] - yt) ** 2)
    assert after < 0.5 * before, (before, after)


def test_fit_loop_contract():
    """One loop for every layer-wise solver: the stop rules and the result."""
    X, y = _toy()
    Y = np.eye(3)[y]
    rule = local.FeedbackAlignment(hidden_layer_sizes=(5,), batch_size=20)
    res = fit(rule, X, Y, rng=0, maxiter=4)
    assert res.nit == 4 and len(res.history) == 5 and res.state.sweep == 4

    def stop(state):
        raise StopIteration

    assert fit(rule, X, Y, rng=0, maxiter=4, callback=stop).nit == 1
    with pytest.raises(ValueError, match="`X` and `Y`"):
        fit(rule, X, Y[:-1], rng=0)
    with pytest.raises(ValueError, match="NaN"):
        check_X(np.asarray([[np.nan]]))


def test_network_classifier_declares_its_parameters():
    sig = list(NetworkClassifier.__subclasses__())
    assert sig  # the families' estimators derive from it
    params = altmin.BCDClassifier().get_params()
    for name in ("max_iter", "tol", "warm_start", "init_params", "rng", "readout_ridge"):
        assert name in params
    assert altmin.BCDClassifier().alpha == 0.01 and altmin.BCD().alpha == 5.0


@pytest.mark.parametrize("on_device", [False, True])
def test_bad_targets_are_rejected_with_scikit_learns_messages(on_device, device1):
    xp, dev = device1
    X, y = _toy()
    Xin = xp.asarray(X, device=dev) if on_device else X
    clf = local.FAClassifier((4,), max_iter=1, rng=0)
    y_nan = y.astype(float)
    y_nan[3] = np.nan
    with pytest.raises(ValueError, match="Input y contains NaN"):
        clf.fit(Xin, y_nan)
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(Xin, X[:, 0])
    with pytest.raises(ValueError, match="requires y to be passed"):
        clf.fit(Xin, None)
    with pytest.warns(DataConversionWarning):
        clf.fit(Xin, y[:, None])
    assert clf.n_features_in_ == 3 and clf.n_iter_ == 1
    X_inf = X.copy()
    X_inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        clf.fit(xp.asarray(X_inf, device=dev) if on_device else X_inf, y)
