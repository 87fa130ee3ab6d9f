"""Input checks and initial parameters of HiddenMarkovModel.

The initial parameters are one M-step away from initial state labels: k-means labels of the
steps (of their rows, or of the symbol frequencies around them), or random soft labels. The
user's *_init arrays then replace what was computed. Every function takes the model for its
constructor arguments and its tensor conventions, and changes nothing on it.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from genzoo._validation import check_array
from genzoo.bayesnet._hmm_math import (
    categorical_m_step,
    chain_sums,
    gaussian_m_step,
    gaussian_sums,
    transition_m_step,
    window_histograms,
)
from genzoo.mixture._gaussian import kmeans_plusplus, lloyd, nearest
from genzoo.training.em import all_reduce_sum, broadcast

# k-means seeds from at most this many steps.
_SEED_ROWS = 50_000
# Categorical k-means clusters histograms of the symbols within this many steps of each step.
_WINDOW = 5


# --- input


def check_symbols(X: np.ndarray, n_symbols: int | None) -> None:
    if X.shape[1] != 1:
        raise ValueError(
            f"X must have one column of symbols for emission='categorical'; got {X.shape[1]}."
        )
    if (X < 0).any() or (X % 1 != 0).any():
        raise ValueError("X must hold non-negative integer symbols for emission='categorical'.")
    if n_symbols is not None and X.max() >= n_symbols:
        raise ValueError(
            f"X has symbol {int(X.max())}, out of range for n_symbols={n_symbols} "
            f"(symbols are 0..{n_symbols - 1})."
        )


# --- initial parameters


def initial_params(model, batches, gen, d: int, n_symbols, shift) -> dict:
    """Initial parameters: computed by `model.init_params`, then replaced by those given."""
    given = _given_arrays(model, d, n_symbols)
    needed = ["startprob", "transmat"] + (
        ["emissionprob"] if model._categorical else ["weights", "means", "covars"]
    )
    if all(given.get(k) is not None for k in needed):
        return {k: given[k] for k in needed} | ({} if shift is None else {"shift": shift})
    stats = _initial_stats(model, batches, gen, n_symbols)
    K, M = model.n_components, model._n_mix()
    uniform = model._to_tensor(np.full(K, 1.0 / K))
    old = {"startprob": uniform, "transmat": uniform.expand(K, K)}
    params = transition_m_step(stats, old, 1.0, 1.0)
    if model._categorical:
        old["emissionprob"] = model._to_tensor(np.full((K, n_symbols), 1.0 / n_symbols))
        params.update(categorical_m_step(stats, old))
    else:
        ones = torch.ones_like(stats["sxx"])
        old |= {"weights": torch.ones_like(stats["nk"]) / M, "covars": ones, "shift": shift,
                "means": torch.zeros_like(stats["sx"]) + shift}  # fmt: skip
        params.update(gaussian_m_step(stats, old, model.min_covar, model.covariance_type))
    return params | {k: v for k, v in given.items() if v is not None}


def _initial_stats(model, batches, gen, n_symbols) -> dict:
    """Summed statistics of the initial labels, plus one pseudo-count of everything."""
    labeller = _labeller(model, batches, gen, n_symbols)
    stats = None
    for batch in batches:
        gamma, resp = labeller(batch)
        part = {**chain_sums(gamma), **model._emission_sums(batch, gamma, resp, n_symbols)}
        stats = part if stats is None else {k: stats[k] + part[k] for k in stats}
    stats = all_reduce_sum(stats)
    # A pseudo-count keeps every start, transition and symbol possible, and gives an empty
    # state (or mixture part) the data's mean and covariance.
    pseudo = {"start": 1.0, "trans": 1.0, "counts": 1.0}
    if not model._categorical:
        moments = all_reduce_sum(_moments(batches, model.covariance_type))
        n = moments["nk"]
        pseudo |= {"nk": 1.0, "sx": moments["sx"] / n, "sxx": moments["sxx"] / n[..., None]}
    return {k: v + pseudo[k] for k, v in stats.items()}


def _moments(batches, covariance_type: str) -> dict:
    """Sums of the (shifted) rows of all steps and of their squares, as one state's."""
    total = None
    for batch in batches:
        rows = batch.data[batch.mask]
        part = gaussian_sums(rows, rows.new_ones(len(rows), 1, 1), covariance_type)
        total = part if total is None else {k: total[k] + part[k] for k in total}
    return {"nk": total["nk"][0], "sx": total["sx"][0], "sxx": total["sxx"][0]}


