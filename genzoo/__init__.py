"""genzoo: every family of generative models behind one API.

>>> import genzoo
>>> model = genzoo.make("gmm", n_components=8, random_state=0)
"""

from genzoo import data, metrics
from genzoo._version import __version__
from genzoo.autoencoder import VAE, DenoisingAutoencoder, SparseAutoencoder
from genzoo.base import GenerativeModel, LikelihoodUnavailable
from genzoo.bayesnet import (
    BayesianNetwork,
    BernoulliNaiveBayes,
    CategoricalNaiveBayes,
    GaussianNaiveBayes,
    HiddenMarkovModel,
    MultinomialNaiveBayes,
)
from genzoo.boltzmann import DBM, DBN, RBM
from genzoo.classify import GenerativeClassifier
from genzoo.diffusion import DDPM, NCSN, ScoreSDE
from genzoo.gan import GAN, ConditionalGAN, CycleGAN
from genzoo.grammar import PCFG
from genzoo.io import load, save
from genzoo.mixture import BernoulliMixture, GaussianMixture, LatentDirichletAllocation
from genzoo.registry import UnknownModelError, get_entry, list_models, make, register
from genzoo.training import TrainingDiverged

__all__ = [
    "BayesianNetwork",
    "BernoulliMixture",
    "BernoulliNaiveBayes",
    "CategoricalNaiveBayes",
    "ConditionalGAN",
    "CycleGAN",
    "DDPM",
    "DBM",
    "DBN",
    "DenoisingAutoencoder",
    "GaussianNaiveBayes",
    "MultinomialNaiveBayes",
    "GaussianMixture",
    "GAN",
    "GenerativeClassifier",
    "GenerativeModel",
    "HiddenMarkovModel",
    "LatentDirichletAllocation",
    "LikelihoodUnavailable",
    "NCSN",
    "PCFG",
    "RBM",
    "ScoreSDE",
    "SparseAutoencoder",
    "TrainingDiverged",
    "UnknownModelError",
    "VAE",
    "__version__",
    "data",
    "get_entry",
    "list_models",
    "load",
    "make",
    "metrics",
    "register",
    "save",
]
