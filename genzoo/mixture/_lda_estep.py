"""The variational E-step of latent Dirichlet allocation: each document's gamma by its fixed
point, the evidence lower bound and the expected topic-word counts, chunk by chunk.

Notation as in `_lda_math`. A chunk's documents are padded to one length L and sorted by
length; their topics are gathered once per E-step into `beta_d` (K, n, L), the layout in which
both products of the fixed point reduce over a non-innermost or a long axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from genzoo.mixture._lda_math import Documents, Padded, dirichlet_expectation
from genzoo.training.em import all_reduce_sum

# Elements (topics x documents x padded length) the fixed point works on at once, per device:
# on a CPU a block that stays in cache, on a GPU as much as fits.
BLOCK_ELEMENTS = {"cpu": 2**20, "cuda": 2**24}
# Iterations a block runs before the documents still unconverged are regrouped into new
# blocks: fewer means less work on converged documents, more means fewer gathers.
ROUND_ITERATIONS = 16
# Fixed-point iterations between two reads of which documents converged, on a GPU.
_GPU_CHECK_EVERY = 4


@dataclass(frozen=True, eq=False)
class Topics:
    """The topics as the E-step reads them, from lambda (K, V).

    `beta` (K, V + 1) is exp(E[log beta]) scaled per word so its largest topic is 1, with a
    zero column for padding; `log_scale` (V + 1,) the log of each word's scale (0 for padding).
    The scale cancels in the fixed point and is added back to log phinorm, so rare words whose
    exp(E[log beta]) would underflow keep an exact bound.
    """

    beta: Tensor
    log_scale: Tensor

    @classmethod
    def from_lambda(cls, lambda_: Tensor) -> Topics:
        elog_beta = dirichlet_expectation(lambda_)  # (K, V)
        log_scale = elog_beta.max(0).values
        beta = torch.exp(elog_beta - log_scale)
        pad = beta.new_zeros(beta.shape[0], 1)
        return cls(torch.cat([beta, pad], 1), torch.cat([log_scale, log_scale.new_zeros(1)]))

    def of(self, word: Tensor) -> Tensor:
        """The scaled topics of padded words (n, L), (n, K, L)."""
        n, (K, V1) = len(word), self.beta.shape
        # a gather into a new small tensor: one of the whole chunk would mostly fault in pages
        return torch.gather(self.beta.expand(n, K, V1), 2, word[:, None, :].expand(n, K, -1))


def _iterate(count: Tensor, beta_d: Tensor, alpha: Tensor, gamma: Tensor, steps: int, tol: float):
    """At most `steps` fixed-point iterations of a block; its gamma and which rows go on.

    `count` (n, L), `beta_d` (n, K, L), `gamma` (n, K). A row whose mean absolute change falls
    below `tol` keeps that iteration's gamma.
    """
    eps = torch.finfo(gamma.dtype).eps
    work = torch.empty_like(beta_d)  # reused by both products
    done = torch.zeros(len(gamma), dtype=torch.bool, device=gamma.device)
    exp_theta = torch.exp(dirichlet_expectation(gamma))
    # Rows that are done keep their gamma, so reading `done` less often changes nothing but
    # the wasted iterations; on a GPU each read stalls the queue of kernels.
    check_every = 1 if gamma.device.type == "cpu" else _GPU_CHECK_EVERY
    for step in range(steps):
        phinorm = torch.mul(beta_d, exp_theta[:, :, None], out=work).sum(1).add_(eps)  # (n, L)
        ratio = torch.div(count, phinorm, out=phinorm)
        sums = torch.mul(beta_d, ratio[:, None, :], out=work).sum(2)  # (n, K)
        new = torch.addcmul(alpha, sums, exp_theta)
        change = (new - gamma).abs_().mean(1)
        gamma = torch.where(done[:, None], gamma, new)
        done |= change < tol
        if (step + 1) % check_every == 0 and bool(done.all()):
            break
        exp_theta = torch.exp(dirichlet_expectation(gamma))
    return gamma, ~done


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
    scikit-learn's E-step. Blocks of documents of similar lengths that fit in cache run
    `ROUND_ITERATIONS` iterations; then the unconverged documents of all blocks are regrouped,
    so the cost follows each document's own iterations.
    """
    device = gamma.device
    limit = BLOCK_ELEMENTS.get(device.type, BLOCK_ELEMENTS["cuda"])
    sizes = (chunk.count > 0).sum(1)  # counts are positive: zeros are padding
    order = torch.argsort(sizes, stable=True)
    out = gamma.clone()
    active, n_iter = order, 0
    while len(active) and n_iter < max_iter:
        steps = min(ROUND_ITERATIONS, max_iter - n_iter)
        going = []
        for rows in _blocks(active, sizes, gamma.shape[1], limit):
            L = max(int(sizes[rows[-1]]), 1)
            word, count = chunk.word[rows, :L], chunk.count[rows, :L]
            new, live = _iterate(count, topics.of(word), alpha, out[rows], steps, tol)
            out[rows] = new
            going.append(rows[live])
        active = torch.cat(going)
        n_iter += steps
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
        beta_d = topics.of(chunk.word[i : i + step])  # (rows, K, L)
        phinorm[i : i + step] = (beta_d * exp_theta[i : i + step, :, None]).sum(1)
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
    topic_word = chunk.word_topic_sums(ratio, torch.exp(elog_theta)).T * topics.beta[:, :-1]
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
