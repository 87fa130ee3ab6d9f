"""Diffusion models: noise schedules, the samplers every model shares, and likelihoods by the
probability-flow ODE."""

from genzoo.diffusion.likelihood import ode_log_likelihood
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

__all__ = [
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
