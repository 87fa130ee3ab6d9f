"""Diffusion models (DDPM, NCSN, score SDE), their noise schedules, the samplers every model
shares, and likelihoods by the probability-flow ODE."""

from genzoo.diffusion.ddpm import DDPM
from genzoo.diffusion.likelihood import ode_log_likelihood
from genzoo.diffusion.ncsn import NCSN
from genzoo.diffusion.samplers import SAMPLERS, as_denoiser, ddim_invert, run_sampler
from genzoo.diffusion.schedules import (
    VESDE,
    VPSDE,
    DiscreteSchedule,
    Schedule,
    SubVPSDE,
    cosine_schedule,
    get_schedule,
    linear_schedule,
)
from genzoo.diffusion.sde import ScoreSDE

__all__ = [
    "DDPM",
    "NCSN",
    "ScoreSDE",
    "SAMPLERS",
    "VESDE",
    "VPSDE",
    "DiscreteSchedule",
    "Schedule",
    "SubVPSDE",
    "as_denoiser",
    "cosine_schedule",
    "ddim_invert",
    "get_schedule",
    "linear_schedule",
    "ode_log_likelihood",
    "run_sampler",
]
