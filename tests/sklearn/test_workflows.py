"""scikit-learn's workflows run unchanged on genzoo models: Pipeline, GridSearchCV (in worker
processes), cross_val_score, the RBM-features example, set_output, is_classifier, clone."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import BernoulliRBM
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from genzoo import (
    DBM,
    DBN,
    RBM,
    VAE,
    BernoulliNaiveBayes,
    CategoricalNaiveBayes,
    DenoisingAutoencoder,
    GaussianMixture,
    GaussianNaiveBayes,
    GenerativeClassifier,
    LatentDirichletAllocation,
    MultinomialNaiveBayes,
    SparseAutoencoder,
)


def _blobs(n=300, seed=0):
    """Three well-separated Gaussian blobs in 2-D, on a scale far from unit, with labels."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]]) * 100 + 1000
    y = rng.integers(0, 3, n)
    return centres[y] + 100 * rng.normal(size=(n, 2)), y


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X, y


def test_pipeline_scaler_then_mixture_fits_with_y_and_scores():
    X, y = _blobs()
    pipe = Pipeline([("scale", StandardScaler()), ("gmm", GaussianMixture(3, random_state=0))])
    pipe.fit(X, y)  # y is ignored by the unsupervised model, as in scikit-learn
    scaled = StandardScaler().fit_transform(X)
    direct = GaussianMixture(3, random_state=0).fit(scaled)
    assert pipe.score(X, y) == pytest.approx(direct.score(scaled), rel=1e-9)
    labels = pipe.predict(X)
    agreement = max(np.mean((labels == a) == (y == b)) for a in range(3) for b in range(3))
    assert agreement > 0.95


def test_grid_search_over_gmm_components_in_two_processes():
    X, _ = _blobs(seed=1)
    search = GridSearchCV(
        GaussianMixture(random_state=0), {"n_components": [1, 2, 3]}, cv=3, n_jobs=2
    ).fit(X)
    assert search.best_params_ == {"n_components": 3}
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.n_components == 3


def test_grid_search_over_vae_latent_dim_pickles_models_to_workers():
    X = np.random.default_rng(0).normal(size=(120, 4)) @ np.diag([3.0, 2.0, 0.1, 0.1])
    vae = VAE(hidden=(16,), max_steps=40, batch_size=40, n_importance=4, verbose=0,
              random_state=0)  # fmt: skip
    search = GridSearchCV(vae, {"latent_dim": [1, 2]}, cv=2, n_jobs=2).fit(X)
    assert search.best_params_["latent_dim"] in (1, 2)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert np.isfinite(search.score(X))


@pytest.mark.parametrize(
    "classifier",
    [
        GenerativeClassifier(GaussianMixture(1, covariance_type="diag", reg_covar=0.01)),
        GaussianNaiveBayes(),
        BernoulliNaiveBayes(binarize=8.0),
        MultinomialNaiveBayes(),
        CategoricalNaiveBayes(min_categories=17),
    ],
    ids=lambda c: type(c).__name__,
)
def test_cross_val_score_of_classifiers(classifier, digits):
    X, y = digits
    accuracy = cross_val_score(classifier, X, y, cv=3, scoring="accuracy")
    assert accuracy.shape == (3,) and accuracy.mean() > 0.7
    # Without `scoring`, a genzoo model's score is its mean log-likelihood (nats per item).
    loglik = cross_val_score(classifier, X, y, cv=3)
    assert np.all(np.isfinite(loglik)) and np.all(loglik < 0)


