"""Metrics: the likelihood protocol (dequantization, bits per dimension), sample quality
(MMD, sliced Wasserstein, memorization; Fréchet distance, precision and recall, density and
coverage in the features of small shipped classifiers) and topic coherence."""

from genzoo.metrics.coherence import topic_coherence
from genzoo.metrics.feature_nets import image_features
from genzoo.metrics.image_quality import (
    density_coverage,
    feature_quality,
    frechet_distance,
    image_quality_floor,
    precision_recall,
)
from genzoo.metrics.likelihood import (
    DequantizationWarning,
    bits_per_dim,
    dequantize,
    quantize,
    score_log_likelihood,
)
from genzoo.metrics.sample_quality import (
    memorization_ratio,
    mmd,
    sample_quality,
    sliced_wasserstein,
)

__all__ = [
    "DequantizationWarning",
    "bits_per_dim",
    "density_coverage",
    "dequantize",
    "feature_quality",
    "frechet_distance",
    "image_features",
    "image_quality_floor",
    "memorization_ratio",
    "mmd",
    "precision_recall",
    "quantize",
    "sample_quality",
    "score_log_likelihood",
    "sliced_wasserstein",
    "topic_coherence",
]
