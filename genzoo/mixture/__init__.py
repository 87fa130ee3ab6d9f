"""Mixture models."""

from genzoo.mixture.gmm import GaussianMixture
from genzoo.mixture.lda import LatentDirichletAllocation

__all__ = ["GaussianMixture", "LatentDirichletAllocation"]
