"""Gaussian-mixture math on tensors: densities, sufficient statistics, M-step, k-means.

Every quadratic form is computed from the data's quadratic features (the products x_i x_j,
i <= j, or x_i^2 for diagonal covariances), so that both the E-step's Mahalanobis distances
and the M-step's second moments are single matrix products against them. The features do not
change between EM iterations, so a fit computes them once; data is first shifted by a fixed
centre (the data mean), which removes any global offset.

The expanded squares lose about eps * R digits, where R is the largest squared Mahalanobis
distance between a component's mean and that centre. When clusters lie far apart relative to
their spread (R large, or float32), every function here switches to the centred form that
scikit-learn uses: differences to each component's own mean, at the cost of (K, n, d)
intermediates. `is_centred` makes that choice from the parameters alone, so the E-step, the
M-step and every process agree on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from genzoo._validation import check_array
from genzoo.training.em import all_reduce_sum

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_LOG_2PI = math.log(2 * math.pi)
# Largest eps * R (nats of error in a log-density) accepted from the expanded squares.
_EXPANDED_ERROR = {torch.float64: 1e-9, torch.float32: 1e-4}


# --- data with its quadratic features


@dataclass
class ShiftedBatch:
    """Rows shifted by a fixed centre, Xc (n, d), and their quadratic features phi."""

    Xc: torch.Tensor
    phi: torch.Tensor  # full, tied: (n, d(d+1)/2) products x_i x_j, i <= j; else (n, d) squares

    def __len__(self) -> int:
        return self.Xc.shape[0]


def n_quadratic_features(d: int, covariance_type: str) -> int:
    return d * (d + 1) // 2 if covariance_type in ("full", "tied") else d


def shifted_batch(X, shift, covariance_type: str) -> ShiftedBatch:
    Xc = X - shift
    if covariance_type in ("full", "tied"):
        i, j = torch.triu_indices(Xc.shape[1], Xc.shape[1], device=Xc.device)
        return ShiftedBatch(Xc, Xc[:, i] * Xc[:, j])
    return ShiftedBatch(Xc, Xc.square())


def _unpack_symmetric(packed, d: int) -> torch.Tensor:
    """(K, d(d+1)/2) upper triangles to (K, d, d) symmetric matrices."""
    i, j = torch.triu_indices(d, d, device=packed.device)
    out = packed.new_zeros(packed.shape[0], d, d)
    out[:, i, j] = packed
    out[:, j, i] = packed
    return out


# --- densities


def precisions_from_cholesky(prec_chol, covariance_type: str) -> torch.Tensor:
    if covariance_type in ("full", "tied"):
        return prec_chol @ prec_chol.transpose(-1, -2)
    return prec_chol.square()


def log_gaussian(batch: ShiftedBatch, means_c, prec_chol, covariance_type: str) -> torch.Tensor:
    """log N(x | mean_k, cov_k) for every row and component, (n, K); means_c are shifted.

    (x - m)^T L (x - m) = phi(x) . q(L) - 2 x^T L m + m^T L m, with q(L) the packed upper
    triangle of the precision L (off-diagonal entries doubled).
    """
    d = batch.Xc.shape[1]
    prec = precisions_from_cholesky(prec_chol, covariance_type)
    if covariance_type in ("full", "tied"):
        i, j = torch.triu_indices(d, d, device=prec.device)
        q = prec[..., i, j] * torch.where(i == j, 1.0, 2.0).to(prec.dtype)
        q = q.reshape(-1, i.numel())  # (K or 1, T)
        lin = (
            means_c @ prec
            if covariance_type == "tied"
            else torch.bmm(prec, means_c.unsqueeze(2)).squeeze(2)
        )
        log_det = torch.log(torch.diagonal(prec_chol, dim1=-2, dim2=-1)).sum(-1)
    else:
        q = prec if covariance_type == "diag" else prec[:, None].expand_as(means_c)
        lin = q * means_c
        log_det = (
            torch.log(prec_chol).sum(1) if covariance_type == "diag" else (d * torch.log(prec_chol))
        )
    maha = batch.phi @ q.T - 2.0 * batch.Xc @ lin.T + (means_c * lin).sum(1)
    return -0.5 * (d * _LOG_2PI + maha) + log_det


def _log_det(prec_chol, covariance_type: str, d: int) -> torch.Tensor:
    if covariance_type in ("full", "tied"):
        return torch.log(torch.diagonal(prec_chol, dim1=-2, dim2=-1)).sum(-1)
    if covariance_type == "diag":
        return torch.log(prec_chol).sum(1)
    return d * torch.log(prec_chol)


def _whitened(D, prec_chol, covariance_type: str) -> torch.Tensor:
    """Differences D (K, n, d) to each component's mean, whitened by its precision factor."""
    if covariance_type == "full":
        return torch.bmm(D, prec_chol)
    if covariance_type == "tied":
        return D @ prec_chol
    if covariance_type == "diag":
        return D * prec_chol[:, None, :]
    return D * prec_chol[:, None, None]


