"""Bayesian networks: naive Bayes, discrete Bayesian networks, hidden Markov models."""

from genzoo.bayesnet.hmm import HiddenMarkovModel
from genzoo.bayesnet.naive_bayes import (
    BernoulliNaiveBayes,
    CategoricalNaiveBayes,
    GaussianNaiveBayes,
    MultinomialNaiveBayes,
)
from genzoo.bayesnet.network import BayesianNetwork

__all__ = [
    "BayesianNetwork",
    "BernoulliNaiveBayes",
    "CategoricalNaiveBayes",
    "GaussianNaiveBayes",
    "HiddenMarkovModel",
    "MultinomialNaiveBayes",
]