def test_rbm_features_example_matches_sklearns_bernoulli_rbm(digits):
    """scikit-learn's "RBM features for digit classification" example, on binarised digits:
    genzoo's RBM in the same pipeline reaches the accuracy BernoulliRBM reaches."""
    X, y = digits
    X = (X / 16.0 > 0.5).astype(np.float64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    accuracies = {}
    rbms = {
        "sklearn": BernoulliRBM(n_components=100, learning_rate=0.06, n_iter=10, random_state=0),
        "genzoo": RBM(
            100,
            learning_rate=0.06,
            n_iter=10,
            batch_size=10,
            compute_log_partition=False,
            random_state=0,
        ),  # fmt: skip
    }
    for name, rbm in rbms.items():
        pipe = Pipeline([("rbm", rbm), ("logistic", LogisticRegression(C=100, max_iter=2000))])
        accuracies[name] = pipe.fit(X_train, y_train).score(X_test, y_test)
    assert accuracies["sklearn"] > 0.85
    assert accuracies["genzoo"] >= accuracies["sklearn"] - 0.01, accuracies


@pytest.mark.parametrize(
    "transformer, prefix",
    [
        (RBM(5, n_iter=2, compute_log_partition=False, random_state=0), "rbm"),
        (DBN((6, 4), n_iter=2, random_state=0), "dbn"),
        (DBM((6, 4), n_iter=2, pretrain_iter=1, n_chains=10, random_state=0, verbose=0), "dbm"),
        (LatentDirichletAllocation(3, max_iter=5, random_state=0), "latentdirichletallocation"),
        (
            DenoisingAutoencoder(3, hidden=(8,), max_steps=5, verbose=0, random_state=0),
            "denoisingautoencoder",
        ),
        (
            SparseAutoencoder(3, hidden=(8,), max_steps=5, verbose=0, random_state=0),
            "sparseautoencoder",
        ),
    ],  # fmt: skip
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else "",
)
def test_set_output_pandas_on_transformers(transformer, prefix, digits):
    X, _ = digits
    X = (X[:200] > 8).astype(np.float64)
    width = transformer._n_features_out
    out = transformer.set_output(transform="pandas").fit_transform(X)
    assert isinstance(out, pd.DataFrame) and out.shape == (200, width)
    assert list(out.columns) == [f"{prefix}{i}" for i in range(width)]
    assert list(transformer.get_feature_names_out()) == list(out.columns)
    np.testing.assert_allclose(out.to_numpy(), transformer.set_output(transform="default")
                               .transform(X), rtol=1e-6)  # fmt: skip


def test_is_classifier_only_for_models_that_predict_labels():
    for model in (GaussianNaiveBayes(), MultinomialNaiveBayes(), GenerativeClassifier()):
        assert is_classifier(model) and not is_regressor(model)
    for model in (GaussianMixture(), RBM(), VAE(), VAE(conditional=True)):
        assert not is_classifier(model)


def test_clone_of_a_fitted_model_is_unfitted_with_the_same_parameters():
    X, _ = _blobs()
    fitted = GaussianMixture(3, covariance_type="diag", random_state=4).fit(X)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    with pytest.raises(NotFittedError):
        copy.log_prob(X)
    np.testing.assert_allclose(copy.fit(X).log_prob(X), fitted.log_prob(X))


def test_users_may_pickle_fitted_models():
    X, y = _blobs()
    for model in (GaussianMixture(3, random_state=0).fit(X), GaussianNaiveBayes().fit(X, y)):
        again = pickle.loads(pickle.dumps(model))
        np.testing.assert_array_equal(again.log_prob(X), model.log_prob(X))


def test_unconditional_model_with_a_conditional_option_warns_that_y_is_ignored():
    X, y = _blobs(60)
    vae = VAE(latent_dim=1, hidden=(8,), max_steps=3, verbose=0, random_state=0)
    with pytest.warns(UserWarning, match="ignores y.*conditional=True"):
        vae.fit(X, y)
    # A model with no such option ignores y silently, as scikit-learn's do.
    GaussianMixture(2, random_state=0).fit(X, y).score(X, y)


def test_sequence_model_takes_labels_but_refuses_what_may_be_lengths():
    from genzoo import HiddenMarkovModel

    X = np.random.default_rng(0).normal(size=(40, 1))
    hmm = HiddenMarkovModel(2, emission="gaussian", max_iter=3, random_state=0)
    labels = np.arange(40) % 3
    hmm.fit(X, labels)  # one label per step: ignored, as by scikit-learn's unsupervised models
    assert np.isfinite(hmm.score(X, labels))
    for lengths in ([20, 20], np.ones(40, dtype=int)):
        with pytest.raises(ValueError, match="pass them by keyword"):
            clone(hmm).fit(X, lengths)
    assert clone(hmm).fit(X, lengths=[20, 20]).n_features_in_ == 1


@pytest.mark.parametrize(
    "X, message",
    [
        (np.arange(5.0), r"X must have shape .*Reshape your data"),
        (np.zeros((5, 0)), r"X is empty: Found array with 0 feature\(s\) \(shape=\(5, 0\)\)"),
        (np.zeros((0, 2)), r"X is empty: Found array with 0 sample\(s\)"),
        (np.ones((3, 2)) * 1j, "Complex data not supported: X must be real"),
    ],
    ids=["1-D", "no features", "no samples", "complex"],
)
def test_errors_carry_sklearns_phrases_and_name_the_argument(X, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(1).fit(X)


def test_sparse_input_is_refused_unless_taken():
    import scipy.sparse

    X = scipy.sparse.random(20, 4, density=0.5, format="csr", random_state=0)
    with pytest.raises(TypeError, match="Sparse data is not supported"):
        GaussianMixture(1).fit(X)
    counts = scipy.sparse.csr_matrix(np.round(X.toarray() * 5))
    y = np.arange(20) % 2
    model = MultinomialNaiveBayes().fit(counts, y)  # counts from a vectoriser are taken
    np.testing.assert_allclose(model.log_prob(counts), model.log_prob(counts.toarray()))


def test_predict_checks_the_number_of_features_in_sklearns_words():
    X, y = _blobs()
    model = GaussianNaiveBayes().fit(X, y)
    with pytest.raises(ValueError, match="X has 1 features, but GaussianNaiveBayes is expecting 2"):
        model.predict(X[:, :1])
