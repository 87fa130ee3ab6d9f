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

import functools
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
    """Rows shifted by a fixed centre beside their quadratic features, in one matrix.

    Z = [phi | Xc | 1], (n, T + d + 1), with phi the T quadratic features (the products
    x_i x_j, i <= j, for full and tied covariances; the squares x_i^2 otherwise). One matrix
    product against Z then gives every row's log-density under every component (E-step), and
    one more gives the responsibility-weighted sums nk, sx and sxx (M-step).
    """

    Z: torch.Tensor
    d: int

    @property
    def Xc(self) -> torch.Tensor:
        """The shifted rows, (n, d) (a view into Z)."""
        T = self.Z.shape[1] - self.d - 1
        return self.Z[:, T : T + self.d]

    @property
    def phi(self) -> torch.Tensor:
        """The quadratic features, (n, T) (a view into Z)."""
        return self.Z[:, : self.Z.shape[1] - self.d - 1]

    def __len__(self) -> int:
        return self.Z.shape[0]


def n_quadratic_features(d: int, covariance_type: str) -> int:
    return d * (d + 1) // 2 if covariance_type in ("full", "tied") else d


@functools.lru_cache(maxsize=32)
def _layout(d: int, device: torch.device):
    """Index tensors of the packed upper triangle, built once per width and device: rows i and
    columns j (T,), the flat positions i * d + j (T,), and the packed position of every entry
    of a (d, d) matrix, (d * d,)."""
    i, j = torch.triu_indices(d, d, device=device)
    position = torch.empty(d, d, dtype=torch.long, device=device)
    position[i, j] = torch.arange(i.numel(), device=device)
    position[j, i] = position[i, j]
    return i, j, i * d + j, position.reshape(-1)