def _labeller(model, batches, gen, n_symbols):
    """A function from a batch to initial state weights (T, B, K) and mixture resp."""
    K, M = model.n_components, model._n_mix()
    dtype, device = model._dtype(), model._device()
    if model.init_params == "random":

        def labeller(batch):
            gamma = torch.rand(*batch.mask.shape, K, generator=gen, dtype=dtype, device=device)
            gamma = gamma / gamma.sum(-1, keepdim=True) * batch.mask[..., None]
            resp = torch.rand(gamma.numel() // K, K, M, generator=gen, dtype=dtype, device=device)
            return gamma, None if M == 1 else resp / resp.sum(-1, keepdim=True)

        return labeller

    def features(batch):
        if model._categorical:
            hist = window_histograms(batch.data, batch.mask, n_symbols, _WINDOW)
            return hist.to(dtype)[batch.mask]
        return batch.data[batch.mask]

    def onehot(labels, n, batch):
        out = torch.zeros(*batch.mask.shape, n, dtype=dtype, device=device)
        out[batch.mask] = torch.nn.functional.one_hot(labels, n).to(dtype)
        return out

    rows = [SimpleNamespace(Xc=features(b)) for b in batches]
    centres = _kmeans(rows, K, gen)
    parts = None
    if M > 1:
        parts = [_part_centres(rows, centres, k, M, gen) for k in range(K)]

    def labeller(batch):
        X = features(batch)
        labels = nearest(X, centres)
        gamma = onehot(labels, K, batch)
        if parts is None:
            return gamma, None
        part = torch.zeros_like(labels)
        for k in range(K):
            chosen = labels == k
            part[chosen] = nearest(X[chosen], parts[k])
        return gamma, onehot(part, M, batch).reshape(-1, 1, M).expand(-1, K, M)

    return labeller


def _part_centres(rows, centres, k: int, n_mix: int, gen):
    """k-means centres of the mixture parts of state k, from the rows nearest its centre."""
    own = [SimpleNamespace(Xc=r.Xc[nearest(r.Xc, centres) == k]) for r in rows]
    return _kmeans(own, n_mix, gen, fallback=centres[k])


def _kmeans(rows: list, n_clusters: int, gen, fallback=None) -> torch.Tensor:
    """k-means centres of the rows of every process: k-means++ seeds on rank 0, then Lloyd."""
    local = torch.cat([r.Xc for r in rows])
    n = all_reduce_sum({"n": local.new_full((1,), len(local))})["n"]
    if float(n) < n_clusters and fallback is not None:
        return fallback.expand(n_clusters, -1).clone()
    if len(local) > _SEED_ROWS:
        local = local[torch.randperm(len(local), generator=gen, device=local.device)[:_SEED_ROWS]]
    if len(local) >= n_clusters:
        centres = kmeans_plusplus(local, n_clusters, gen)
    else:  # only where another process holds the rows: rank 0 broadcasts its centres
        centres = local.new_zeros(n_clusters, local.shape[1])
    centres = broadcast({"centres": centres.contiguous()})["centres"]
    return lloyd(rows, centres)


# --- parameters given by the user


def _given_arrays(model, d: int, n_symbols) -> dict:
    """The user's *_init arrays, checked, as parameter tensors (None where not given)."""
    K, M = model.n_components, model._n_mix()
    cov = model.covariance_type
    shapes = {"startprob": (K,), "transmat": (K, K)}
    if model._categorical:
        shapes["emissionprob"] = (K, n_symbols)
    else:
        mixed = model.emission == "gmm"
        shapes["means"] = (K, M, d) if mixed else (K, d)
        shapes["covars"] = ((K, M) if mixed else (K,)) + ((d,) if cov == "diag" else (d, d))
        if mixed:
            shapes["weights"] = (K, M)
    out = {}
    for key in ("startprob", "transmat", "emissionprob", "means", "covars", "weights"):
        name, value = f"{key}_init", getattr(model, f"{key}_init")
        if value is None:
            continue
        if key not in shapes:
            raise ValueError(f"{name} does not apply to emission={model.emission!r}.")
        out[key] = model._to_tensor(_check_init(name, value, key, shapes[key], cov))
    if not model._categorical:
        for key in ("means", "covars"):
            if key in out and model.emission != "gmm":
                out[key] = out[key][:, None]  # (K, 1, ...): one mixture part per state
        out.setdefault("weights", model._to_tensor(np.ones((K, 1))) if M == 1 else None)
    return out


def _check_init(name: str, value, key: str, shape: tuple, covariance_type: str) -> np.ndarray:
    """One *_init array checked for shape and values."""
    array = check_array(value, name=name, ndim=None, min_samples=0)
    if key == "covars" and covariance_type == "diag" and array.shape == shape + shape[-1:]:
        diagonal = np.diagonal(array, axis1=-2, axis2=-1)
        if not np.allclose(array, diagonal[..., None] * np.eye(shape[-1])):
            raise ValueError(f"{name} must be diagonal for covariance_type='diag'.")
        array = diagonal.copy()
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {array.shape}.")
    if key in ("startprob", "transmat", "emissionprob", "weights"):
        if (array < 0).any() or not np.allclose(array.sum(-1), 1.0, atol=1e-6):
            raise ValueError(f"{name} must be non-negative and each row must sum to 1.")
    elif key == "covars":
        positive = (
            (array > 0).all()
            if covariance_type == "diag"
            else all(np.linalg.eigvalsh(c).min() > 0 for c in array.reshape(-1, *shape[-2:]))
        )
        if not positive:
            raise ValueError(f"{name} must be positive (definite) covariances.")
    return array
