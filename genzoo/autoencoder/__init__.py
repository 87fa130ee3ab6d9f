"""Autoencoders: variational, denoising and sparse."""

from genzoo.autoencoder.dae import DenoisingAutoencoder
from genzoo.autoencoder.sparse import SparseAutoencoder
from genzoo.autoencoder.vae import VAE

__all__ = ["DenoisingAutoencoder", "SparseAutoencoder", "VAE"]
