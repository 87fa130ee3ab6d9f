"""Mixture models."""

from genzoo.mixture.gmm import GaussianMixture

__all__ = ["GaussianMixture"]
