"""Sample quality measured again and again during training, against one fixed real set.

A GAN's losses do not tell whether its samples cover the data: a generator that collapses
onto a few modes can fool its discriminator as well as one that covers them all. What does
tell are the discriminator-free figures of the leaderboard, recall above all (the share of
real points near some sample). `QualityTracker` keeps the real side of those figures (the
rows, and their features for images a shipped network reads) so that each measurement only
embeds the generated samples.
"""

from __future__ import annotations

import numpy as np

from genzoo.metrics.image_quality import frechet_distance, precision_recall
from genzoo.metrics.sample_quality import mmd

__all__ = ["QualityTracker"]

# The shipped feature networks, by the image shape they read.
_FEATURE_NETS = {(1, 8, 8): "digits8", (1, 28, 28): "mnist28"}
# Rows of real data kept, and samples drawn per measurement: enough for k-NN recall to see
# each of a handful of modes many times over, few enough to measure every few hundred steps.
MAX_TRACKED_ROWS = 500


class QualityTracker:
    """Precision, recall and a distance of generated samples to a fixed set of real rows.

    Parameters
    ----------
    real : array-like of shape (n_samples, n_features) or (n_samples, c, h, w)
        Real data in their own units; at most `MAX_TRACKED_ROWS` (500) rows are kept, drawn
        with `random_state`.
    image_shape : tuple (c, h, w) or None, default=None
        The shape of one image, for images.
    unit_range : bool, default=False
        Whether the values are pixels in [0, 1], as the shipped feature networks read them.
    random_state : int, default=0
        Seed of the subsampling.

    The figures (see `__call__`) are those of the leaderboard: for grey 8x8 or 28x28 pixels
    in [0, 1], the Fréchet distance ("fid"), precision and recall in the features of the
    shipped classifier; for other images, the same on the pixels ("fd"); for vectors,
    precision and recall on the values and the MMD ("mmd").

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> tracker = QualityTracker(rng.normal(size=(300, 2)))
    >>> sorted(tracker(rng.normal(size=(300, 2))))
    ['mmd', 'precision', 'recall']
    """

    def __init__(self, real, *, image_shape=None, unit_range: bool = False, random_state=0):
        real = np.asarray(real, dtype=np.float64)
        rng = np.random.default_rng(random_state)
        if len(real) > MAX_TRACKED_ROWS:
            real = real[np.sort(rng.choice(len(real), MAX_TRACKED_ROWS, replace=False))]
        self.image_shape = None if image_shape is None else tuple(image_shape)
        self.net = _FEATURE_NETS.get(self.image_shape) if unit_range else None
        self.random_state = random_state
        self.n_rows = len(real)
        self._real = self._embed(real)

    def _embed(self, X: np.ndarray) -> np.ndarray:
        """Rows to compare: a network's features, or the flattened values."""
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        if self.net is None:
            return X
        from genzoo.metrics.feature_nets import image_features

        return image_features(np.clip(X, 0.0, 1.0).reshape(-1, *self.image_shape), self.net)

    def __call__(self, fake) -> dict[str, float]:
        """Return {"precision", "recall", and "fid", "fd" or "mmd"} of the samples `fake`."""
        F = self._embed(fake)
        seed = self.random_state
        precision, recall = precision_recall(self._real, F, random_state=seed)
        figures = {"precision": precision, "recall": recall}
        if self.image_shape is None:
            figures["mmd"] = mmd(F, self._real, random_state=seed)
        else:
            figures["fid" if self.net else "fd"] = frechet_distance(F, self._real)
        return figures