def log_gaussian_centred(Xc, means_c, prec_chol, covariance_type: str) -> torch.Tensor:
    """log N(x | mean_k, cov_k), (n, K), from differences to each mean (scikit-learn's form)."""
    d = Xc.shape[1]
    D = Xc.unsqueeze(0) - means_c.unsqueeze(1)  # (K, n, d)
    maha = _whitened(D, prec_chol, covariance_type).square().sum(-1).T
    return -0.5 * (d * _LOG_2PI + maha) + _log_det(prec_chol, covariance_type, d)


def is_centred(params: dict, covariance_type: str) -> bool:
    """Whether the expanded squares would lose too much precision for these parameters.

    `make_params` decides it once per parameter set (one host sync per EM iteration, not one
    per batch) and records it under "centred".
    """
    if "centred" in params:
        return params["centred"]
    return _expanded_squares_too_coarse(params, covariance_type)


def _expanded_squares_too_coarse(params: dict, covariance_type: str) -> bool:
    means_c = (params["means"] - params["shift"]).unsqueeze(1)  # (K, 1, d)
    whitened = _whitened(means_c, params["precisions_cholesky"], covariance_type)
    R = float(whitened.square().sum(-1).max()) + means_c.shape[-1]
    return torch.finfo(means_c.dtype).eps * R > _EXPANDED_ERROR.get(means_c.dtype, 1e-4)


def stats_centre(params: dict, covariance_type: str) -> torch.Tensor:
    """The point each component's statistics are taken about, (K, d)."""
    if is_centred(params, covariance_type):
        return params["means"]
    return params["shift"].expand_as(params["means"])


def weighted_log_prob(batch: ShiftedBatch, params: dict, covariance_type: str) -> torch.Tensor:
    """log w_k + log N(x | k), (n, K), for a batch shifted by params["shift"]."""
    means_c = params["means"] - params["shift"]
    prec_chol = params["precisions_cholesky"]
    if is_centred(params, covariance_type):
        log_gauss = log_gaussian_centred(batch.Xc, means_c, prec_chol, covariance_type)
    else:
        log_gauss = log_gaussian(batch, means_c, prec_chol, covariance_type)
    return log_gauss + torch.log(params["weights"])


# --- sufficient statistics and M-step


def gaussian_sums(batch: ShiftedBatch, resp, covariance_type: str) -> dict[str, torch.Tensor]:
    """Responsibility-weighted sums of the shifted rows and their squares; resp is (n, K)."""
    Xc, d = batch.Xc, batch.Xc.shape[1]
    stats = {"nk": resp.sum(0), "sx": resp.T @ Xc}
    if covariance_type == "full":
        stats["sxx"] = _unpack_symmetric(resp.T @ batch.phi, d)
    elif covariance_type == "tied":
        stats["sxx"] = Xc.T @ Xc  # sum over k of the weighted outer products (sum_k r_ik = 1)
    else:
        stats["sxx"] = resp.T @ batch.phi
    return stats


def centred_sums(Xc, resp, centres_c, covariance_type: str) -> dict[str, torch.Tensor]:
    """The sums of `gaussian_sums`, taken about each component's own centre, (K, d)."""
    D = Xc.unsqueeze(0) - centres_c.unsqueeze(1)  # (K, n, d)
    weighted = D * resp.T.unsqueeze(2)
    stats = {"nk": resp.sum(0), "sx": weighted.sum(1)}
    if covariance_type in ("full", "tied"):
        sxx = torch.bmm(weighted.transpose(1, 2), D)
        stats["sxx"] = sxx if covariance_type == "full" else sxx.sum(0)
    else:
        stats["sxx"] = (weighted * D).sum(1)
    return stats


def e_step(batch: ShiftedBatch, params: dict, covariance_type: str):
    """Statistics of one batch about `stats_centre(params)`, and its summed log-likelihood."""
    weighted = weighted_log_prob(batch, params, covariance_type)
    log_norm = torch.logsumexp(weighted, dim=1)
    resp = torch.exp(weighted - log_norm[:, None])
    if is_centred(params, covariance_type):
        centres_c = params["means"] - params["shift"]
        stats = centred_sums(batch.Xc, resp, centres_c, covariance_type)
    else:
        stats = gaussian_sums(batch, resp, covariance_type)
    return stats, log_norm.sum()


