"""NeuralGenerativeModel's template: every Trainer setting as a constructor argument, one
constraint table, the evaluation dtype, the global random state, and a two-objective model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch import nn

import genzoo
from genzoo import VAE
from genzoo._neural import NEURAL_CONSTRAINTS, NeuralGenerativeModel
from genzoo.data import load_digits
from genzoo.diffusion._base import DiffusionModel
from genzoo.registry import list_models
from genzoo.training import TRAINER_CONSTRAINTS, Objective, TrainConfig

NEURAL = [e.cls for e in list_models() if issubclass(e.cls, NeuralGenerativeModel)]
FAST = {"max_steps": 5, "verbose": 0, "random_state": 0}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


GAN_DEFAULTS = {"batch_size": 64, "learning_rate": 2e-4, "schedule": "constant",
                "grad_clip": None, "ema_decay": 0.999}  # fmt: skip
# Diffusion models sample with the moving average of their weights, as DDPM does.
DIFFUSION_DEFAULTS = {"ema_decay": 0.999}


def test_the_constraint_table_is_the_train_configs_settings():
    assert list(TRAINER_CONSTRAINTS) == [f.name for f in dataclasses.fields(TrainConfig)]
    assert set(NEURAL_CONSTRAINTS) == {*TRAINER_CONSTRAINTS, "dtype"}


@pytest.mark.parametrize("cls", NEURAL, ids=[c.__name__ for c in NEURAL])
def test_every_trainer_setting_is_an_argument_that_reaches_the_trainer(cls, tmp_path):
    model = cls()
    params = model.get_params()
    assert set(NEURAL_CONSTRAINTS) <= set(params)
    # GANs and diffusion models document their own defaults for these (DCGAN's batch and
    # rate, EMA sampling)
    own = GAN_DEFAULTS if issubclass(cls, (genzoo.GAN, genzoo.CycleGAN)) else {}
    if issubclass(cls, DiffusionModel):
        own = DIFFUSION_DEFAULTS
    defaults = TrainConfig(**own)
    for name in TRAINER_CONSTRAINTS:
        assert params[name] == getattr(defaults, name), name
        assert cls._parameter_constraints[name] == TRAINER_CONSTRAINTS[name], name
    assert params["dtype"] == "float32"
    changed = {
        "device": "cpu", "batch_size": 7, "max_steps": 11, "learning_rate": 0.02,
        "weight_decay": 0.01, "warmup_steps": 3, "schedule": "constant", "grad_clip": None,
        "ema_decay": 0.5, "verbose": 0, "checkpoint_dir": str(tmp_path), "checkpoint_every": 2,
        "random_state": 5, "precision": "bfloat16",
    }  # fmt: skip
    assert set(changed) == set(TRAINER_CONSTRAINTS)
    config = model.set_params(**changed)._train_config(seed=123)
    assert dataclasses.asdict(config) == {**changed, "random_state": 123}


@pytest.mark.parametrize(
    ("setting", "value"),
    [("weight_decay", -0.1), ("schedule", "linear"), ("precision", "fp8"), ("dtype", "float16"),
     ("grad_clip", 0.0), ("warmup_steps", 1.5), ("checkpoint_dir", 3)],
)  # fmt: skip
def test_bad_settings_are_refused_by_name_before_training(setting, value):
    X, _ = load_digits("train")
    with pytest.raises(ValueError, match=f"{setting} of VAE must be"):
        VAE(**FAST, **{setting: value}).fit(X[:20])


@pytest.fixture(scope="module")
def vae():
    X, _ = load_digits("train")
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        return VAE(latent_dim=2, channels=(4, 8), n_importance=4, **FAST).fit(X[:64])


def test_networks_evaluate_in_dtype_and_likelihoods_sum_in_float64(vae):
    X, _ = load_digits("test")
    assert all(t.dtype == torch.float32 for t in vae.encoder_state_.values())
    wide = clone(vae).set_params(dtype="float64")
    wide._load_fitted(vae._fitted_state())  # the same weights, evaluated in float64
    assert all(t.dtype == torch.float64 for t in wide.encoder_state_.values())
    narrow, exact = vae.log_prob(X[:50]), wide.log_prob(X[:50])
    assert narrow.dtype == exact.dtype == np.float64
    np.testing.assert_allclose(narrow, exact, rtol=1e-5)  # float32 networks, float64 sums
    assert vae.sample(3, random_state=0).dtype == np.float32
    assert wide.sample(3, random_state=0).dtype == np.float64


def test_evaluation_networks_are_built_once_and_rebuilt_for_new_weights(vae):
    X, _ = load_digits("test")
    model = clone(vae)
    model._load_fitted(vae._fitted_state())
    kept = model._networks()
    assert model._networks()["decoder"] is kept["decoder"]  # kept between calls
    before = model.log_prob(X[:20])
    copies = model.networks()  # the public copies are new modules: changing them is safe
    assert copies["decoder"] is not kept["decoder"]
    with torch.no_grad():
        for p in copies["decoder"].parameters():
            p.zero_()
    np.testing.assert_array_equal(model.log_prob(X[:20]), before)
    # new weights (a load, a refit) replace the weight dicts: the networks follow them
    state = vae._fitted_state()
    state["decoder_state_"] = {k: torch.zeros_like(v) for k, v in state["decoder_state_"].items()}
    model._load_fitted(state)
    assert model._networks()["decoder"] is not kept["decoder"]
    assert not np.allclose(model.log_prob(X[:20]), before)


def test_fit_leaves_the_global_random_state_alone():
    X, _ = load_digits("train")
    before = torch.get_rng_state()
    VAE(latent_dim=2, channels=(4, 8), **FAST).fit(X[:32])
    assert torch.equal(torch.get_rng_state(), before)


# --- a model with two objectives, in the shape of a GAN


def _critic_loss(modules, batch, gen):
    x = batch[0]
    fake = modules["generator"](torch.randn(x.shape, generator=gen)).detach()
    return modules["critic"](fake).mean() - modules["critic"](x).mean()


def _generator_loss(modules, batch, gen):
    x = batch[0]
    return -modules["critic"](modules["generator"](torch.randn(x.shape, generator=gen))).mean()


class _TwoObjectives(NeuralGenerativeModel):
    """A linear generator and critic, each with its own objective (not registered)."""

    likelihood_kind = None
    no_likelihood_reason = "it is a test model."
    fitted_attributes = (
        *NeuralGenerativeModel.fitted_attributes,
        "generator_state_",
        "critic_state_",
    )

    def __init__(
        self,
        *,
        n_critic=2,
        device="cpu",
        batch_size=16,
        max_steps=12,
        learning_rate=1e-3,
        weight_decay=0.0,
        warmup_steps=0,
        schedule="cosine",
        grad_clip=1.0,
        ema_decay=None,
        verbose=0,
        checkpoint_dir=None,
        checkpoint_every=None,
        random_state=0,
        precision="auto",
        dtype="float32",
    ):
        self.n_critic = n_critic
        self.device, self.batch_size, self.max_steps = device, batch_size, max_steps
        self.learning_rate, self.weight_decay = learning_rate, weight_decay
        self.warmup_steps, self.schedule, self.grad_clip = warmup_steps, schedule, grad_clip
        self.ema_decay, self.verbose, self.checkpoint_dir = ema_decay, verbose, checkpoint_dir
        self.checkpoint_every, self.random_state = checkpoint_every, random_state
        self.precision, self.dtype = precision, dtype

    def _architecture(self, X, y):
        return {"n_features": X.shape[1]}

    def _build_networks(self, architecture):
        d = architecture["n_features"]
        return {"generator": nn.Linear(d, d), "critic": nn.Linear(d, 1)}

    def _objectives(self):
        return [
            Objective("critic", _critic_loss, ("critic",), betas=(0.5, 0.9)),
            Objective("generator", _generator_loss, ("generator",), every=self.n_critic),
        ]

    def _sample(self, n_samples, y, gen):
        noise = torch.randn(n_samples, self.input_shape_[0], generator=gen, device=gen.device)
        with self._evaluation() as networks:
            return self._unstandardise(networks["generator"](noise.to(self._dtype())))


def test_a_model_with_two_objectives_fits_through_the_template():
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(100, 2))
    model = _TwoObjectives().fit(X)
    assert set(model.generator_state_) == {"weight", "bias"}
    assert set(model.critic_state_) == {"weight", "bias"}
    assert model.n_steps_ == 12 and len(model.loss_curve_) == 12  # the critic's, every step
    np.testing.assert_allclose(model.data_shift_.numpy(), X.mean(0))
    samples = model.sample(5, random_state=1)
    assert samples.shape == (5, 2) and np.isfinite(samples).all()
    np.testing.assert_array_equal(samples, clone(model).fit(X).sample(5, random_state=1))


@pytest.mark.parametrize("cls", NEURAL, ids=[c.__name__ for c in NEURAL])
def test_networks_too_big_to_train_are_refused_before_any_is_built(cls):
    X = np.random.default_rng(0).normal(size=(40, 3))
    model = cls(**FAST, hidden=(10**9,))  # every neural model has MLP widths
    args = (X, np.arange(40) % 2) if model.conditional else (X,)
    extra = {"X_b": X} if cls.second_domain else {}
    with pytest.raises(ValueError, match=r"networks \([\d,]+ parameters; check the widths\) "
                                         r"would need about [\d.]+ (GB|TB)"):  # fmt: skip
        model.fit(*args, **extra)
