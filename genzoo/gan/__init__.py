"""Generative adversarial networks: GAN, conditional GAN and CycleGAN."""

from genzoo.gan.cgan import ConditionalGAN
from genzoo.gan.cyclegan import CycleGAN
from genzoo.gan.gan import GAN

__all__ = ["GAN", "ConditionalGAN", "CycleGAN"]
