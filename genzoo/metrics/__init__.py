"""Metrics for generated samples (MMD, sliced Wasserstein, memorization) and for topics."""

from genzoo.metrics.coherence import topic_coherence
from genzoo.metrics.sample_quality import (
    memorization_ratio,
    mmd,
    sample_quality,
    sliced_wasserstein,
)

__all__ = ["memorization_ratio", "mmd", "sample_quality", "sliced_wasserstein", "topic_coherence"]
