"""Autoencoders: the variational autoencoder."""

from genzoo.autoencoder.vae import VAE

__all__ = ["VAE"]
