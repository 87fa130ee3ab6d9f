"""Mixture models."""

from genzoo.mixture.bernoulli import BernoulliMixture
from genzoo.mixture.gmm import GaussianMixture
from genzoo.mixture.lda import LatentDirichletAllocation

__all__ = ["BernoulliMixture", "GaussianMixture", "LatentDirichletAllocation"]
