"""The variational E-step of latent Dirichlet allocation: each document's gamma by its fixed
point, the evidence lower bound and the expected topic-word counts, chunk by chunk.

Notation as in `_lda_math`. A chunk's documents are padded to one length L. The fixed point
runs on blocks of documents of similar lengths, small enough to stay in a CPU core's L2 cache
over all iterations: their topics are gathered once into `beta_d` (n, L, K), and each iteration
is two batched row-times-matrix products over it (baddbmm, bmm) plus a dozen small operations
on (n, K), whose fixed cost is why a block drops its converged documents only in groups and
hands the last few back to be regrouped with other blocks' rather than iterating alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from genzoo.mixture._lda_math import Documents, Padded, dirichlet_expectation
from genzoo.training.em import all_reduce_sum

# Elements (topics x documents x padded length) the fixed point works on at once, per device:
# on a CPU a block that stays in a core's L2 cache (1 MiB of float64; 2**16 to 2**20 measured,
# 2**17 fastest), on a GPU as much as fits.
BLOCK_ELEMENTS = {"cpu": 2**17, "cuda": 2**24}
# A block drops its converged documents once this share of them (1 / _COMPACT_SHARE) is done:
# a copy of the rest costs less than an iteration, but each drop has a fixed cost too.
_COMPACT_SHARE = 4
# Fixed-point iterations between two reads of which documents converged, on a GPU.
_GPU_CHECK_EVERY = 4
# A block whose documents still going fill less than 1 / _REGROUP_SHARE of it hands them back,
# to be regrouped with those of other blocks: a loop over a few documents is mostly overhead.
_REGROUP_SHARE = 4


@dataclass(frozen=True, eq=False)
class Topics:
    """The topics as the E-step reads them, from lambda (K, V).

    `beta` (V + 1, K) is exp(E[log beta]) word by word, scaled so each word's largest topic is
    1, with a zero row for padding; `log_scale` (V + 1,) the log of each word's scale (0 for
    padding). The scale cancels in the fixed point and is added back to log phinorm, so rare
    words whose exp(E[log beta]) would underflow keep an exact bound.
    """

    beta: Tensor
    log_scale: Tensor

    @classmethod
    def from_lambda(cls, lambda_: Tensor) -> Topics:
        elog_beta = dirichlet_expectation(lambda_).T  # (V, K)
        log_scale = elog_beta.max(1).values
        beta = torch.exp(elog_beta - log_scale[:, None])
        pad = beta.new_zeros(1, beta.shape[1])
        return cls(torch.cat([beta, pad]), torch.cat([log_scale, log_scale.new_zeros(1)]))

    def of(self, word: Tensor) -> Tensor:
        """The scaled topics of padded words (n, L), (n, L, K)."""
        return self.beta.index_select(0, word.reshape(-1)).view(*word.shape, -1)


def _iterate(count: Tensor, beta_d: Tensor, alpha: Tensor, gamma: Tensor, left: Tensor, *,
             tol: float, floor: int) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """Fixed-point iterations of a block of documents in length order, from `gamma` (n, K).

    `count` (n, L), `beta_d` (n, L, K), `left` (n,) the iterations each row may still run. A
    row stops when the mean absolute change of its gamma falls below `tol` (keeping that
    gamma) or no iteration is left. Converged rows are dropped from the block as they pile up;
    it returns once every row stopped or those going fill fewer than `floor` elements of
    beta_d: the new gamma, the iterations left, and the rows (of the block) still going.
    """
    eps = gamma.new_tensor(torch.finfo(gamma.dtype).eps)
    out, out_left = gamma.clone(), left.clone()
    rows = torch.arange(len(gamma), device=gamma.device)  # the block's rows in beta_d
    done = left <= 0
    check_every = 1 if gamma.device.type == "cpu" else _GPU_CHECK_EVERY
    step, expiry = 0, int(left.min())  # no row runs out of iterations before `expiry` steps
    n, topics_t, ratio_of = len(rows), beta_d.mT, count[:, None, :]  # (n, K, L), (n, 1, L)
    tol_sum = tol * gamma.shape[1]  # on the sum of changes: cheaper than their mean
    while True:
        # digamma(sum gamma) scales a row of exp(E[log theta]) and cancels in the update
        exp_theta = torch.exp(torch.special.digamma(gamma))
        # both products as a (1, K) or (1, L) row times a matrix: BLAS's fastest form here
        phinorm = torch.baddbmm(eps, exp_theta.unsqueeze(1), topics_t)  # (n, 1, L)
        ratio = torch.div(ratio_of, phinorm, out=phinorm)
        new = torch.addcmul(alpha, torch.bmm(ratio, beta_d).squeeze(1), exp_theta)
        change = torch.sub(new, gamma).abs_().sum(1)
        gamma = torch.where(done.unsqueeze(1), gamma, new)
        done.logical_or_(change < tol_sum)
        step += 1
        if step >= expiry:
            done.logical_or_(left <= step)
        if step % check_every:
            continue
        n_done = int(torch.count_nonzero(done))
        if n_done * _COMPACT_SHARE < n and n_done < n:
            continue
        # rows stopped by `tol` before others ran out spent fewer iterations; their count only
        # matters while they go on, so each keeps `left - step`
        out[rows], out_left[rows] = gamma, left - step
        keep = (~done).nonzero().squeeze(1)
        n = len(keep)
        if n * beta_d.shape[1] * beta_d.shape[2] < max(floor, 1):
            return out, out_left, rows[keep]
        rows, gamma, left, done = rows[keep], gamma[keep], left[keep], done[keep]
        # in length order, the last row sets the padding the rest need
        L = max(int((ratio_of[keep[-1], 0] > 0).sum()), 1)
        beta_d = beta_d[:, :L].index_select(0, keep)
        topics_t, ratio_of = beta_d.mT, ratio_of[:, :, :L].index_select(0, keep)


def _blocks(active: Tensor, sizes: Tensor, n_topics: int, limit: int) -> list[Tensor]:
    """`active` rows, in length order, cut into consecutive blocks of about `limit` elements."""
    widths = (sizes[active].clamp(min=1) * n_topics).tolist()  # ascending
    blocks, start = [], 0
    while start < len(active):
        # rows are padded to the block's longest, its last: guess from the first, then shrink
        guess = min(start + max(limit // widths[start], 1), len(active))
        stop = min(start + max(limit // widths[guess - 1], 1), len(active))
        blocks.append(active[start:stop])
        start = stop
    return blocks


def fit_doc_topics(
    chunk: Padded,
    topics: Topics,
    alpha: Tensor,
    gamma: Tensor,
    *,
    max_iter: int,
    tol: float,
) -> Tensor:
    """Iterate the variational Dirichlet `gamma` (n, K) of each document of `chunk` to its
    fixed point.

    gamma_d <- alpha + exp(E[log theta_d]) * sum_w n_dw beta_w / phinorm_dw (Blei et al.
    2003, eqs. 6-7, with phi summed out), from the given start, until the mean absolute change
    of a document's gamma is below `tol` (it then stays put) or `max_iter` iterations, as
    scikit-learn's E-step. Documents run in blocks of similar lengths that fit in cache, each
    dropping its converged documents as it goes; the few left in emptied blocks are regrouped
    into full ones, so the cost follows each document's own iterations.
    """
    limit = BLOCK_ELEMENTS.get(gamma.device.type, BLOCK_ELEMENTS["cuda"])
    sizes = (chunk.count > 0).sum(1)  # counts are positive: zeros are padding
    pending = torch.argsort(sizes, stable=True)
    out = gamma.clone()
    left = torch.full((len(gamma),), max_iter, device=gamma.device)
    while len(pending):
        blocks = _blocks(pending, sizes, gamma.shape[1], limit)
        floor = limit // _REGROUP_SHARE if len(blocks) > 1 else 0
        going = []
        for rows in blocks:
            L = max(int(sizes[rows[-1]]), 1)
            word, count = chunk.word[rows, :L], chunk.count[rows, :L]
            new, new_left, live = _iterate(
                count, topics.of(word), alpha, out[rows], left[rows], tol=tol, floor=floor
            )
            out[rows], left[rows] = new, new_left
            going.append(rows[live])
        pending = torch.cat(going)
    return out


def doc_log_likelihood(
    chunk: Padded, topics: Topics, gamma: Tensor, alpha: Tensor
) -> tuple[Tensor, Tensor]:
    """Each document's evidence lower bound given q(beta), (n,), and n_dw / phinorm_dw (n, L).

    ELBO_d = sum_w n_dw log sum_k exp(E[log theta_dk] + E[log beta_kw])
             + E[log p(theta_d | alpha)] - E[log q(theta_d | gamma_d)],
    the per-document part of scikit-learn's `_approx_bound` (phi at its optimum).
    """
    eps = torch.finfo(gamma.dtype).eps
    elog_theta = dirichlet_expectation(gamma)
    exp_theta = torch.exp(elog_theta)
    limit = BLOCK_ELEMENTS.get(gamma.device.type, BLOCK_ELEMENTS["cuda"])
    step = max(limit // (chunk.word.shape[1] * len(alpha)), 1)  # rows per block
    phinorm = chunk.count.new_empty(chunk.count.shape)  # (n, L)
    for i in range(0, len(chunk), step):
        beta_d = topics.of(chunk.word[i : i + step])  # (rows, L, K)
        phinorm[i : i + step] = torch.bmm(exp_theta[i : i + step, None, :], beta_d.mT).squeeze(1)
    phinorm += eps
    words = (chunk.count * (torch.log(phinorm) + topics.log_scale[chunk.word])).sum(1)
    theta_kl = (
        ((alpha - gamma) * elog_theta).sum(1)
        + (torch.lgamma(gamma) - torch.lgamma(alpha)).sum(1)
        + torch.lgamma(alpha.sum())
        - torch.lgamma(gamma.sum(1))
    )
    return words + theta_kl, chunk.count / phinorm


def e_step(
    chunk: Padded,
    topics: Topics,
    alpha: Tensor,
    previous: Tensor | None,
    *,
    max_iter: int,
    tol: float,
) -> tuple[dict[str, Tensor], Tensor]:
    """Sufficient statistics of one chunk of documents, and its fitted gamma (n, K).

    Each document's gamma starts from 1, as in scikit-learn. Given `previous` (the last
    pass's gamma), a document whose previous gamma bounds it better than that fresh result
    iterates from its previous gamma instead: batch variational Bayes is then a coordinate
    ascent whose bound never decreases, while the fresh start lets the other documents leave
    the basin of an early, poor assignment to topics (always continuing from the last gamma
    gets stuck there on sparse documents).

    The statistics are sums over documents: "topic_word" (K, V) the expected topic-word counts
    sum_d n_dw phi_dwk, "log_theta" (K,) sum_d E[log theta_d], "bound" the summed ELBO_d,
    "n_docs" and "n_tokens".
    """
    gamma = chunk.count.new_ones(len(chunk), len(alpha))
    gamma = fit_doc_topics(chunk, topics, alpha, gamma, max_iter=max_iter, tol=tol)
    bound, ratio = doc_log_likelihood(chunk, topics, gamma, alpha)
    if previous is not None:
        warm = doc_log_likelihood(chunk, topics, previous, alpha)[0] > bound  # (n,)
        if bool(warm.any()):
            gamma = gamma.clone()
            gamma[warm] = fit_doc_topics(
                chunk.subset(warm), topics, alpha, previous[warm], max_iter=max_iter, tol=tol
            )
            bound, ratio = doc_log_likelihood(chunk, topics, gamma, alpha)
    elog_theta = dirichlet_expectation(gamma)
    # n_dw phi_dwk = n_dw exp(E log theta_dk) beta_kw / phinorm_dw; the word's scale cancels
    topic_word = chunk.word_topic_sums(ratio, torch.exp(elog_theta)).T * topics.beta[:-1].T
    stats = {
        "topic_word": topic_word,  # (K, V)
        "log_theta": elog_theta.sum(0),
        "bound": bound.sum(),
        "n_docs": gamma.new_tensor(float(len(chunk))),
        "n_tokens": chunk.count.sum(),
    }
    return stats, gamma


def fit_documents(
    docs: Documents, lambda_: Tensor, alpha: Tensor, *, max_iter: int, tol: float
) -> tuple[Tensor, Tensor]:
    """Each document's gamma (n, K), from 1 as scikit-learn's transform, and its ELBO without
    the multinomial coefficient (n,), in the order of the rows."""
    topics = Topics.from_lambda(lambda_)
    gamma = lambda_.new_ones(len(docs), lambda_.shape[0])
    bound = lambda_.new_zeros(len(docs))
    for chunk in docs.chunks(lambda_.shape[0]):
        fitted = fit_doc_topics(chunk, topics, alpha, gamma[chunk.rows], max_iter=max_iter, tol=tol)
        gamma[chunk.rows] = fitted
        bound[chunk.rows] = doc_log_likelihood(chunk, topics, fitted, alpha)[0]
    return gamma, bound


def sum_chunks(
    chunks: list[Padded],
    lambda_: Tensor,
    alpha: Tensor,
    gammas: list[Tensor | None],
    *,
    max_iter: int,
    tol: float,
) -> tuple[dict[str, Tensor], list[Tensor]]:
    """E-step statistics summed over chunks and processes, and each chunk's new gamma.

    `gammas` holds each chunk's previous gamma, or None (see `e_step`).
    """
    topics = Topics.from_lambda(lambda_)
    totals, new_gammas = None, []
    for chunk, gamma in zip(chunks, gammas, strict=True):
        stats, gamma = e_step(chunk, topics, alpha, gamma, max_iter=max_iter, tol=tol)
        totals = stats if totals is None else {k: totals[k] + stats[k] for k in totals}
        new_gammas.append(gamma)
    if totals is None:  # a process whose shard holds no document still joins the all-reduce
        K, V = lambda_.shape
        zero = lambda_.new_zeros(())
        totals = {"topic_word": lambda_.new_zeros(K, V), "log_theta": lambda_.new_zeros(K),
                  "bound": zero, "n_docs": zero, "n_tokens": zero}  # fmt: skip
    return all_reduce_sum(totals), new_gammas