@functools.lru_cache(maxsize=32)
def _quadratic_weight(d: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """-1/2 on the packed diagonal, -1 off it: the E-step's coefficients of phi(x) . q(L)."""
    i, j = torch.triu_indices(d, d, device=device)
    return torch.where(i == j, -0.5, -1.0).to(dtype)


@functools.lru_cache(maxsize=32)
def _eye(d: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.eye(d, dtype=dtype, device=device)


def shifted_batch(X, shift, covariance_type: str) -> ShiftedBatch:
    n, d = X.shape
    T = n_quadratic_features(d, covariance_type)
    Z = X.new_empty(n, T + d + 1)
    Xc = torch.sub(X, shift, out=Z[:, T : T + d])
    if covariance_type in ("full", "tied"):
        i, j, _, _ = _layout(d, X.device)
        torch.mul(Xc[:, i], Xc[:, j], out=Z[:, :T])
    else:
        torch.square(Xc, out=Z[:, :T])
    Z[:, -1] = 1.0
    return ShiftedBatch(Z, d)


def _unpack_symmetric(packed, d: int) -> torch.Tensor:
    """(K, d(d+1)/2) upper triangles to (K, d, d) symmetric matrices."""
    return packed.index_select(1, _layout(d, packed.device)[3]).reshape(-1, d, d)


# --- densities


def precisions_from_cholesky(prec_chol, covariance_type: str) -> torch.Tensor:
    if covariance_type in ("full", "tied"):
        return prec_chol @ prec_chol.transpose(-1, -2)
    return prec_chol.square()


def _log_det(prec_chol, covariance_type: str, d: int) -> torch.Tensor:
    if covariance_type in ("full", "tied"):
        return torch.diagonal(prec_chol, dim1=-2, dim2=-1).log().sum(-1)
    if covariance_type == "diag":
        return torch.log(prec_chol).sum(1)
    return d * torch.log(prec_chol)


def _expanded_form(params: dict, covariance_type: str):
    """The E-step's weight matrix W, (K, T + d + 1), with W @ Z.T = log w_k + log N(x | k),
    and R, the largest squared Mahalanobis distance of a mean from the shift, plus d.

    (x - m)^T L (x - m) = phi(x) . q(L) - 2 x^T L m + m^T L m, with q(L) the packed upper
    triangle of the precision L (off-diagonal entries doubled), so W = [-q/2 | L m | c].
    """
    means_c = params["means"] - params["shift"]
    prec_chol = params["precisions_cholesky"]
    K, d = means_c.shape
    if covariance_type == "full":
        prec = torch.bmm(prec_chol, prec_chol.transpose(1, 2))
        lin = torch.bmm(prec, means_c[:, :, None]).reshape(K, d)
    elif covariance_type == "tied":
        prec = prec_chol @ prec_chol.T
        lin = means_c @ prec
    else:
        prec = prec_chol.square()
    if covariance_type in ("full", "tied"):
        flat = _layout(d, prec.device)[2]
        weight = _quadratic_weight(d, prec.device, prec.dtype)
        quadratic = prec.reshape(-1, d * d).index_select(1, flat).mul_(weight)
        quadratic = quadratic.expand(K, -1) if covariance_type == "tied" else quadratic
    else:
        prec = prec if covariance_type == "diag" else prec[:, None].expand_as(means_c)
        quadratic = -0.5 * prec
        lin = prec * means_c
    quad = (means_c * lin).sum(1)  # (K,) squared Mahalanobis distance of each mean
    const = _log_det(prec_chol, covariance_type, d) + torch.log(params["weights"])
    const = const.sub_(quad, alpha=0.5).sub_(0.5 * d * _LOG_2PI)
    return torch.cat([quadratic, lin, const[:, None]], dim=1), quad.max() + d


def _whitened(D, prec_chol, covariance_type: str) -> torch.Tensor:
    """Differences D (K, n, d) to each component's mean, whitened by its precision factor."""
    if covariance_type == "full":
        return torch.bmm(D, prec_chol)
    if covariance_type == "tied":
        return D @ prec_chol
    if covariance_type == "diag":
        return D * prec_chol[:, None, :]
    return D * prec_chol[:, None, None]


def log_gaussian_centred(D, prec_chol, covariance_type: str) -> torch.Tensor:
    """log N(x | mean_k, cov_k), (K, n), from the differences D (K, n, d) of the rows to each
    mean (scikit-learn's form)."""
    d = D.shape[-1]
    maha = _whitened(D, prec_chol, covariance_type).square_().sum(-1)
    log_det = _log_det(prec_chol, covariance_type, d).reshape(-1, 1)  # (K, 1), or (1, 1) tied
    return log_det - 0.5 * (d * _LOG_2PI + maha)


def _differences(batch: ShiftedBatch, params: dict) -> torch.Tensor:
    """Each row minus each component's mean, (K, n, d)."""
    means_c = params["means"] - params["shift"]
    return batch.Xc.unsqueeze(0) - means_c.unsqueeze(1)


def is_centred(params: dict, covariance_type: str) -> bool:
    """Whether the expanded squares would lose too much precision for these parameters.

    `make_params` decides it once per parameter set (one host sync per EM iteration, not one
    per batch) and records it under "centred".
    """
    if "centred" in params:
        return params["centred"]
    return _too_coarse(_expanded_form(params, covariance_type)[1])


def _too_coarse(R: torch.Tensor) -> bool:
    """Whether eps * R, the expanded squares' error in nats, is more than the dtype allows.

    R is the one value read back to the host per parameter set; a non-finite R means
    non-finite parameters, refused here.
    """
    value = float(R)
    if not math.isfinite(value):
        raise ValueError(_ILL_DEFINED)
    return torch.finfo(R.dtype).eps * value > _EXPANDED_ERROR.get(R.dtype, 1e-4)


def stats_centre(params: dict, covariance_type: str) -> torch.Tensor:
    """The point each component's statistics are taken about, (K, d)."""
    if is_centred(params, covariance_type):
        return params["means"]
    return params["shift"].expand_as(params["means"])


def weighted_log_prob(
    batch: ShiftedBatch, params: dict, covariance_type: str, D=None
) -> torch.Tensor:
    """log w_k + log N(x | k), (K, n): components first, for a batch shifted by params["shift"].

    Components first, so the softmax over them runs along the slow axis, vectorised over rows.
    In the centred form, D are the batch's `_differences` when the caller has them already.
    """
    if is_centred(params, covariance_type):
        D = _differences(batch, params) if D is None else D
        log_gauss = log_gaussian_centred(D, params["precisions_cholesky"], covariance_type)
        return log_gauss.add_(torch.log(params["weights"])[:, None])
    W = params.get("expanded")
    if W is None:
        W = _expanded_form(params, covariance_type)[0]
    return W @ batch.Z.T


# --- sufficient statistics and M-step


def gaussian_sums(batch: ShiftedBatch, resp, covariance_type: str) -> dict[str, torch.Tensor]:
    """Responsibility-weighted sums of the shifted rows and their squares; resp is (K, n).

    One product resp @ Z gives them all: sxx (packed), sx and nk side by side.
    """
    d = batch.d
    sums = resp @ batch.Z  # (K, T + d + 1)
    T = sums.shape[1] - d - 1
    stats = {"nk": sums[:, -1], "sx": sums[:, T : T + d]}
    if covariance_type == "full":
        stats["sxx"] = _unpack_symmetric(sums[:, :T], d)
    elif covariance_type == "tied":
        # sum over k of the weighted outer products (sum_k r_ik = 1)
        stats["sxx"] = _unpack_symmetric(sums[:, :T].sum(0, keepdim=True), d)[0]
    else:
        stats["sxx"] = sums[:, :T]
    return stats


def centred_sums(D, resp, covariance_type: str) -> dict[str, torch.Tensor]:
    """The sums of `gaussian_sums` about each component's own centre, from the differences D
    (K, n, d) of the rows to the centres and the responsibilities resp (K, n)."""
    weighted = D * resp.unsqueeze(2)
    stats = {"nk": resp.sum(1), "sx": weighted.sum(1)}
    if covariance_type in ("full", "tied"):
        sxx = torch.bmm(weighted.transpose(1, 2), D)
        stats["sxx"] = sxx if covariance_type == "full" else sxx.sum(0)
    else:
        stats["sxx"] = weighted.mul_(D).sum(1)
    return stats


def responsibilities(weighted: torch.Tensor):
    """Posteriors softmax(weighted) over components and the log-normalisers, (K, n) and (n,);
    overwrites `weighted` (a pass less than logsumexp followed by exp)."""
    top = weighted.amax(0)
    resp = weighted.sub_(top).exp_()
    total = resp.sum(0)
    resp.div_(total)
    return resp, total.log_().add_(top)


def e_step(batch: ShiftedBatch, params: dict, covariance_type: str):
    """Statistics of one batch about `stats_centre(params)`, and its summed log-likelihood."""
    if is_centred(params, covariance_type):
        D = _differences(batch, params)  # formed once, read by both halves
        weighted = weighted_log_prob(batch, params, covariance_type, D)
        resp, log_norm = responsibilities(weighted)
        return centred_sums(D, resp, covariance_type), log_norm.sum()
    resp, log_norm = responsibilities(weighted_log_prob(batch, params, covariance_type))
    return gaussian_sums(batch, resp, covariance_type), log_norm.sum()


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
    if covariance_type == "full":
        cov = torch.baddbmm(
            stats["sxx"] / nk[:, None, None], means[:, :, None], means[:, None, :], alpha=-1
        )
        cov.diagonal(dim1=-2, dim2=-1).add_(reg_covar)
    elif covariance_type == "tied":
        cov = (stats["sxx"] - (nk[:, None] * means).T @ means) / nk.sum()
        cov.diagonal().add_(reg_covar)
    else:
        cov = stats["sxx"] / nk[:, None] - means.square() + reg_covar
        if covariance_type == "spherical":
            cov = cov.mean(1)
    return nk / nk.sum(), means, cov


_ILL_DEFINED = (
    "Fitting the mixture model failed because some components have an ill-defined "
    "empirical covariance (for instance caused by singleton or collapsed samples). "
    "Decrease n_components or increase reg_covar."
)


def precision_cholesky(cov, covariance_type: str) -> torch.Tensor:
    """Upper-triangular P with P P^T = inverse(cov) (scikit-learn's precisions_cholesky_).

    A NaN stops the factorisation too (info > 0); `make_params` refuses any other non-finite
    value with the same message.
    """
    if covariance_type in ("full", "tied"):
        L, info = torch.linalg.cholesky_ex(cov)
        if bool(info.any()):
            raise ValueError(_ILL_DEFINED)
        eye = _eye(cov.shape[-1], cov.device, cov.dtype).expand_as(cov)
        return torch.linalg.solve_triangular(L, eye, upper=False).transpose(-1, -2)
    if not bool(((cov > 0) & torch.isfinite(cov)).all()):
        raise ValueError(
            "Fitting the mixture model failed because some components have a non-positive "
            "variance (collapsed samples). Decrease n_components or increase reg_covar."
        )
    return 1.0 / torch.sqrt(cov)


def make_params(weights, means, cov, prec_chol, covariance_type: str, shift=None) -> dict:
    """The parameter dict EM passes around; `shift` is the centre statistics are taken about.

    Its tensors, "centred" (see `is_centred`), a bool decided here once, and, when the
    expanded squares are used, their weight matrix "expanded" (see `_expanded_form`), built
    once per parameter set rather than once per batch.
    """
    params = {
        "weights": weights,
        "means": means,
        "covariances": cov,
        "precisions_cholesky": prec_chol,
        "shift": weights @ means if shift is None else shift,
    }
    W, R = _expanded_form(params, covariance_type)
    centred = _too_coarse(R)
    return params | {"centred": centred, "expanded": None if centred else W}


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
