"""Pure functions behind the naive Bayes models: statistics, parameters, likelihoods, samplers.

Statistics are flat dicts of per-class *sums* over rows (counts, feature sums, category
counts), so that batches and processes combine by addition; the Gaussian model's squared
deviations are taken about the class means of the data being summed, and combine by Chan's
parallel update (`merge_gaussian`). The formulas for parameters and joint log-likelihoods are
scikit-learn's (sklearn.naive_bayes), so the two agree to rounding.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.distributed as dist

from genzoo.training.em import all_reduce_sum, is_distributed

# Largest (rows x classes x features) intermediate handled at once: 8 MiB in float64, small
# enough to stay in cache, which makes the per-class loops of the likelihoods fast.
BATCH_ELEMENTS = 2**20
# scikit-learn's floor for alpha when force_alpha is False.
ALPHA_FLOOR = 1e-10


def batch_rows(n_classes: int, n_features: int) -> int:
    """Rows per batch so that a (rows, classes, features) intermediate fits BATCH_ELEMENTS."""
    return max(1, BATCH_ELEMENTS // max(1, n_classes * n_features))


# --- summing statistics


def sum_batches(
    batch_stats: Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]],
    X: torch.Tensor,
    y: torch.Tensor,
    rows: int,
) -> dict[str, torch.Tensor]:
    """Sum `batch_stats(X_batch, y_batch)` over row batches, then over processes."""
    total: dict[str, torch.Tensor] | None = None
    for X_batch, y_batch in zip(torch.split(X, rows), torch.split(y, rows), strict=True):
        part = batch_stats(X_batch, y_batch)
        total = part if total is None else {k: total[k] + part[k] for k in total}
    return all_reduce_sum(total)


def all_reduce_max(value: torch.Tensor) -> torch.Tensor:
    """Elementwise maximum over processes (a no-op in one process)."""
    if is_distributed():
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return value


def class_sums(X: torch.Tensor, y: torch.Tensor, n_classes: int) -> dict[str, torch.Tensor]:
    """Rows per class ("count", (K,)) and per-class feature sums ("sum", (K, d))."""
    count = torch.bincount(y, minlength=n_classes).to(X.dtype)
    total = X.new_zeros(n_classes, X.shape[1]).index_add_(0, y, X)
    return {"count": count, "sum": total}


# --- class priors


def empirical_log_prior(class_count: np.ndarray) -> np.ndarray:
    """log(count_k / total); -inf for a class not yet seen (scikit-learn's convention)."""
    with np.errstate(divide="ignore"):
        return np.log(class_count) - np.log(class_count.sum())


def discrete_log_prior(class_count: np.ndarray, class_prior, fit_prior: bool) -> np.ndarray:
    """scikit-learn's class_log_prior_: the given prior, the empirical one, or uniform."""
    n_classes = len(class_count)
    if class_prior is not None:
        prior = np.asarray(class_prior, dtype=np.float64)
        if prior.shape != (n_classes,):
            raise ValueError(
                f"class_prior has {prior.size} values but there are {n_classes} classes."
            )
        if (prior < 0).any() or not np.isfinite(prior).all():
            raise ValueError("class_prior must be finite and non-negative.")
        with np.errstate(divide="ignore"):
            return np.log(prior)
    if fit_prior:
        return empirical_log_prior(class_count)
    return np.full(n_classes, -np.log(n_classes))


def gaussian_prior(class_count: np.ndarray, priors) -> np.ndarray:
    """GaussianNB's class_prior_: the given priors (checked) or the class frequencies."""
    if priors is None:
        return class_count / class_count.sum()
    priors = np.asarray(priors, dtype=np.float64)
    if priors.shape != class_count.shape:
        raise ValueError(
            f"priors has {priors.size} values but there are {len(class_count)} classes."
        )
    if (priors < 0).any() or not np.isclose(priors.sum(), 1.0):
        raise ValueError(f"priors must be non-negative and sum to 1; they sum to {priors.sum()}.")
    return priors


def check_alpha(alpha, force_alpha: bool, n_features: int) -> np.ndarray | float:
    """alpha as a float or an (n_features,) array, floored at 1e-10 unless force_alpha."""
    value = alpha if np.isscalar(alpha) else np.asarray(alpha, dtype=np.float64)
    if isinstance(value, np.ndarray):
        if value.shape != (n_features,):
            raise ValueError(
                f"alpha as an array must have one value per feature ({n_features}); "
                f"got shape {value.shape}."
            )
        if (value < 0).any() or not np.isfinite(value).all():
            raise ValueError("alpha must be finite and non-negative.")
    if np.min(value) < ALPHA_FLOOR and not force_alpha:
        warnings.warn(
            f"alpha too small will result in numeric errors, setting alpha = {ALPHA_FLOOR:.1e}. "
            "Use `force_alpha=True` to keep alpha unchanged.",
            UserWarning,
            stacklevel=4,
        )
        return np.maximum(value, ALPHA_FLOOR)
    return value


def log_normalised(smoothed: np.ndarray, total: np.ndarray, what: str) -> np.ndarray:
    """log(smoothed / total), refusing zero probabilities (they would make NaN likelihoods)."""
    if (smoothed <= 0).any():
        k, j = np.argwhere(smoothed <= 0)[0][:2]
        raise ValueError(
            f"alpha=0 leaves {what} {j} with probability 0 in class index {k}; "
            "use alpha > 0 (smoothing) so every likelihood is finite."
        )
    return np.log(smoothed) - np.log(total)


# --- Gaussian naive Bayes


def gaussian_stats(X: torch.Tensor, y: torch.Tensor, n_classes: int, rows: int) -> dict:
    """Per-class count, mean ("theta") and summed squared deviation ("m2") of X.

    Two passes, each a sum over batches and processes: the class means, then the squared
    deviations about them, so the variances keep full precision whatever the data's offset.
    """
    sums = sum_batches(lambda Xb, yb: class_sums(Xb, yb, n_classes), X, y, rows)
    count = sums["count"]
    theta = sums["sum"] / count.clamp(min=1)[:, None]

    def deviations(Xb, yb):
        diff = Xb - theta[yb]
        return {
            "dev": X.new_zeros(theta.shape).index_add_(0, yb, diff),
            "dev2": X.new_zeros(theta.shape).index_add_(0, yb, diff.square_()),
        }

    dev = sum_batches(deviations, X, y, rows)
    n = count.clamp(min=1)[:, None]
    # The first-order term corrects theta's own rounding (the "corrected two-pass" variance).
    shift = dev["dev"] / n
    return {"count": count, "theta": theta + shift, "m2": dev["dev2"] - dev["dev"] * shift}


def merge_gaussian(a: dict, b: dict) -> dict:
    """Combine the count/theta/m2 statistics of two disjoint sets of rows (Chan et al. 1979)."""
    n = a["count"] + b["count"]
    n_safe = n.clamp(min=1)[:, None]
    delta = b["theta"] - a["theta"]
    theta = a["theta"] + delta * (b["count"][:, None] / n_safe)
    m2 = a["m2"] + b["m2"] + delta.square() * (a["count"] * b["count"])[:, None] / n_safe
    return {"count": n, "theta": theta, "m2": m2}


def pooled_variance(count: np.ndarray, theta: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """Variance of each feature over all rows of all classes, (d,)."""
    total = count.sum()
    mean = count @ theta / total
    return (m2.sum(0) + count @ np.square(theta - mean)) / total


def gaussian_params(stats: dict, var_smoothing: float, priors) -> dict:
    """GaussianNB's fitted attributes from count/theta/m2 statistics (numpy)."""
    count, theta, m2 = stats["count"], stats["theta"], np.maximum(stats["m2"], 0.0)
    epsilon = var_smoothing * float(pooled_variance(count, theta, m2).max())
    var = m2 / np.maximum(count, 1)[:, None] + epsilon
    if (var <= 0).any():
        k, j = np.argwhere(var <= 0)[0]
        raise ValueError(
            f"feature {j} has zero variance in class index {k} and var_smoothing is "
            f"{var_smoothing} (or every feature is constant); use var_smoothing > 0."
        )
    return {
        "class_count_": count,
        "class_prior_": gaussian_prior(count, priors),
        "theta_": theta,
        "var_": var,
        "epsilon_": epsilon,
    }


def gaussian_joint(
    X: torch.Tensor, theta: torch.Tensor, var: torch.Tensor, log_prior: torch.Tensor, rows: int
) -> torch.Tensor:
    """log p(x, y=k) for each row and class, (n, K), as scikit-learn's GaussianNB."""
    # The (x - theta)^2 / var form, not an expanded matmul: a feature with a tiny var_ makes
    # x^2 / var huge, and expanding the square would cancel away every digit of precision.
    log_norm = -0.5 * torch.log(2.0 * math.pi * var).sum(1)
    precision = 1.0 / var  # a product per element is cheaper than a division
    out = X.new_empty(len(X), len(theta))
    for X_batch, out_batch in zip(torch.split(X, rows), torch.split(out, rows), strict=True):
        mahalanobis = (X_batch[:, None, :] - theta).square_().mul_(precision)  # (rows, K, d)
        torch.sum(mahalanobis, dim=2, out=out_batch)
    return out.mul_(-0.5).add_(log_norm).add_(log_prior)


# --- multinomial and Bernoulli naive Bayes


def counts_in_range(X: np.ndarray, max_abs: float, block: int = 2**15) -> bool:
    """Whether every value of X is a whole number in [0, max_abs]: one pass in cache-sized
    blocks that also refuses NaN (unequal to itself) and infinity, so a model of counts
    needs no separate finiteness check."""
    flat = X.reshape(-1)
    rounded = np.empty(min(block, flat.size), dtype=X.dtype)
    for start in range(0, flat.size, block):
        part = flat[start : start + block]
        if not (part.min() >= 0 and part.max() <= max_abs):  # NaN fails both comparisons
            return False
        if not np.array_equal(part, np.rint(part, out=rounded[: len(part)])):
            return False
    return True


def multinomial_log_prob(feature_count: np.ndarray, alpha) -> np.ndarray:
    """MultinomialNB's feature_log_prob_: log((count + alpha) / sum_j (count + alpha))."""
    smoothed = feature_count + alpha
    return log_normalised(smoothed, smoothed.sum(1, keepdims=True), "feature")


def bernoulli_log_prob(feature_count: np.ndarray, class_count: np.ndarray, alpha) -> np.ndarray:
    """BernoulliNB's feature_log_prob_: log((count + alpha) / (class count + 2 alpha))."""
    smoothed, total = feature_count + alpha, class_count[:, None] + 2 * np.asarray(alpha)
    if (smoothed >= total).any():  # p = 1: log(1 - p) would be -inf
        k, j = np.argwhere(smoothed >= total)[0]
        raise ValueError(
            f"alpha=0 leaves feature {j} with probability 1 in class index {k}; "
            "use alpha > 0 (smoothing) so every likelihood is finite."
        )
    return log_normalised(smoothed, total, "feature")


def log_multinomial_coefficient(X: torch.Tensor) -> torch.Tensor:
    """log(n! / prod_j x_j!) with n = sum_j x_j, per row (lgamma for non-integer counts)."""
    return torch.lgamma(X.sum(1) + 1) - torch.lgamma(X + 1).sum(1)


def sample_multinomial(lengths: torch.Tensor, probs: torch.Tensor, gen) -> torch.Tensor:
    """Rows of counts ~ Multinomial(lengths[i], probs[i]), by a chain of binomials, (n, d)."""
    X = torch.empty_like(probs)
    remaining = lengths.clone()
    rest = torch.ones_like(lengths)  # probability mass of the features not yet drawn
    for j in range(probs.shape[1] - 1):
        q = (probs[:, j] / rest.clamp(min=torch.finfo(probs.dtype).tiny)).clamp_(0, 1)
        X[:, j] = torch.binomial(remaining, q, generator=gen)
        remaining = remaining - X[:, j]
        rest = rest - probs[:, j]
    X[:, -1] = remaining
    return X


def linear_joint(X: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """X @ weight.T + bias, (n, K)."""
    return torch.addmm(bias, X, weight.T)


def bernoulli_joint(
    X: torch.Tensor, feature_log_prob: torch.Tensor, log_prior: torch.Tensor
) -> torch.Tensor:
    """log p(x, y=k) for binary rows, (n, K), as scikit-learn's BernoulliNB."""
    neg_prob = torch.log(-torch.expm1(feature_log_prob))  # log(1 - p), accurate near p = 0
    return linear_joint(X, feature_log_prob - neg_prob, log_prior + neg_prob.sum(1))


# --- categorical naive Bayes


def category_counts(
    X: torch.Tensor, y: torch.Tensor, n_classes: int, width: int, rows: int
) -> dict[str, torch.Tensor]:
    """Class counts and (K, d, width) counts of each category of each feature, summed."""
    d = X.shape[1]
    offsets = torch.arange(d, device=X.device) * width

    def counts(Xb, yb):
        # One bincount over (class, feature, category) cells for the whole batch.
        cells = (yb[:, None] * (d * width) + offsets + Xb.long()).reshape(-1)
        table = torch.bincount(cells, minlength=n_classes * d * width).to(X.dtype)
        count = torch.bincount(yb, minlength=n_classes).to(X.dtype)
        return {"count": count, "category_count": table.reshape(n_classes, d, width)}

    return sum_batches(counts, X, y, rows)


def categorical_joint(
    X: torch.Tensor, table: torch.Tensor, log_prior: torch.Tensor, rows: int
) -> torch.Tensor:
    """log p(x, y=k), (n, K), from a (d, width, K) table of log-probabilities."""
    d, width, n_classes = table.shape
    flat = table.reshape(d * width, n_classes).contiguous()  # rows gathered whole
    offsets = torch.arange(d, device=X.device) * width
    out = X.new_empty(len(X), n_classes)
    for X_batch, out_batch in zip(torch.split(X, rows), torch.split(out, rows), strict=True):
        cells = torch.empty(d, len(X_batch), dtype=torch.long, device=X.device)
        cells.copy_(X_batch.T).add_(offsets[:, None])  # (d, rows), codes to table rows
        torch.index_select(flat, 0, cells[0], out=out_batch)
        for j in range(1, d):  # feature by feature, in scikit-learn's order of summation
            out_batch += flat.index_select(0, cells[j])
    return out.add_(log_prior)


# Largest category code accepted: the tables hold one entry per code and class.
MAX_CATEGORY_CODE = 2**20


def check_category_codes(X: np.ndarray, n_categories: np.ndarray | None = None) -> np.ndarray:
    """X itself if it holds integer codes 0, 1, 2, ... (below `n_categories`, per feature, of a
    fitted model), else a ValueError naming the feature and the code."""
    # One blocked pass and the per-feature maxima accept good codes; the checks below, which
    # find the offending value to name it, run only when something is wrong.
    if counts_in_range(X, MAX_CATEGORY_CODE) and (
        n_categories is None or bool((X.max(0) < n_categories).all())
    ):
        return X
    if X.min() < 0:
        raise ValueError(
            "Negative values in data passed to X: it contains negative category codes; codes "
            "are 0, 1, 2, ..."
        )
    fractional = X != np.floor(X)
    if fractional.any():
        row, j = np.argwhere(fractional)[0]
        raise ValueError(
            f"X must hold integer category codes; feature {j} has the value {X[row, j]}."
        )
    j = int(X.max(0).argmax())
    if X[:, j].max() > MAX_CATEGORY_CODE:
        raise ValueError(
            f"X has category code {X[:, j].max():g} in feature {j}; codes above "
            f"{MAX_CATEGORY_CODE:,} are refused (recode the categories as 0, 1, 2, ...)."
        )
    if n_categories is not None:
        bad = X >= n_categories
        if bad.any():
            row, j = np.argwhere(bad)[0]
            raise ValueError(
                f"X has category {int(X[row, j])} in feature {j}, unseen in training: that "
                f"feature has n_categories_[{j}]={n_categories[j]} codes "
                f"(0..{n_categories[j] - 1}). Declare more codes with min_categories."
            )
    return X


def min_categories_array(min_categories, n_features: int) -> np.ndarray:
    """`min_categories` (None, an int or one int per feature) as (n_features,) ints."""
    if min_categories is None:
        return np.zeros(n_features, dtype=np.int64)
    least = np.asarray(min_categories)
    if least.dtype.kind not in "iu" or least.shape not in ((), (n_features,)):
        raise ValueError(
            f"min_categories must be an int or {n_features} ints, one per feature; "
            f"got {min_categories!r}."
        )
    return np.broadcast_to(least, (n_features,)).astype(np.int64)


def padded(tables: list[np.ndarray], n_categories: np.ndarray) -> np.ndarray:
    """Per-feature (K, n_categories[j]) tables as one (K, d, max n_categories) array."""
    width = int(n_categories.max())
    if int(n_categories.min()) == width:  # every feature has as many codes: no padding
        return np.stack(tables, axis=1)
    out = np.zeros((tables[0].shape[0], len(tables), width))
    for j, table in enumerate(tables):
        out[:, j, : table.shape[1]] = table
    return out


def merge_categorical(a: dict, b: dict) -> dict:
    """Add category statistics whose tables may be of different widths."""
    width = max(a["category_count"].shape[2], b["category_count"].shape[2])
    pad = torch.nn.functional.pad
    return {
        "count": a["count"] + b["count"],
        "category_count": sum(
            pad(s["category_count"], (0, width - s["category_count"].shape[2])) for s in (a, b)
        ),
        "n_categories": torch.maximum(a["n_categories"], b["n_categories"]),
    }


def categorical_log_prob(table: np.ndarray, n_categories: np.ndarray, alpha: float):
    """Per-feature category counts and smoothed log-probabilities, as scikit-learn's lists."""
    category_count, feature_log_prob = [], []
    for j, n_j in enumerate(n_categories):
        counts = table[:, j, :n_j]
        smoothed = counts + alpha
        total = smoothed.sum(1, keepdims=True)
        category_count.append(counts)
        feature_log_prob.append(log_normalised(smoothed, total, f"a category of feature {j}"))
    return category_count, feature_log_prob


def sample_categorical(log_probs: list[torch.Tensor], y: torch.Tensor, gen) -> torch.Tensor:
    """One code per feature for each class index in y, (n, d), from (K, n_j) log-tables."""
    X = torch.empty(len(y), len(log_probs), dtype=log_probs[0].dtype, device=y.device)
    for j, log_prob in enumerate(log_probs):
        probs = torch.exp(log_prob)[y]  # (n, n_categories_[j])
        X[:, j] = torch.multinomial(probs, 1, generator=gen)[:, 0].to(X.dtype)
    return X
