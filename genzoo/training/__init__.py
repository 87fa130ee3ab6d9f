"""Training loops shared by the families: sufficient-statistics EM and gradient training."""

from genzoo.training.trainer import (
    TRAINER_CONSTRAINTS,
    Objective,
    TrainConfig,
    Trainer,
    TrainResult,
    deterministic_kernels,
    init_distributed,
    load_checkpoint,
    save_checkpoint,
)

__all__ = [
    "TRAINER_CONSTRAINTS",
    "Objective",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "deterministic_kernels",
    "init_distributed",
    "load_checkpoint",
    "save_checkpoint",
]
