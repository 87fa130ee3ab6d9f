"""Diffusion models: noise schedules and the samplers every model shares."""

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
    "run_sampler",
]
