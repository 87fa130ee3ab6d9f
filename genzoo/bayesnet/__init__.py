"""Bayesian networks: naive Bayes, discrete Bayesian networks, hidden Markov models."""

from genzoo.bayesnet.naive_bayes import (
    BernoulliNaiveBayes,
    CategoricalNaiveBayes,
    GaussianNaiveBayes,
    MultinomialNaiveBayes,
)

__all__ = [
    "BernoulliNaiveBayes",
    "CategoricalNaiveBayes",
    "GaussianNaiveBayes",
    "MultinomialNaiveBayes",
]
