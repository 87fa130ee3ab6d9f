"""Two-dimensional toy distributions for density models and samplers.

Each generator returns a float64 array of shape (n_samples, 2) on a roughly standardised scale
(values within about [-4, 4]). The shapes follow the toy sets of FFJORD (Grathwohl et al., 2019)
and of the score-matching literature, so that pictures can be compared with the papers. An int
`random_state` gives the same array on every call; only a local `numpy.random.Generator` is used.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

__all__ = [
    "TOY_DATASETS",
    "make_checkerboard",
    "make_circles",
    "make_eight_gaussians",
    "make_moons",
    "make_pinwheel",
    "make_swiss_roll",
]


# --- validation


def _check_n_samples(n_samples: int) -> int:
    # bool is an int subclass, but make_moons(True) is certainly a mistake.
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples}")
    return int(n_samples)


def _check_noise(noise: float) -> float:
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real):
        raise ValueError(f"noise must be a non-negative float, got {noise!r}")
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a non-negative float, got {noise}")
    return float(noise)


def _setup(n_samples: int, noise: float, random_state: int | None):
    return _check_n_samples(n_samples), _check_noise(noise), np.random.default_rng(random_state)


# --- generators


def make_moons(
    n_samples: int = 1000, *, noise: float = 0.1, random_state: int | None = None
) -> np.ndarray:
    """Draw two interleaving half circles.

    The moons of `sklearn.datasets.make_moons` mapped by ``2 * x + (-1, -0.2)`` as in FFJORD:
    two arcs of radius 2, centred at (-1, -0.2) (upper arc) and (1, 0.8) (lower arc), with
    ``n_samples // 2`` points on the upper arc.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    noise : float, default=0.1
        Standard deviation of the isotropic Gaussian noise added to each point.
    random_state : int or None, default=None
        Seed of the local generator; an int gives the same array on every call.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
    """
    n, noise, rng = _setup(n_samples, noise, random_state)
    n_upper = n // 2
    t = rng.uniform(0.0, np.pi, size=n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    unit = np.where(np.arange(n)[:, None] < n_upper, upper, lower)
    X = 2.0 * unit + np.array([-1.0, -0.2]) + noise * rng.standard_normal((n, 2))
    return X[rng.permutation(n)]


def make_circles(
    n_samples: int = 1000, *, noise: float = 0.1, random_state: int | None = None
) -> np.ndarray:
    """Draw two concentric circles of radius 2 and 1, each point on an angle drawn uniformly.

    The outer circle holds ``n_samples // 2`` points, the inner one the rest.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    noise : float, default=0.1
        Standard deviation of the isotropic Gaussian noise added to each point.
    random_state : int or None, default=None
        Seed of the local generator; an int gives the same array on every call.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
    """
    n, noise, rng = _setup(n_samples, noise, random_state)
    radius = np.where(np.arange(n) < n // 2, 2.0, 1.0)
    theta = rng.uniform(0.0, 2.0 * np.pi, size=n)
    X = radius[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    X += noise * rng.standard_normal((n, 2))
    return X[rng.permutation(n)]


def make_eight_gaussians(
    n_samples: int = 1000, *, noise: float = 0.15, random_state: int | None = None
) -> np.ndarray:
    """Draw from an equal mixture of 8 Gaussians centred on a circle of radius 2.

    The centres sit at angles ``k * pi / 4``, ``k = 0..7``.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    noise : float, default=0.15
        Standard deviation of each isotropic Gaussian component.
    random_state : int or None, default=None
        Seed of the local generator; an int gives the same array on every call.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
    """
    n, noise, rng = _setup(n_samples, noise, random_state)
    angles = np.arange(8) * (np.pi / 4.0)
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (8, 2)
    return centres[rng.integers(0, 8, size=n)] + noise * rng.standard_normal((n, 2))


def make_checkerboard(
    n_samples: int = 1000, *, noise: float = 0.0, random_state: int | None = None
) -> np.ndarray:
    """Draw uniformly from the black squares of a 4x4 checkerboard on [-2, 2]^2.

    A unit square ``[i, i+1) x [j, j+1)`` is black when ``i + j`` is even, so the square at the
    origin's upper right is black; there are 8 black squares of equal area.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    noise : float, default=0.0
        Standard deviation of an isotropic Gaussian jitter; 0 keeps the squares' sharp edges.
    random_state : int or None, default=None
        Seed of the local generator; an int gives the same array on every call.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
    """
    n, noise, rng = _setup(n_samples, noise, random_state)
    x = rng.uniform(-2.0, 2.0, size=n)
    # Pick y's square row among the two of matching parity in x's column (as FFJORD does).
    row = 2.0 * rng.integers(-1, 1, size=n) + np.mod(np.floor(x), 2.0)
    y = row + rng.uniform(0.0, 1.0, size=n)
    return np.stack([x, y], axis=1) + noise * rng.standard_normal((n, 2))


def make_swiss_roll(
    n_samples: int = 1000, *, noise: float = 0.2, random_state: int | None = None
) -> np.ndarray:
    """Draw from a 2-D Swiss-roll spiral.

    The (x, z) plane of `sklearn.datasets.make_swiss_roll` divided by 5, as in FFJORD: for
    ``t ~ U(1.5 pi, 4.5 pi)`` the point is ``t (cos t, sin t) / 5``.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    noise : float, default=0.2
        Standard deviation of the isotropic Gaussian noise added to each point.
    random_state : int or None, default=None
        Seed of the local generator; an int gives the same array on every call.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
    """
    n, noise, rng = _setup(n_samples, noise, random_state)
    t = 1.5 * np.pi * (1.0 + 2.0 * rng.uniform(size=n))
    X = t[:, None] * np.stack([np.cos(t), np.sin(t)], axis=1) / 5.0
    return X + noise * rng.standard_normal((n, 2))


def make_pinwheel(
    n_samples: int = 1000, *, noise: float = 0.3, random_state: int | None = None
) -> np.ndarray:
    """Draw from the 5-arm pinwheel of Johnson et al. (2016, SVAE), scaled by 2 as in FFJORD.

    Arm ``k`` starts as a Gaussian at (1, 0) with radial standard deviation `noise` and
    tangential standard deviation ``noise / 3``; each point ``f`` is then turned by the angle
    ``2 pi k / 5 + 0.25 exp(f_0)``, which bends the arm into a spiral. Point ``i`` belongs to
    arm ``i % 5`` before the final shuffle.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    noise : float, default=0.3
        Radial standard deviation of each arm, before the scaling by 2.
    random_state : int or None, default=None
        Seed of the local generator; an int gives the same array on every call.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
    """
    n, noise, rng = _setup(n_samples, noise, random_state)
    n_arms, rate = 5, 0.25
    arm = np.arange(n) % n_arms
    features = rng.standard_normal((n, 2)) * np.array([noise, noise / 3.0])
    features[:, 0] += 1.0
    angles = 2.0 * np.pi * arm / n_arms + rate * np.exp(features[:, 0])
    cos, sin = np.cos(angles), np.sin(angles)
    # Johnson et al.'s einsum("ti,tij->tj", features, R) with R = [[cos, -sin], [sin, cos]].
    X = np.stack(
        [features[:, 0] * cos + features[:, 1] * sin, -features[:, 0] * sin + features[:, 1] * cos],
        axis=1,
    )
    return 2.0 * X[rng.permutation(n)]


TOY_DATASETS: dict[str, Callable[..., np.ndarray]] = {
    "moons": make_moons,
    "circles": make_circles,
    "eight_gaussians": make_eight_gaussians,
    "checkerboard": make_checkerboard,
    "swiss_roll": make_swiss_roll,
    "pinwheel": make_pinwheel,
}
"""Toy generators by name, each called as ``f(n_samples, noise=..., random_state=...)``."""
