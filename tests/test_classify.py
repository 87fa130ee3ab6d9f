"""GenerativeClassifier: one density per class and Bayes' rule, against an independent one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from genzoo import GaussianMixture, GenerativeClassifier
from genzoo.base import GenerativeModel


def _three_classes(n: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    centres = np.array([[0.0, 0.0], [2.0, 1.0], [-1.0, 2.0]])
    scales = np.array([[1.0, 0.5], [0.5, 1.5], [0.8, 0.8]])
    return centres[y] + scales[y] * rng.normal(size=(n, 2)), np.array(["a", "b", "c"])[y]


def _reference_joint(X_train, y_train, X, priors=None):
    """Bayes' rule by hand: a maximum-likelihood Gaussian per class, scipy densities."""
    classes = np.unique(y_train)
    columns = []
    for i, c in enumerate(classes):
        rows = X_train[y_train == c]
        cov = np.cov(rows.T, bias=True) + 1e-6 * np.eye(2)
        prior = np.mean(y_train == c) if priors is None else priors[i]
        columns.append(multivariate_normal(rows.mean(0), cov).logpdf(X) + np.log(prior))
    return np.stack(columns, axis=1)


def test_bayes_rule_equals_an_independent_computation():
    X, y = _three_classes()
    X_test, _ = _three_classes(200, seed=1)
    clf = GenerativeClassifier(GaussianMixture(1), random_state=0).fit(X, y)
    joint = _reference_joint(X, y, X_test)
    np.testing.assert_allclose(clf.joint_log_likelihood(X_test), joint, rtol=1e-8)
    posterior = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
    np.testing.assert_allclose(clf.predict_proba(X_test), posterior, atol=1e-10)
    np.testing.assert_array_equal(clf.predict(X_test), np.array(["a", "b", "c"])[joint.argmax(1)])
    np.testing.assert_allclose(clf.log_prob(X_test), logsumexp(joint, axis=1), rtol=1e-10)
    labels = np.array(["a", "b", "c"])[np.arange(200) % 3]
    np.testing.assert_allclose(
        clf.log_prob(X_test, labels), joint[np.arange(200), np.arange(200) % 3], rtol=1e-10
    )


def test_priors_given_or_uniform():
    X, y = _three_classes()
    X_test, _ = _three_classes(50, seed=2)
    priors = np.array([0.2, 0.3, 0.5])
    clf = GenerativeClassifier(GaussianMixture(1), priors=priors).fit(X, y)
    np.testing.assert_allclose(
        clf.joint_log_likelihood(X_test), _reference_joint(X, y, X_test, priors), rtol=1e-8
    )
    uniform = GenerativeClassifier(GaussianMixture(1), fit_prior=False).fit(X, y)
    np.testing.assert_allclose(np.exp(uniform.class_log_prior_), [1 / 3] * 3)
    with pytest.raises(ValueError, match="priors"):
        GenerativeClassifier(GaussianMixture(1), priors=[0.5, 0.5]).fit(X, y)


def test_samples_of_a_class_are_classified_as_that_class():
    X, y = _three_classes(900, seed=3)
    clf = GenerativeClassifier(GaussianMixture(2), random_state=0).fit(X, y)
    for label in ("a", "b", "c"):
        samples = clf.sample(400, y=label, random_state=1)
        rows = X[y == label]
        np.testing.assert_allclose(samples.mean(0), rows.mean(0), atol=0.2)
    samples, labels = clf.sample(3000, random_state=2, return_labels=True)
    shares = [np.mean(labels == c) for c in ("a", "b", "c")]
    np.testing.assert_allclose(shares, np.exp(clf.class_log_prior_), atol=0.04)


class _NoLikelihood(GenerativeModel):
    """A model without a likelihood, to be refused.

    Examples
    --------
    >>> _NoLikelihood()
    _NoLikelihood()
    """

    likelihood_kind = None
    no_likelihood_reason = "it only draws samples"

    def __init__(self, random_state=None):
        self.random_state = random_state

    def _fit(self, X, y, gen):
        return {"n_features_in_": X.shape[1], "input_shape_": [X.shape[1]]}

    def _sample(self, n_samples, y, gen):
        return torch.zeros(n_samples, self.n_features_in_)


def test_a_model_without_likelihood_is_refused():
    X, y = _three_classes(100)
    with pytest.raises(ValueError, match="needs a model with a likelihood.*only draws samples"):
        GenerativeClassifier(_NoLikelihood()).fit(X, y)
    with pytest.raises(ValueError, match="estimator must be a genzoo model"):
        GenerativeClassifier("gmm").fit(X, y)
