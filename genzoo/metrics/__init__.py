"""Sample-quality metrics for generated samples: MMD, sliced Wasserstein and memorization."""

from genzoo.metrics.sample_quality import (
    memorization_ratio,
    mmd,
    sample_quality,
    sliced_wasserstein,
)

__all__ = ["memorization_ratio", "mmd", "sample_quality", "sliced_wasserstein"]