def recenter(stats: dict, old_centre, new_centre, covariance_type: str) -> dict:
    """Rewrite sums about `old_centre` as exact sums about `new_centre`, each (d,) or (K, d)."""
    nk, sx, sxx = stats["nk"], stats["sx"], stats["sxx"]
    delta = (old_centre - new_centre).expand_as(sx)  # (K, d)
    if covariance_type in ("full", "tied"):
        cross = sx[:, :, None] * delta[:, None, :]
        change = (
            cross
            + cross.transpose(1, 2)
            + nk[:, None, None] * (delta[:, :, None] * delta[:, None, :])
        )
        sxx = sxx + (change if covariance_type == "full" else change.sum(0))
    else:
        sxx = sxx + 2 * sx * delta + nk[:, None] * delta.square()
    return {"nk": nk, "sx": sx + nk[:, None] * delta, "sxx": sxx}


def covariances_from_sums(stats: dict, reg_covar: float, covariance_type: str):
    """Weights, means relative to the stats' centre, and covariances (scikit-learn's M-step)."""
    nk = stats["nk"] + 10 * torch.finfo(stats["nk"].dtype).eps
    means = stats["sx"] / nk[:, None]
    eye = torch.eye(means.shape[1], dtype=means.dtype, device=means.device)
    if covariance_type == "full":
        cov = stats["sxx"] / nk[:, None, None] - means[:, :, None] * means[:, None, :]
        cov = cov + reg_covar * eye
    elif covariance_type == "tied":
        cov = (stats["sxx"] - (nk[:, None] * means).T @ means) / nk.sum() + reg_covar * eye
    else:
        cov = stats["sxx"] / nk[:, None] - means.square() + reg_covar
        if covariance_type == "spherical":
            cov = cov.mean(1)
    return nk / nk.sum(), means, cov


def precision_cholesky(cov, covariance_type: str) -> torch.Tensor:
    """Upper-triangular P with P P^T = inverse(cov) (scikit-learn's precisions_cholesky_)."""
    if covariance_type in ("full", "tied"):
        L, info = torch.linalg.cholesky_ex(cov)
        if bool((info != 0).any()) or not bool(torch.isfinite(L).all()):
            raise ValueError(
                "Fitting the mixture model failed because some components have an ill-defined "
                "empirical covariance (for instance caused by singleton or collapsed samples). "
                "Decrease n_components or increase reg_covar."
            )
        eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device).expand_as(cov)
        return torch.linalg.solve_triangular(L, eye, upper=False).transpose(-1, -2)
    if not bool(((cov > 0) & torch.isfinite(cov)).all()):
        raise ValueError(
            "Fitting the mixture model failed because some components have a non-positive "
            "variance (collapsed samples). Decrease n_components or increase reg_covar."
        )
    return 1.0 / torch.sqrt(cov)


def make_params(weights, means, cov, prec_chol, covariance_type: str, shift=None) -> dict:
    """The parameter dict EM passes around; `shift` is the centre statistics are taken about.

    Its tensors, plus "centred" (see `is_centred`), a bool decided here once.
    """
    params = {
        "weights": weights,
        "means": means,
        "covariances": cov,
        "precisions_cholesky": prec_chol,
        "shift": weights @ means if shift is None else shift,
    }
    return params | {"centred": _expanded_squares_too_coarse(params, covariance_type)}


def params_from_sums(stats: dict, centre, shift, reg_covar: float, covariance_type: str) -> dict:
    """New parameters from statistics about `centre`, (d,) or (K, d); `shift` is kept."""
    weights, means, cov = covariances_from_sums(stats, reg_covar, covariance_type)
    prec_chol = precision_cholesky(cov, covariance_type)
    return make_params(weights, means + centre, cov, prec_chol, covariance_type, shift)


def m_step(stats: dict, params: dict, reg_covar: float, covariance_type: str) -> dict:
    """New parameters from statistics that `e_step` took with the old `params`."""
    centre = stats_centre(params, covariance_type)
    return params_from_sums(stats, centre, params["shift"], reg_covar, covariance_type)


def stats_from_params(params: dict, centre, reg_covar: float, covariance_type: str) -> dict:
    """Per-sample statistics about `centre` whose M-step gives back `params`."""
    w = params["weights"]
    m = params["means"] - centre
    cov = params["covariances"]
    if covariance_type in ("full", "tied"):
        cov = cov - reg_covar * torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    else:
        cov = cov - reg_covar
    stats = {"nk": w, "sx": w[:, None] * m}
    if covariance_type == "full":
        stats["sxx"] = w[:, None, None] * (cov + m[:, :, None] * m[:, None, :])
    elif covariance_type == "tied":
        stats["sxx"] = cov + (w[:, None] * m).T @ m
    elif covariance_type == "diag":
        stats["sxx"] = w[:, None] * (cov + m.square())
    else:
        stats["sxx"] = w[:, None] * (cov[:, None] + m.square())
    return stats


