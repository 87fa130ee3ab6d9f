"""Training loops shared by the families: sufficient-statistics EM and gradient training."""

from genzoo.training.trainer import (
    TRAINER_CONSTRAINTS,
    Monitor,
    Objective,
    TrainConfig,
    Trainer,
    TrainingDiverged,
    TrainResult,
    deterministic_kernels,
    init_distributed,
    load_checkpoint,
    save_checkpoint,
)

__all__ = [
    "TRAINER_CONSTRAINTS",
    "Monitor",
    "Objective",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "deterministic_kernels",
    "init_distributed",
    "load_checkpoint",
    "save_checkpoint",
]
