"""Bayesian networks: naive Bayes, discrete Bayesian networks, hidden Markov models."""
