"""Training loops shared by the families: sufficient-statistics EM and gradient training."""

from genzoo.training.trainer import (
    TrainConfig,
    Trainer,
    TrainResult,
    init_distributed,
    load_checkpoint,
    save_checkpoint,
)

__all__ = [
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "init_distributed",
    "load_checkpoint",
    "save_checkpoint",
]
