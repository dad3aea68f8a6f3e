"""Single-topic model, LDA and the spectral HMM on planted models (issue 5)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gradfree._validate import GradfreeWarning
from gradfree.tensor import recovery_error
from gradfree.tensor._hmm import SpectralHMM, _forward_probability, _sample_hmm
from gradfree.tensor._topics import LDA, SingleTopicModel


def planted_topics(vocab=12, k=3, seed=0):
    g = np.random.default_rng(seed)
    return g.dirichlet(0.3 * np.ones(vocab), size=k).T  # (vocab, k)


def sample_lda(mu, alpha, n_docs, length, seed):
    g = np.random.default_rng(seed)
    theta = g.dirichlet(alpha, size=n_docs)
    return g.multinomial(length, theta @ mu.T)


def sample_single(mu, w, n_docs, length, seed):
    g = np.random.default_rng(seed)
    h = g.choice(len(w), size=n_docs, p=w)
    return g.multinomial(length, mu.T[h])


def planted_hmm(seed=1):
    g = np.random.default_rng(seed)
    pi = np.asarray([0.5, 0.3, 0.2])
    T = 0.6 * np.eye(3) + 0.4 * g.dirichlet(np.ones(3), size=3).T
    E = g.dirichlet(np.ones(6), size=3).T
    return pi, T, E


def test_single_topic_recovery():
    mu, w = planted_topics(), np.asarray([0.2, 0.3, 0.5])
    X = sample_single(mu, w, 20000, 15, seed=1)
    model = SingleTopicModel(3, rng=0).fit(X)
    assert recovery_error(mu, model.topics_).max < 0.05
    assert np.allclose(model.topics_.sum(axis=0), 1.0)
    assert (model.topics_ >= 0).all()
    np.testing.assert_allclose(np.sort(model.weights_), w, atol=0.02)
    assert np.isfinite(model.score(X[:100]))


def test_lda_recovery_and_alpha():
    mu, alpha = planted_topics(), np.asarray([0.2, 0.3, 0.5])
    X = sample_lda(mu, alpha, 30000, 30, seed=2)
    model = LDA(3, alpha0=alpha.sum(), rng=0).fit(X)
    assert recovery_error(mu, model.topics_).max < 0.08
    np.testing.assert_allclose(np.sort(model.alpha_), alpha, rtol=0.2)
    theta = model.transform(X[:5])
    assert theta.shape == (5, 3) and np.allclose(theta.sum(axis=1), 1.0) and (theta >= 0).all()


def test_lda_error_shrinks_with_n():
    mu, alpha = planted_topics(seed=3), np.asarray([0.3, 0.3, 0.4])
    errs = [
        recovery_error(mu, LDA(3, 1.0, rng=0).fit(sample_lda(mu, alpha, n, 30, 4)).topics_).max
        for n in (2000, 50000)
    ]
    assert errs[1] < errs[0]


def test_topics_seeded_determinism():
    mu = planted_topics()
    X = sample_lda(mu, np.asarray([0.2, 0.3, 0.5]), 3000, 20, seed=5)
    a = LDA(3, 1.0, rng=7).fit(X)
    b = LDA(3, 1.0, rng=7).fit(X)
    np.testing.assert_array_equal(a.topics_, b.topics_)
    np.testing.assert_array_equal(a.alpha_, b.alpha_)


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        ([[1, -1, 3], [2, 2, 2]], {}, "Negative values in data passed to `X`"),
        ([[1, np.nan, 3], [2, 2, 2]], {}, "Input X contains NaN"),
        ([[1, 0.5, 3], [2, 2, 2]], {}, "`X`.*integer"),
        ([[1, 1, 0], [2, 2, 2]], {}, "`X`.*>= 3 words"),
        ([[1, 1, 3], [2, 2, 2]], {"n_topics": 4}, "`n_topics`"),
    ],
)
def test_topics_bad_input(X, kwargs, match):
    for cls, extra in ((SingleTopicModel, {}), (LDA, {"alpha0": 1.0})):
        with pytest.raises(ValueError, match=match):
            cls(**{"n_topics": 2, **extra, **kwargs}, rng=0).fit(np.asarray(X))


def test_lda_bad_alpha0():
    with pytest.raises(ValueError, match="`alpha0`"):
        LDA(2, alpha0=-1.0).fit(np.asarray([[1, 1, 3], [2, 2, 2]]))


def test_topics_clipping_warns():
    # sparse topics (many near-zero entries) and only 100 short documents
    X = sample_single(planted_topics(), np.asarray([0.2, 0.3, 0.5]), 100, 5, seed=0)
    with pytest.warns(GradfreeWarning, match="clipped"):
        model = SingleTopicModel(3, rng=0).fit(X)
    assert (model.topics_ >= 0).all() and np.allclose(model.topics_.sum(axis=0), 1.0)


@pytest.fixture(scope="module")
def fitted_hmm():
    pi, T, E = planted_hmm()
    X = _sample_hmm(pi, T, E, 200000, 3, rng=0)
    return (pi, T, E), SpectralHMM(3).fit(X)


def test_hmm_sequence_probabilities(fitted_hmm):
    (pi, T, E), hmm = fitted_hmm
    for seq in ([0], [2, 3], [1, 4, 0], [5, 5, 5], [0, 1, 2, 3]):
        p = _forward_probability(pi, T, E, seq)
        assert abs(hmm.sequence_probability(seq) - p) / p < 0.3, seq
    seqs = list(itertools.product(range(6), repeat=3))
    raw = hmm._raw_probabilities(seqs)
    exact = np.asarray([_forward_probability(pi, T, E, s) for s in seqs])
    assert abs(raw.sum() - 1.0) < 0.03
    assert np.abs(raw - exact).sum() < 0.1
    assert hmm.score(np.asarray(seqs[:10])) < 0


def test_hmm_deterministic_and_list_input():
    pi, T, E = planted_hmm()
    X = _sample_hmm(pi, T, E, 2000, 4, rng=1)
    a = SpectralHMM(3, rng=0).fit(X)
    b = SpectralHMM(3, rng=0).fit([list(r) for r in X])
    np.testing.assert_array_equal(a.B_, b.B_)
    np.testing.assert_array_equal(a.b_inf_, b.b_inf_)


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        ([[0, 1, 6]], {"n_symbols": 6}, "`X`.*< n_symbols"),
        ([[0, -1, 2]], {}, "Negative values in data passed to `X`"),
        ([[0, np.nan, 2]], {}, "Input X contains NaN"),
        ([[0, 1]], {}, "`X`.*>= 3 symbols"),
        ([[0, 1, 1]], {"n_states": 3}, "`n_states`"),
    ],
)
def test_hmm_bad_input(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        SpectralHMM(**{"n_states": 1, **kwargs}).fit(np.asarray(X))


def test_hmm_bad_query(fitted_hmm):
    _, hmm = fitted_hmm
    with pytest.raises(ValueError, match="`seq`.*< n_symbols"):
        hmm.sequence_probability([0, 6])
    with pytest.raises(ValueError, match="`seq`.*1-d"):
        hmm.sequence_probability([[0, 1]])


def test_hmm_negative_estimate_warns():
    pi, T, E = planted_hmm()
    hmm = SpectralHMM(3).fit(_sample_hmm(pi, T, E, 40, 3, rng=0))
    seqs = list(itertools.product(range(6), repeat=3))
    raw = hmm._raw_probabilities(seqs)
    bad = seqs[int(np.argmin(raw))]
    assert raw.min() < 0
    with pytest.warns(GradfreeWarning, match="clipped"):
        p = hmm.sequence_probability(bad)
    assert p == hmm.min_prob
