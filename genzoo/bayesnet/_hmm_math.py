"""Hidden-Markov-model math on padded batches of sequences: pure functions on tensors.

`make_batches` sorts sequences by length and pads them into time-major batches: T steps of B
sequences sorted by decreasing length, padded to the longest. `active[t]` is the number of
sequences still running at step t. Each recursion loops over time in Python and is vectorised
over sequences and states, with one (B, K) @ (K, K) matrix product per step (Rabiner 1989).
Every step runs on the whole batch, without slicing: past its end a sequence takes neutral
steps whose values are masked out, and it is restarted at its last step going backwards (a
slice per step would cost more than the padding's arithmetic). The steps are so small that
the cost of each call dominates, so on the CPU the loops run on numpy views of the tensors
(a fraction of torch's cost per call) and elsewhere, on a GPU, as the same torch calls; the
work around them (emissions, posteriors, statistics) stays in torch. For few long sequences,
where a step's arrays hold a handful of numbers, Viterbi cuts time into chunks and recovers
the paths by doubling (about 3 sqrt(T) + log2(T) calls instead of 7 T; a cost model chooses).

Forward-backward keeps every magnitude in log space and only shifted exponentials in linear
space: log b_t = c_t + log b'_t with c_t the row maximum, and log alpha_t = m_t + log alpha'_t
with alpha'_t summing to one, so that

    log alpha_t = c_t + m_{t-1} + log((alpha'_{t-1} @ A) * b'_t)

is one matrix product, a product and a normalisation per step, with no exp or log inside the
loop (the shifts m_t are Rabiner's scaling factors). A batch whose shifted values underflow (an
emission more than ~700 nats below the best one, behind forbidden transitions) is redone by
`forward_log` and `backward_log`, exact logsumexp over pairs of states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

_LOG_2PI = math.log(2 * math.pi)


# --- batches of padded sequences

# Largest batch, in elements of its widest intermediate (B * T * width), 32 MiB in float64.
_BATCH_ELEMENTS = 2**22


@dataclass
class SequenceBatch:
    """Sequences sorted by decreasing length, padded to the longest, time-major (T steps)."""

    data: torch.Tensor  # (T, B, d) rows shifted by the fit's centre, or (T, B) int64 symbols;
    # zero on padding
    mask: torch.Tensor  # (T, B) bool, True on real steps
    padded: torch.Tensor | None  # ~mask, or None when every sequence has T steps
    active: list  # active[t]: number of sequences longer than t
    index: np.ndarray  # (B,) position of each sequence in the caller's order
    rows: np.ndarray  # (T, B) row of each step in the stacked X, -1 on padding
    n_steps: int

    def __len__(self) -> int:  # run_em averages the log-likelihood per step
        return self.n_steps


def make_batches(X, lengths: np.ndarray, width: int, batch_size=None) -> list[SequenceBatch]:
    """Split stacked steps X (n_steps, ...) into padded batches of similar lengths.

    A batch holds at most `batch_size` sequences and B * T * width <= _BATCH_ELEMENTS.
    """
    order = np.argsort(-lengths, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    padded_X = torch.cat([X, X.new_zeros(1, *X.shape[1:])])
    batches, start = [], 0
    while start < len(order):
        T = int(lengths[order[start]])
        size = max(1, _BATCH_ELEMENTS // (T * width))
        index = order[start : start + min(size, batch_size or size)]
        start += len(index)
        steps = np.arange(T)[:, None]
        mask = steps < lengths[index]  # (T, B)
        rows = np.where(mask, offsets[index] + steps, -1)
        # padding reads an appended zero row: one gather, no masking pass over the batch
        gather = torch.as_tensor(np.where(mask, rows, len(X)).reshape(-1), device=X.device)
        data = padded_X.index_select(0, gather).reshape(T, len(index), *X.shape[1:])
        mask_t = torch.as_tensor(mask, device=X.device)
        padded = None if mask.all() else ~mask_t
        active = mask.sum(1).tolist()
        n_steps = int(mask.sum())
        batches.append(SequenceBatch(data, mask_t, padded, active, index, rows, n_steps))
    return batches


def chain_sums(gamma) -> dict:
    """Start and transition counts of state weights gamma (T, B, K), zero on padding."""
    K = gamma.shape[-1]
    xi = gamma[:-1].reshape(-1, K).T @ gamma[1:].reshape(-1, K)
    return transition_sums(gamma, xi)


def window_histograms(symbols, mask, n_symbols: int, half: int) -> torch.Tensor:
    """Frequency of each symbol within `half` steps of each step, (T, B, S)."""
    T, B = symbols.shape
    onehot = torch.nn.functional.one_hot(symbols, n_symbols).to(torch.float64)
    onehot = onehot * mask[..., None]
    cum = torch.cat([onehot.new_zeros(1, B, n_symbols), torch.cumsum(onehot, 0)], 0)
    steps = torch.arange(T, device=symbols.device)
    sums = cum[(steps + half + 1).clamp_max(T)] - cum[(steps - half).clamp_min(0)]
    return sums / sums.sum(-1, keepdim=True).clamp_min(1)


# --- emissions


def gaussian_log_prob(Xc, params: dict, covariance_type: str, mask=None) -> torch.Tensor:
    """log w_km + log N(x | mean_km, cov_km) for each row, state and mixture part, (n, K, M).

    Xc are rows shifted by params["shift"], (n, d); means (K, M, d); covars (K, M, d) for
    "diag", (K, M, d, d) for "full"; weights (K, M). Rows where `mask` (n,) is False (padding,
    zero rows) get 0.
    """
    means = params["means"] - params["shift"]
    K, M, d = means.shape
    means = means.reshape(K * M, d)
    if covariance_type == "diag":
        covars = params["covars"].reshape(K * M, d)
        log_det = torch.log(covars).sum(-1)
        if Xc.dtype == torch.float64:
            # Expanded squares, one matrix product of [x^2, x, 1] by the coefficients (so a
            # zero padding row gives 0): float64 keeps eps * |x|^2 / var small.
            prec = 1.0 / covars
            const = -0.5 * (d * _LOG_2PI + log_det + (means.square() * prec).sum(-1))
            const = const + torch.log(params["weights"]).reshape(-1)
            ones = Xc.new_ones(len(Xc), 1) if mask is None else mask.to(Xc.dtype)[:, None]
            features = torch.cat([Xc.square(), Xc, ones], 1)  # (n, 2d + 1)
            coefs = torch.cat([-0.5 * prec.T, (means * prec).T, const[None]])  # (2d + 1, K*M)
            return (features @ coefs).reshape(-1, K, M)
        maha = ((Xc[:, None, :] - means).square() / covars).sum(-1)
    else:
        chol = torch.linalg.cholesky(params["covars"].reshape(K * M, d, d))
        eye = torch.eye(d, dtype=chol.dtype, device=chol.device).expand_as(chol)
        inv_chol = torch.linalg.solve_triangular(chol, eye, upper=False)
        diff = Xc[:, None, :] - means  # (n, K*M, d)
        maha = torch.einsum("cij,ncj->nci", inv_chol, diff).square().sum(-1)
        log_det = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    log_gauss = -0.5 * (d * _LOG_2PI + log_det + maha) + torch.log(params["weights"]).reshape(-1)
    if mask is not None:
        log_gauss = torch.where(mask[:, None], log_gauss, 0.0)
    return log_gauss.reshape(-1, K, M)


def categorical_log_prob(symbols, params: dict, mask=None) -> torch.Tensor:
    """log emissionprob[k, x] for each symbol x (n,) and state k, (n, K); 0 where `mask` is
    False (padding)."""
    table = torch.log(params["emissionprob"]).T  # (S, K)
    if mask is not None:  # padding reads an appended row of zeros
        table = torch.cat([table, table.new_zeros(1, table.shape[1])])
        symbols = torch.where(mask, symbols, len(table) - 1)
    return table.index_select(0, symbols)


# --- forward-backward with shifted exponentials


def _on_numpy(tensor) -> bool:
    """Whether the recursions run on numpy views of `tensor`: on the CPU, where a numpy call
    on a small array costs a fraction of a torch call (they make several per step)."""
    return tensor.device.type == "cpu"


def _steps(tensor) -> list:
    """Views of each step of a time-major tensor, sharing its memory: numpy arrays or tensors."""
    return list(tensor.numpy()) if _on_numpy(tensor) else list(tensor.unbind(0))


def _array(tensor):
    """A contiguous tensor as `_steps` hands out its steps."""
    tensor = tensor.contiguous()
    return tensor.numpy() if _on_numpy(tensor) else tensor


def _namespace(tensor):
    return np if _on_numpy(tensor) else torch


def forward(log_b, log_start, transmat, padded):
    """Scaled forward pass: alpha' (T, B, K), scaled emissions e (T, B, K) and log p (B,).

    alpha'_t sums to one; e_t = b'_t / s_t with s_t the step's scale, zero on padding;
    log p = sum_t (log s_t + c_t) over each sequence's steps. log_b must be zero on padding,
    and `padded` is the (T, B) mask of padding, or None when there is none. Every step runs
    on the whole batch, without slicing: past its end a sequence takes neutral steps
    (b' = 1), whose values are masked out. For few long sequences on the CPU the steps run
    in chunks (`_forward_in_chunks`).
    """
    T, B, K = log_b.shape
    # (T, B, 1); bounded below so that a row of -inf (an impossible step) gives -inf, not NaN
    c = log_b.amax(-1, keepdim=True).clamp_min(torch.finfo(log_b.dtype).min)
    b = torch.exp(log_b - c)
    alpha, scale = torch.empty_like(b), torch.empty_like(c)
    first = torch.exp(log_start) * b[0]
    torch.sum(first, -1, keepdim=True, out=scale[0])
    torch.div(first, scale[0], out=alpha[0])
    L = _chunk_length_scaled(T, B, K) if _on_numpy(b) else None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # the fallback's job
        if L is None:
            _scaled_steps(_array(transmat), _steps(alpha), _steps(b), _steps(scale))
        else:
            _forward_in_chunks(b.numpy(), _array(transmat), alpha.numpy(), scale.numpy(), L)
    log_scale = torch.log(scale) + c
    inverse = scale.reciprocal()
    if padded is not None:
        log_scale.masked_fill_(padded[..., None], 0.0)
        inverse.masked_fill_(padded[..., None], 0.0)
    return alpha, b.mul_(inverse), log_scale.sum((0, 2))


def _scaled_steps(A, alphas: list, bs: list, scales: list) -> None:
    """alpha'_t = (alpha'_{t-1} @ A) * b'_t / s_t in place, for t >= 1 from alphas[0]: lists
    of per-step views (N, K), (N, K) and (N, 1), numpy arrays or tensors."""
    xp = np if isinstance(A, np.ndarray) else torch
    ones = xp.ones((A.shape[0], 1), dtype=A.dtype) if xp is np else A.new_ones(A.shape[0], 1)
    for t in range(1, len(alphas)):
        a, s = alphas[t], scales[t]
        xp.matmul(alphas[t - 1], A, out=a)
        xp.multiply(a, bs[t], out=a)
        xp.matmul(a, ones, out=s)  # row sums, at a fraction of the cost of a reduction
        xp.divide(a, s, out=a)


def _forward_in_chunks(b, A, alpha, scale, L: int) -> None:
    """Fill alpha (T, B, K) and scale (T, B, 1) from step 0, in chunks of L steps.

    A first pass finds each chunk's transfer matrix prod_t A diag(b'_t) (all chunks at once,
    rows normalised at every step with their log scales kept), a short loop carries alpha'
    across chunk boundaries, and a second pass runs the scaled steps of every chunk at once
    from its boundary, so alpha' and the scales are those of the step-by-step pass.
    """
    T, B, K = b.shape
    n = -(-(T - 1) // L)
    N = n * B
    steps = np.ones((n * L, B, K), b.dtype)  # the last chunk ends in neutral steps
    steps[: T - 1] = b[1:]
    steps = _chunked(steps, n)
    tiny = np.finfo(b.dtype).tiny  # a dead row stays zero, with exp(log_rows) * P unchanged
    P = A * steps[0][:, None, :]  # (N, from, to)
    rows = P.sum(-1, keepdims=True)
    np.maximum(rows, tiny, out=rows)
    log_rows = np.log(rows)
    P /= rows
    flat, ones = P.reshape(N * K, K), np.ones((K, 1), b.dtype)
    product = np.empty_like(flat)
    by_state = product.reshape(N, K, K)
    for j in range(1, L):
        np.matmul(flat, A, out=product)
        np.multiply(by_state, steps[j][:, None, :], out=by_state)
        np.matmul(product, ones, out=rows.reshape(N * K, 1))
        np.maximum(rows, tiny, out=rows)
        log_rows += np.log(rows)
        np.divide(product, rows.reshape(N * K, 1), out=flat)
    log_rows = log_rows.reshape(n, B, K, 1)
    P = P.reshape(n, B, K, K) * np.exp(log_rows - log_rows.max(2, keepdims=True))
    bound, total = np.empty((n, B, 1, K), b.dtype), np.empty((B, 1, 1), b.dtype)
    bound[0, :, 0] = alpha[0]
    for c in range(1, n):
        np.matmul(bound[c - 1], P[c - 1], out=bound[c])
        np.matmul(bound[c], ones, out=total)
        bound[c] /= total
    alphas, scales = np.empty((L + 1, N, K), b.dtype), np.empty((L + 1, N, 1), b.dtype)
    alphas[0] = bound.reshape(N, K)
    _scaled_steps(A, list(alphas), [None, *steps], list(scales))
    alpha[1:] = _unchunk(alphas[1:], n, B)[: T - 1]
    scale[1:] = _unchunk(scales[1:], n, B)[: T - 1]


def _chunked(steps, n: int):
    """Steps in time order (n * L, B, ...) as the steps of n chunks at once (L, n * B, ...)."""
    _, B, *rest = steps.shape
    return np.ascontiguousarray(steps.reshape(n, -1, B, *rest).swapaxes(0, 1)).reshape(
        -1, n * B, *rest
    )


def _unchunk(steps, n: int, B: int):
    """Steps of all chunks at once (L, n * B, ...) back in time order (n * L, B, ...)."""
    L, _, *rest = steps.shape
    return steps.reshape(L, n, B, *rest).swapaxes(0, 1).reshape(n * L, B, *rest)


def backward(emit, transmat, active: list[int]) -> torch.Tensor:
    """Scaled backward pass beta' (T, B, K), so that alpha' * beta' is the state posterior.

    beta'_t = (e_{t+1} * beta'_{t+1}) @ A^T; one at each sequence's last step, zero after it
    (e is zero on padding), so the whole batch runs every step. For few long sequences on
    the CPU the steps run in chunks (`_backward_in_chunks`).
    """
    T, B, K = emit.shape
    beta = torch.empty_like(emit)
    L = _chunk_length_scaled(T, B, K) if _on_numpy(emit) else None
    if L is not None:
        with np.errstate(over="ignore", invalid="ignore"):  # the fallback's job
            beta.numpy()[:] = _backward_in_chunks(emit.numpy(), _array(transmat.T), active, L)
        return beta
    beta[-1] = 0.0
    beta[-1, : active[-1]] = 1.0
    xp, transposed, w = _namespace(emit), _array(transmat.T), _array(torch.empty_like(emit[0]))
    betas, emits = _steps(beta), _steps(emit)
    for t in range(T - 2, -1, -1):
        xp.multiply(emits[t + 1], betas[t + 1], out=w)
        xp.matmul(w, transposed, out=betas[t])
        if active[t + 1] < active[t]:  # sequences (sorted by length) whose last step is t
            betas[t][active[t + 1] : active[t]] = 1.0
    return beta


def _backward_in_chunks(emit, AT, active: list[int], L: int) -> np.ndarray:
    """`backward` in chunks of L steps: beta'_t = (e_{t+1} * beta'_{t+1}) @ A^T + end_t, with
    end_t one at a sequence's last step, so a chunk maps the beta' after it affinely to the
    beta' at its start. A first pass finds each chunk's map (its matrix and offset, all
    chunks at once), a short loop carries beta' across chunk boundaries, and a second pass
    runs the steps of every chunk at once from its end.
    """
    T, B, K = emit.shape
    n = -(-T // L)
    N = n * B
    following = np.zeros((n * L, B, K), emit.dtype)  # e_{t+1}; zero from step T on
    following[: T - 1] = emit[1:]
    following = _chunked(following, n)
    ends = np.zeros((n * L, B, 1), emit.dtype)
    ends[_last_steps(active, B), np.arange(B)] = 1.0
    ends = _chunked(ends, n)
    ending = ends.any((1, 2))
    # map[c] (K + 1, K): beta'_{start} = beta'_{end} @ map[:K] + map[K] (the offset row)
    maps = np.zeros((N, K + 1, K), emit.dtype)
    maps[:, :K] = np.eye(K)
    flat, scaled = maps.reshape(N * (K + 1), K), np.empty_like(maps)
    for j in range(L - 1, -1, -1):
        np.multiply(maps, following[j][:, None, :], out=scaled)
        np.matmul(scaled.reshape(N * (K + 1), K), AT, out=flat)
        if ending[j]:
            maps[:, K] += ends[j]
    maps = maps.reshape(n, B, K + 1, K)
    bound = np.zeros((n + 1, B, 1, K), emit.dtype)  # beta' after each chunk; 0 after the end
    for c in range(n - 1, -1, -1):
        np.matmul(bound[c + 1], maps[c, :, :K], out=bound[c])
        bound[c] += maps[c, :, K:]
    betas, w = np.empty((L + 1, N, K), emit.dtype), np.empty((N, K), emit.dtype)
    betas[L] = bound[1:].reshape(N, K)
    for j in range(L - 1, -1, -1):
        np.multiply(following[j], betas[j + 1], out=w)
        np.matmul(w, AT, out=betas[j])
        if ending[j]:
            betas[j] += ends[j]
    return _unchunk(betas[:L], n, B)[:T]


def posteriors(alpha, beta, emit, transmat):
    """State marginals gamma (T, B, K), zero on padding, and summed transitions xi (K, K).

    sum_t xi_t(i, j) = A_ij sum_t alpha'_{t-1}(i) e_t(j) beta'_t(j): one matrix product over
    all steps and sequences (e and beta' are zero on padding).
    """
    K = emit.shape[-1]
    gamma = alpha * beta
    weights = emit[1:] * beta[1:]
    xi = transmat * (alpha[:-1].reshape(-1, K).T @ weights.reshape(-1, K))
    return gamma, xi


def forward_backward(log_b, log_start, transmat, active: list[int], padded):
    """State posteriors gamma (T, B, K), summed transitions xi (K, K) and log p (B,).

    Uses the scaled recursions, and the log-space ones for a batch where they underflow;
    log_b is zero on padding.
    """
    alpha, emit, log_lik = forward(log_b, log_start, transmat, padded)
    beta = backward(emit, transmat, active)
    gamma, xi = posteriors(alpha, beta, emit, transmat)
    if bool(torch.isfinite(log_lik.sum() + xi.sum())):
        return gamma, xi, log_lik
    if padded is not None:
        log_b = log_b.masked_fill(padded[..., None], -math.inf)
    log_alpha, log_lik = forward_log(log_b, log_start, transmat, active)
    log_beta = backward_log(log_b, transmat, active)
    gamma, xi = posteriors_log(log_alpha, log_beta, log_b, log_lik, transmat, padded)
    return gamma, xi, log_lik


# --- forward-backward by logsumexp over pairs of states (the fallback)


def forward_log(log_b, log_start, transmat, active: list[int]):
    """Log forward variables (T, B, K) and each sequence's log-likelihood (B,).

    log alpha_t(j) = log b_t(j) + logsumexp_i(log alpha_{t-1}(i) + log A_ij): exact whatever
    the spread of the values, at K times the cost of the scaled pass.
    """
    log_trans = torch.log(transmat)
    log_alpha = torch.empty_like(log_b)
    log_alpha[0] = log_start + log_b[0]
    for t in range(1, log_b.shape[0]):
        n = active[t]
        pairs = log_alpha[t - 1, :n, :, None] + log_trans  # (n, from, to)
        log_alpha[t, :n] = torch.logsumexp(pairs, 1) + log_b[t, :n]
        log_alpha[t, n:] = log_alpha[t - 1, n:]  # a finished sequence keeps its last value
    return log_alpha, torch.logsumexp(log_alpha[-1], 1)


def backward_log(log_b, transmat, active: list[int]) -> torch.Tensor:
    """Log backward variables (T, B, K); zero at each sequence's last step and on padding."""
    log_trans = torch.log(transmat)
    log_beta = torch.zeros_like(log_b)
    for t in range(log_b.shape[0] - 2, -1, -1):
        n = active[t + 1]
        following = log_b[t + 1, :n] + log_beta[t + 1, :n]
        log_beta[t, :n] = torch.logsumexp(log_trans + following[:, None, :], 2)
    return log_beta


def posteriors_log(log_alpha, log_beta, log_b, log_lik, transmat, padded):
    """`posteriors` from log forward and backward variables: every term is a probability."""
    log_gamma = log_alpha + log_beta - log_lik[:, None]
    if padded is not None:
        log_gamma = log_gamma.masked_fill(padded[..., None], -math.inf)
    log_trans = torch.log(transmat)
    following = log_b[1:] + log_beta[1:] - log_lik[:, None]  # -inf on padding
    xi = torch.zeros_like(transmat)
    for t in range(following.shape[0]):
        pairs = log_alpha[t, :, :, None] + log_trans + following[t, :, None, :]
        xi += torch.exp(pairs).sum(0)
    return torch.exp(log_gamma), xi


# --- decoding


def viterbi(log_b: np.ndarray, log_start: np.ndarray, log_trans: np.ndarray, active: list[int]):
    """Most probable state paths (T, B) and their joint log-probabilities (B,) (max-plus).

    On numpy arrays: the recursion is T steps of a few operations on (K, K, B) arrays, where
    numpy's fixed cost per call is a fraction of torch's, or, for few long sequences, about
    3 sqrt(T) steps on larger arrays (`_chunk_length`). Every step runs on the whole batch,
    without slicing: each sequence's score is read at its last step, and its path starts
    there. Ties go to the lowest state.
    """
    T, B, K = log_b.shape
    deltas = _max_product(log_b, log_start, log_trans)
    last = _last_steps(active, B)
    final = deltas[last, :, np.arange(B)]  # (B, K)
    by_steps = T * (_BACKTRACK_STEP_SECONDS + B * K * _GATHER_SECONDS)
    if by_steps > T * B * K * (K + math.log2(T)) * _GATHER_SECONDS:
        states = _backtrack_by_doubling(deltas, log_trans, last, final.argmax(1))
    else:
        states = _backtrack(deltas, log_trans, active, final.argmax(1))
    return final.max(1), states


# Cost model of the loops over time, from timings on a 2-core CPU: the fixed cost of a
# max-plus step and of a backtracking step (a few numpy calls each), and the cost of one
# element in a max-plus step and in an argmax or gather (about 6 ns in the doubling rounds).
_STEP_SECONDS = 2.8e-6
_BACKTRACK_STEP_SECONDS = 1.8e-6
_ELEMENT_SECONDS = 1e-9
_GATHER_SECONDS = 6e-9


# ... and of forward-backward (both scaled passes), fitted to timings of forward_backward:
# one step at a time, per step, per state and sequence in a step, and per multiply-add; in
# chunks, per step of a chunk (the three loops of both passes), per state, sequence and
# step (the reshuffling into chunks), and per multiply-add of the transfer products.
_SCALED_STEP_SECONDS = 5.6e-6
_SCALED_ELEMENT_SECONDS = 1.5e-8
_SCALED_PRODUCT_SECONDS = 1.5e-10
_CHUNK_STEP_SECONDS = 2.2e-5
_CHUNK_ELEMENT_SECONDS = 6.3e-8
_PRODUCT_SECONDS = 3.1e-10


def _last_steps(active: list[int], B: int) -> np.ndarray:
    """Each sequence's last step (B,), from active[t], the number longer than t (sorted by
    decreasing length, so -active increases and sequence b ends before it reaches -b)."""
    return np.searchsorted(-np.fromiter(active, np.int64, len(active)), -np.arange(B)) - 1


def _steps_per_chunk(T: int) -> int:
    """About sqrt(T): a pass in chunks runs about 3 sqrt(T) loop steps instead of T."""
    return math.isqrt(T - 1) + 1 if T > 1 else 1


def _chunk_length(T: int, B: int, K: int) -> int | None:
    """Steps per chunk for a max-plus pass in chunks, or None where one pass costs less.

    In chunks of L steps the loop runs 2 L + T / L steps instead of T, but the first pass
    carries a K x K matrix per chunk instead of a K-vector: K + 1 times the arithmetic.
    """
    L = _steps_per_chunk(T)
    plain = T * (_STEP_SECONDS + B * K * K * _ELEMENT_SECONDS)
    chunked = (2 * L + T / L) * _STEP_SECONDS + T * B * K * K * (K + 1) * _ELEMENT_SECONDS
    return L if chunked < 0.8 * plain else None


def _chunk_length_scaled(T: int, B: int, K: int) -> int | None:
    """Steps per chunk for the scaled forward and backward passes in chunks, or None where
    the step-by-step passes cost less (`_chunk_length` for the scaled passes)."""
    L = _steps_per_chunk(T)
    plain = T * (
        _SCALED_STEP_SECONDS + B * K * (_SCALED_ELEMENT_SECONDS + K * _SCALED_PRODUCT_SECONDS)
    )
    chunked = L * _CHUNK_STEP_SECONDS + T * B * K * _CHUNK_ELEMENT_SECONDS
    chunked += T * B * K * K * (K + 1) * _PRODUCT_SECONDS
    return L if T > 2 and chunked < 0.8 * plain else None


def _max_product(log_b, log_start, log_trans) -> np.ndarray:
    """Best log-probability of a path ending in each state at each step, (T, K, B).

    Batch-minor, so that the broadcast sum and the reduction over the previous state run over
    contiguous rows. Past its end a sequence's values are meaningless. For few long sequences
    the steps are cut into chunks: a first pass finds each chunk's max-plus transfer matrix
    (all chunks at once, one row per state the chunk starts from), a short loop carries the
    best scores across chunk boundaries, and a second pass fills every chunk from its
    boundary; the same sums in another order (equal to ~1e-13).
    """
    T, B, K = log_b.shape
    log_bT = np.ascontiguousarray(log_b.transpose(0, 2, 1))  # (T, K, B)
    first = log_start[:, None] + log_bT[0]
    L = _chunk_length(T, B, K)
    if L is None:
        return _max_steps(first, log_bT[1:], log_trans)
    n_chunks = -(-(T - 1) // L)
    steps = np.zeros((n_chunks * L, K, B))
    steps[: T - 1] = log_bT[1:]  # the last chunk ends in neutral steps
    steps = steps.reshape(n_chunks, L, K, B).transpose(1, 2, 0, 3)  # (L, K, chunks, B)
    steps = np.ascontiguousarray(steps).reshape(L, K, n_chunks * B)
    # first pass: from each state i (0 at i, -inf elsewhere) through each chunk at once
    start = np.where(np.eye(K, dtype=bool), 0.0, -np.inf)[:, :, None]  # (to, from i, 1)
    start = np.broadcast_to(start, (K, K, n_chunks * B)).reshape(K, -1)
    wide = np.broadcast_to(steps[:, :, None], (L, K, K, n_chunks * B)).reshape(L, K, -1)
    transfer = _max_steps(start, wide, log_trans, last_only=True)
    transfer = transfer.reshape(K, K, n_chunks, B)  # [j, i, c, b]: from i to j across c
    boundary = np.empty((n_chunks, K, B))
    boundary[0] = first
    for c in range(1, n_chunks):
        boundary[c] = (boundary[c - 1][None] + transfer[:, :, c - 1]).max(1)
    boundary = np.ascontiguousarray(boundary.transpose(1, 0, 2)).reshape(K, -1)
    deltas = np.empty((T, K, B))
    deltas[0] = first
    inner = _max_steps(boundary, steps, log_trans)[1:].reshape(L, K, n_chunks, B)
    deltas[1:] = inner.transpose(2, 0, 1, 3).reshape(n_chunks * L, K, B)[: T - 1]
    return deltas


def _max_steps(first, log_bT, log_trans, last_only: bool = False) -> np.ndarray:
    """Max-plus steps from scores `first` (K, N) through emissions log_bT (L, K, N): the
    scores before and after each step (L + 1, K, N), or after the last one (K, N)."""
    L, K, N = log_bT.shape
    deltas = np.empty((2 if last_only else L + 1, K, N))
    deltas[0] = first
    # (from, to, N): adding a full array costs less than broadcasting over N at every step
    trans = np.ascontiguousarray(np.broadcast_to(log_trans[:, :, None], (K, K, N)))
    scores = np.empty_like(trans)
    D, P, LB = list(deltas), list(deltas[:, :, None, :]), list(log_bT)  # views, made once
    for t in range(1, L + 1):
        now, before = (t % 2, 1 - t % 2) if last_only else (t, t - 1)
        np.add(P[before], trans, out=scores)
        np.maximum.reduce(scores, 0, out=D[now])
        D[now] += LB[t - 1]
    return D[L % 2] if last_only else deltas


def _backtrack_by_doubling(deltas, log_trans, last: np.ndarray, final) -> np.ndarray:
    """`_backtrack` in log2(T) vectorised rounds instead of T steps, for few sequences.

    Each step's best predecessor of every state is one argmax over the whole array (the
    first maximum wins, as in `_backtrack`); past a sequence's last step the map is the
    identity. Doubling composes the maps: after the round with stride d, maps[t] sends the
    state at step min(t + 2d, T - 1) to the state at step t.
    """
    T, K, B = deltas.shape
    maps = np.empty((T, K, B), dtype=np.int64)
    identity = np.arange(K)[:, None]
    sums = deltas[:-1, :, None, :] + log_trans[:, :, None]  # (T - 1, from, to, B)
    ended = np.arange(1, T)[:, None] > last  # (T - 1, B)
    maps[:-1] = np.where(ended[:, None, :], identity, sums.argmax(1))
    maps[-1] = identity
    d = 1
    while d < T:
        maps[:-d] = np.take_along_axis(maps[:-d], maps[d:], 1)
        d *= 2
    ends = np.broadcast_to(final[None, None, :], (T, 1, B))
    return np.take_along_axis(maps, ends, 1)[:, 0]


def _backtrack(deltas, log_trans, active: list[int], final) -> np.ndarray:
    """States (T, B) of the best paths, from each sequence's last step (state `final`) back.

    Recomputes the one argmax each sequence needs per step from the sums the forward pass
    maximised (storing all K argmaxes per step costs more), so the first maximum wins. A
    sequence enters at its last step; its states past the end are meaningless.
    """
    T, K, B = deltas.shape
    states = np.empty((T, B), dtype=np.int64)
    states[T - 1] = final
    to_from = np.ascontiguousarray(log_trans.T)  # [j, i]
    D, S = list(np.ascontiguousarray(deltas.transpose(0, 2, 1))), list(states)  # (B, K) each
    ending = active[1:] + [0]  # rows [ending[t], active[t]) end at step t (sorted by length)
    for t in range(T - 1, 0, -1):
        if ending[t] < active[t]:
            S[t][ending[t] : active[t]] = final[ending[t] : active[t]]
        sums = to_from[S[t]]
        sums += D[t - 1]
        sums.argmax(1, out=S[t - 1])
    S[0][ending[0] : active[0]] = final[ending[0] : active[0]]
    return states


# --- sufficient statistics and M-step


def transition_sums(gamma, xi_sum) -> dict:
    """Expected start counts (K,) and transition counts (K, K); gamma is (T, B, K)."""
    return {"start": gamma[0].sum(0), "trans": xi_sum}


def gaussian_sums(Xc, weights, covariance_type: str) -> dict:
    """Posterior-weighted counts, sums and squares of the rows Xc (n, d); weights (n, K, M)."""
    n, K, M = weights.shape
    W = weights.reshape(n, K * M)
    d = Xc.shape[1]
    stats = {"nk": W.sum(0).reshape(K, M), "sx": (W.T @ Xc).reshape(K, M, d)}
    if covariance_type == "diag":
        stats["sxx"] = (W.T @ Xc.square()).reshape(K, M, d)
    else:
        weighted = W.T[:, :, None] * Xc  # (K*M, n, d)
        stats["sxx"] = (weighted.transpose(1, 2) @ Xc).reshape(K, M, d, d)
    return stats


def categorical_sums(symbols, gamma, n_symbols: int) -> dict:
    """Posterior-weighted symbol counts (K, S); symbols (n,), gamma (n, K)."""
    counts = gamma.new_zeros(n_symbols, gamma.shape[1]).index_add_(0, symbols, gamma)
    return {"counts": counts.T}


def _normalise(counts, old):
    """Rows of counts scaled to sum to one; a row with no counts keeps its old value."""
    total = counts.sum(-1, keepdim=True)
    return torch.where(total > 0, counts / total.clamp_min(torch.finfo(counts.dtype).tiny), old)


def transition_m_step(stats: dict, params: dict, startprob_prior, transmat_prior) -> dict:
    """Start and transition probabilities from their expected counts and Dirichlet priors.

    As hmmlearn: p = max(prior - 1 + counts, 0), normalised; a zero stays zero (a forbidden
    start or transition remains forbidden).
    """
    start = (startprob_prior - 1 + stats["start"]).clamp_min(0)
    trans = (transmat_prior - 1 + stats["trans"]).clamp_min(0)
    start = torch.where(params["startprob"] == 0, 0.0, start)
    trans = torch.where(params["transmat"] == 0, 0.0, trans)
    return {
        "startprob": _normalise(start, params["startprob"]),
        "transmat": _normalise(trans, params["transmat"]),
    }


def gaussian_m_step(stats: dict, params: dict, min_covar: float, covariance_type: str) -> dict:
    """Mixture weights, means and covariances from sums about params["shift"].

    min_covar is added to each variance; a part with no weight keeps its old values.
    """
    nk = stats["nk"]
    safe = nk.clamp_min(torch.finfo(nk.dtype).tiny)
    used = nk > 10 * torch.finfo(nk.dtype).eps
    means_c = stats["sx"] / safe[..., None]
    if covariance_type == "diag":
        covars = stats["sxx"] / safe[..., None] - means_c.square() + min_covar
        keep = used[..., None]
    else:
        d = means_c.shape[-1]
        eye = torch.eye(d, dtype=nk.dtype, device=nk.device)
        outer = means_c[..., :, None] * means_c[..., None, :]
        covars = stats["sxx"] / safe[..., None, None] - outer + min_covar * eye
        covars = 0.5 * (covars + covars.transpose(-1, -2))
        keep = used[..., None, None]
    return {
        "weights": _normalise(nk, params["weights"]),
        "means": torch.where(used[..., None], means_c + params["shift"], params["means"]),
        "covars": torch.where(keep, covars, params["covars"]),
        "shift": params["shift"],
    }


def categorical_m_step(stats: dict, params: dict) -> dict:
    return {"emissionprob": _normalise(stats["counts"], params["emissionprob"])}


# --- sampling


def _draw(cdf, u) -> torch.Tensor:
    """Index drawn by inverse CDF: cdf (..., K) cumulative rows, u (...,) uniforms."""
    index = torch.searchsorted(cdf, u[..., None].contiguous(), right=True).squeeze(-1)
    return index.clamp_max(cdf.shape[-1] - 1)


@torch.no_grad()
def sample_states(startprob, transmat, n_sequences: int, length: int, *, gen) -> torch.Tensor:
    """Forward-sample state paths (n_sequences, length) of a Markov chain (Rabiner 1989)."""
    u = torch.rand(n_sequences, length, generator=gen, dtype=startprob.dtype,
                   device=startprob.device)  # fmt: skip
    cdf_trans = torch.cumsum(transmat, 1)
    states = torch.empty(n_sequences, length, dtype=torch.long, device=startprob.device)
    states[:, 0] = _draw(torch.cumsum(startprob, 0).expand(n_sequences, -1).contiguous(), u[:, 0])
    for t in range(1, length):
        states[:, t] = _draw(cdf_trans[states[:, t - 1]], u[:, t])
    return states


@torch.no_grad()
def sample_gaussian(states, params: dict, covariance_type: str, *, gen) -> torch.Tensor:
    """Draw one row per state in `states` (n,) from its Gaussian mixture, (n, d)."""
    means, covars = params["means"], params["covars"]
    n, d = states.shape[0], means.shape[-1]
    u = torch.rand(n, generator=gen, dtype=means.dtype, device=means.device)
    part = _draw(torch.cumsum(params["weights"], 1)[states], u)
    z = torch.randn(n, d, generator=gen, dtype=means.dtype, device=means.device)
    if covariance_type == "diag":
        noise = z * torch.sqrt(covars[states, part])
    else:
        noise = torch.einsum("nij,nj->ni", torch.linalg.cholesky(covars)[states, part], z)
    return means[states, part] + noise


@torch.no_grad()
def sample_categorical(states, params: dict, *, gen) -> torch.Tensor:
    """Draw one symbol per state in `states` (n,), (n,) int64."""
    probs = params["emissionprob"]
    u = torch.rand(states.shape[0], generator=gen, dtype=probs.dtype, device=probs.device)
    return _draw(torch.cumsum(probs, 1)[states], u)