# --- initialisation


def check_initial_arrays(weights, means, precisions, K: int, d: int, covariance_type: str):
    """The user's initial weights, means and precisions as checked arrays (or None)."""
    precision_shapes = {"full": (K, d, d), "tied": (d, d), "diag": (K, d), "spherical": (K,)}
    given = {"weights": weights, "means": means, "precisions": precisions}
    shapes = {"weights": (K,), "means": (K, d), "precisions": precision_shapes[covariance_type]}
    out = {}
    for key, shape in shapes.items():
        name, value = f"{key}_init", given[key]
        if value is None:
            out[key] = None
            continue
        array = check_array(value, name=name, ndim=len(shape), min_samples=0)
        if array.shape != shape:
            raise ValueError(f"{name} must have shape {shape}; got {array.shape}.")
        if key == "weights" and ((array < 0).any() or not np.isclose(array.sum(), 1.0, atol=1e-6)):
            raise ValueError(f"{name} must be non-negative and sum to 1.")
        out[key] = array
    return out


def override_params(params: dict, given: dict, covariance_type: str) -> dict:
    """Replace initial parameters by the tensors the user gave (None keeps the computed ones)."""
    weights = given["weights"] if given["weights"] is not None else params["weights"]
    means = given["means"] if given["means"] is not None else params["means"]
    cov, prec_chol = params["covariances"], params["precisions_cholesky"]
    precisions = given["precisions"]
    if precisions is not None and covariance_type in ("full", "tied"):
        L, info = torch.linalg.cholesky_ex(precisions)
        symmetric = torch.allclose(precisions, precisions.transpose(-1, -2))
        if not symmetric or bool((info != 0).any()):
            raise ValueError("precisions_init must be symmetric positive definite.")
        prec_chol, cov = L, torch.cholesky_inverse(L)
    elif precisions is not None:
        if not bool((precisions > 0).all()):
            raise ValueError("precisions_init must be positive.")
        prec_chol, cov = torch.sqrt(precisions), 1.0 / precisions
    return make_params(weights, means, cov, prec_chol, covariance_type, shift=params["shift"])


# --- k-means


def nearest(X, centers) -> torch.Tensor:
    dist = X.square().sum(1, keepdim=True) - 2 * X @ centers.T + centers.square().sum(1)
    return dist.argmin(1)


def kmeans_plusplus(X, n_clusters: int, gen) -> torch.Tensor:
    """Greedy k-means++ seeding (Arthur and Vassilvitskii 2007) with 2 + log k trials."""
    n = X.shape[0]
    n_trials = 2 + int(math.log(n_clusters))
    centers = [X[torch.randint(n, (1,), generator=gen, device=X.device)].squeeze(0)]
    closest = (X - centers[0]).square().sum(1)
    for _ in range(1, n_clusters):
        total = closest.sum()
        probs = closest / total if total > 0 else torch.full_like(closest, 1 / n)
        candidates = torch.multinomial(probs, n_trials, replacement=True, generator=gen)
        d2 = torch.cdist(X[candidates], X).square()  # (trials, n)
        best = int(torch.minimum(closest, d2).sum(1).argmin())
        centers.append(X[candidates[best]])
        closest = torch.minimum(closest, d2[best])
    return torch.stack(centers)


def lloyd(batches, centers, *, max_iter: int = 100, tol: float = 1e-4) -> torch.Tensor:
    """Lloyd's k-means on ShiftedBatches, with summed (and all-reduced) cluster statistics."""
    K, d = centers.shape
    scale = None
    for _ in range(max_iter):
        sums = torch.zeros_like(centers)
        counts = torch.zeros(K, dtype=centers.dtype, device=centers.device)
        sq = centers.new_zeros(())
        for batch in batches:
            labels = nearest(batch.Xc, centers)
            sums.index_add_(0, labels, batch.Xc)
            counts += torch.bincount(labels, minlength=K).to(counts.dtype)
            sq = sq + batch.Xc.square().sum()
        total = all_reduce_sum({"sums": sums, "counts": counts, "sq": sq})
        sums, counts = total["sums"], total["counts"]
        if scale is None:  # scikit-learn's tol is relative to the mean feature variance
            mean = sums.sum(0) / counts.sum()
            scale = float((total["sq"] / counts.sum() - mean.square().sum()) / d)
        new = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centers)
        moved = float((new - centers).square().sum())
        centers = new
        if moved <= tol * scale:
            break
    return centers
