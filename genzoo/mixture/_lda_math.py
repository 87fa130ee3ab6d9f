"""The arithmetic of latent Dirichlet allocation: documents as CSR tensors, the variational
E-step, the evidence lower bound, Dirichlet prior updates, collapsed Gibbs sweeps and sampling.

Notation follows Blei, Ng and Jordan (2003) and Hoffman, Blei and Bach (2010): `alpha` the
document-topic prior (K,), `eta` the topic-word prior (a float), `lambda_` the variational
Dirichlet parameters of the topics (K, V), `gamma` those of each document's topic
proportions (n, K), and `E[log theta]`, `E[log beta]` their Dirichlet expectations.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse
import torch
from scipy.special import digamma, polygamma
from torch import Tensor

from genzoo.training.em import all_reduce_sum

# Elements (documents x padded length x topics) of one E-step chunk, whose topics the E-step
# gathers at once; the fixed point then works on blocks of it that fit in cache.
CHUNK_ELEMENTS = {"cpu": 2**23, "cuda": 2**24}


# --- documents


@dataclass(frozen=True, eq=False)
class Documents:
    """Word counts of documents in compressed sparse rows, on one device.

    `len(docs)` is the number of documents; `indptr` (n + 1,) delimits each one's nonzero
    counts `count` (nnz,) of words `word` (nnz,) in a vocabulary of `n_words`.
    """

    indptr: Tensor
    word: Tensor
    count: Tensor
    n_words: int

    @classmethod
    def from_csr(cls, X: scipy.sparse.csr_matrix, device, dtype) -> Documents:
        def as_tensor(a, kind):
            return torch.as_tensor(np.asarray(a), dtype=kind, device=device)

        return cls(
            as_tensor(X.indptr, torch.int64),
            as_tensor(X.indices, torch.int64),
            as_tensor(X.data, dtype),
            X.shape[1],
        )

    def __len__(self) -> int:
        return self.indptr.numel() - 1

    @cached_property
    def sizes(self) -> Tensor:
        """Nonzero counts per document, (n,)."""
        return self.indptr[1:] - self.indptr[:-1]

    @cached_property
    def doc(self) -> Tensor:
        """The document of each nonzero count, (nnz,)."""
        return torch.repeat_interleave(torch.arange(len(self), device=self.word.device), self.sizes)

    @cached_property
    def lengths(self) -> Tensor:
        """Words per document, (n,)."""
        return self.doc_sum(self.count)

    def doc_sum(self, values: Tensor) -> Tensor:
        """Sum of per-nonzero `values` (nnz,) within each document, (n,)."""
        return values.new_zeros(len(self)).index_add_(0, self.doc, values)

    def rows(self, start: int, stop: int) -> Documents:
        lo, hi = int(self.indptr[start]), int(self.indptr[stop])
        return Documents(
            self.indptr[start : stop + 1] - lo, self.word[lo:hi], self.count[lo:hi], self.n_words
        )

    def chunks(self, n_topics: int) -> list[Padded]:
        """The documents in padded chunks of about `CHUNK_ELEMENTS` elements each.

        Documents are grouped by their number of distinct words, so that little is padding.
        """
        limit = CHUNK_ELEMENTS.get(self.word.device.type, CHUNK_ELEMENTS["cuda"])
        sizes = self.sizes.cpu().numpy()
        order = np.argsort(sizes, kind="stable")
        width = np.maximum(sizes[order], 1) * max(n_topics, 1)  # elements per row, ascending
        chunks, start = [], 0
        while start < len(order):
            # rows [start, stop) fit when (stop - start) * width[stop - 1] <= limit
            lo, hi = start + 1, len(order)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if (mid - start) * width[mid - 1] <= limit else (lo, mid - 1)
            rows = torch.as_tensor(order[start:lo], device=self.word.device)
            chunks.append(Padded.from_rows(self, rows))
            start = lo
        return chunks


@dataclass(frozen=True, eq=False)
class Padded:
    """Some documents with their nonzero counts padded to one length L.

    `rows` (n,) are the documents' rows in the `Documents` they came from; `word` (n, L) holds
    word indices, `n_words` in padding (a zero row of the topics); `count` (n, L) the counts,
    0 in padding.
    """

    rows: Tensor
    word: Tensor
    count: Tensor
    n_words: int

    @classmethod
    def from_rows(cls, docs: Documents, rows: Tensor) -> Padded:
        sizes = docs.sizes[rows]
        L = max(int(sizes.max()) if len(rows) else 0, 1)
        position = torch.arange(L, device=rows.device)
        inside = position < sizes[:, None]  # (n, L)
        index = (docs.indptr[rows][:, None] + position).clamp(max=max(docs.word.numel() - 1, 0))
        if docs.word.numel() == 0:  # every document empty: all padding
            word = torch.full(inside.shape, docs.n_words, device=rows.device)
            return cls(rows, word, torch.zeros(inside.shape, dtype=docs.count.dtype), docs.n_words)
        word = torch.where(inside, docs.word[index], docs.n_words)
        count = torch.where(inside, docs.count[index], 0.0).to(docs.count.dtype)
        return cls(rows, word, count, docs.n_words)

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, mask: Tensor) -> Padded:
        """The documents where `mask` (n,) is true."""
        return Padded(self.rows[mask], self.word[mask], self.count[mask], self.n_words)

    @cached_property
    def by_word(self) -> tuple[Tensor, Tensor, Tensor]:
        """Padded entries sorted by word: (order, each word's start (V + 2,), their rows)."""
        flat = self.word.reshape(-1)
        order = torch.argsort(flat, stable=True)
        per_word = torch.bincount(flat, minlength=self.n_words + 1)
        indptr = torch.cat([per_word.new_zeros(1), per_word.cumsum(0)])
        return order, indptr, torch.div(order, self.word.shape[1], rounding_mode="floor")

    def word_topic_sums(self, values: Tensor, dense: Tensor) -> Tensor:
        """sum over entries (d, j) of values[d, j] dense[d] at word[d, j], (n_words, k)."""
        order, indptr, doc = self.by_word
        size = (self.n_words + 1, len(self))
        matrix = torch.sparse_csr_tensor(
            indptr, doc, values.reshape(-1)[order], size=size, check_invariants=False
        )
        return (matrix @ dense)[: self.n_words]


# torch warns once per process that CSR tensors are in beta: let that once be here, silenced.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
    torch.sparse_csr_tensor(
        torch.zeros(2, dtype=torch.int64), torch.zeros(1, dtype=torch.int64), torch.ones(1),
        size=(1, 1), check_invariants=False,
    )  # fmt: skip


def check_counts(X, name: str = "X") -> scipy.sparse.csr_matrix:
    """Sparse counts X as CSR float64, refusing an empty X and negative, fractional or
    non-finite counts, with messages naming `name`."""
    if len(X.shape) != 2:
        raise ValueError(f"{name} must have shape (n_documents, n_words); got {X.shape}.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty: it has shape {X.shape}, no documents or words.")
    X = scipy.sparse.csr_matrix(X, dtype=np.float64, copy=True)
    X.sum_duplicates()
    data = X.data
    if not np.isfinite(data).all():
        problem = "NaN" if np.isnan(data).any() else "infinity"
        raise ValueError(f"{name} contains {problem}; counts must be finite.")
    if (data < 0).any():
        raise ValueError(
            f"Negative values in data passed to {name}: it contains negative counts; word "
            "counts must be >= 0."
        )
    if (data != np.round(data)).any():
        raise ValueError(
            f"{name} contains non-integer counts; LDA takes word counts (whole numbers)."
        )
    X.eliminate_zeros()
    return X


# --- Dirichlet expectations


def dirichlet_expectation(param: Tensor) -> Tensor:
    """E[log p] under Dirichlet(param) for each row of param."""
    return torch.special.digamma(param) - torch.special.digamma(param.sum(-1, keepdim=True))


def topic_bound(lambda_: Tensor, eta: float) -> Tensor:
    """E[log p(beta | eta)] - E[log q(beta | lambda)], summed over topics (a scalar)."""
    V = lambda_.shape[1]
    elog_beta = dirichlet_expectation(lambda_)
    return (
        ((eta - lambda_) * elog_beta).sum()
        + (torch.lgamma(lambda_) - math.lgamma(eta)).sum()
        + (math.lgamma(V * eta) - torch.lgamma(lambda_.sum(1))).sum()
    )


def log_multinomial_coefficient(docs: Documents) -> Tensor:
    """log (N_d! / prod_w n_dw!) of each document, (n,)."""
    return torch.lgamma(docs.lengths + 1) - docs.doc_sum(torch.lgamma(docs.count + 1))


# --- Dirichlet priors (Minka 2000, "Estimating a Dirichlet distribution")


def inverse_digamma(y: np.ndarray, n_iter: int = 5) -> np.ndarray:
    """x with digamma(x) = y, by Newton's method from Minka's starting point (appendix C)."""
    y = np.asarray(y, dtype=np.float64)
    x = np.where(y >= -2.22, np.exp(y) + 0.5, -1.0 / (y - digamma(1.0)))
    for _ in range(n_iter):
        x = x - (digamma(x) - y) / polygamma(1, x)
    return x


def asymmetric_dirichlet_mle(
    alpha: np.ndarray, mean_log: np.ndarray, *, max_iter: int = 100, tol: float = 1e-10
) -> np.ndarray:
    """The alpha (K,) maximising the Dirichlet likelihood of E[log p] = `mean_log` (K,).

    Minka's fixed point psi(alpha_k) = psi(sum alpha) + mean_log_k (eq. 9), from `alpha`.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    for _ in range(max_iter):
        new = inverse_digamma(digamma(alpha.sum()) + mean_log)
        if np.abs(new - alpha).max() < tol * alpha.max():
            return new
        alpha = new
    return alpha


def symmetric_dirichlet_mle(
    a: float, mean_log_sum: float, dim: int, *, max_iter: int = 100, tol: float = 1e-10
) -> float:
    """The a maximising the likelihood of Dirichlet(a, ..., a) in `dim` dimensions.

    Maximises f(a) = lgamma(dim a) - dim lgamma(a) + (a - 1) mean_log_sum, concave in a, where
    mean_log_sum is the mean over rows of sum_k E[log p_k]: Newton's method in log a, kept
    inside a bracket of the root of f' (bisection when a step leaves it).
    """

    def grad(u):  # f'(a) and its derivative in u = log a
        a = math.exp(u)
        g = dim * (digamma(dim * a) - digamma(a)) + mean_log_sum
        h = dim * dim * polygamma(1, dim * a) - dim * polygamma(1, a)
        return g, a * h

    lo, hi = -30.0, 30.0  # f' > 0 for tiny a, < 0 for huge a (Jensen: mean_log_sum <= -dim log dim)
    u = math.log(a)
    for _ in range(max_iter):
        g, dg = grad(u)
        if g > 0:
            lo = u
        else:
            hi = u
        step = -g / dg if dg < 0 else math.inf
        new = u + step
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        if abs(new - u) < tol:
            return math.exp(new)
        u = new
    return math.exp(u)


def polya_fixed_point(
    alpha: Tensor, counts: Tensor, totals: Tensor, *, symmetric: bool, reduce: bool
) -> Tensor:
    """One step of Minka's fixed point for Dirichlet-multinomial counts (eq. 55).

    alpha_k <- alpha_k sum_i [psi(n_ik + alpha_k) - psi(alpha_k)]
                      / sum_i [psi(n_i + sum alpha) - psi(sum alpha)],
    for `counts` (m, K) with row `totals` (m,); a symmetric alpha (all equal) takes the mean
    of the K numerators. With `reduce` the sums over rows are all-reduced over processes.
    """
    a0 = alpha.sum()
    sums = {
        "num": (torch.special.digamma(counts + alpha) - torch.special.digamma(alpha)).sum(0),
        "den": (torch.special.digamma(totals + a0) - torch.special.digamma(a0)).sum(),
    }
    if reduce:
        sums = all_reduce_sum(sums)
    num = sums["num"].mean().expand_as(alpha) if symmetric else sums["num"]
    return alpha * num / sums["den"].clamp(min=torch.finfo(alpha.dtype).tiny)


def variational_priors(alpha, eta, stats, lambda_, rho: float, symmetric: bool):
    """alpha (K,) from the documents' E[log theta], eta from E[log beta] under lambda, each
    moved by `rho` towards its maximum-likelihood value."""
    K, V = lambda_.shape
    mean_log = (stats["log_theta"] / stats["n_docs"]).cpu().numpy().astype(np.float64)
    alpha_np = alpha.cpu().numpy().astype(np.float64)
    if symmetric:
        new_alpha = np.full(K, symmetric_dirichlet_mle(alpha_np[0], mean_log.sum(), K))
    else:
        new_alpha = asymmetric_dirichlet_mle(alpha_np, mean_log)
    new_eta = symmetric_dirichlet_mle(eta, float(dirichlet_expectation(lambda_).sum()) / K, V)
    alpha = (1 - rho) * alpha + rho * torch.as_tensor(new_alpha).to(alpha)
    return alpha, (1 - rho) * eta + rho * new_eta


def gibbs_priors(alpha, eta, n_dk, n_wk, docs: Documents, symmetric: bool):
    """One Polya fixed-point step each: alpha from n_dk (n, K), eta from the topics' n_kw."""
    alpha = polya_fixed_point(alpha, n_dk, docs.lengths, symmetric=symmetric, reduce=True)
    V = n_wk.shape[0]
    eta = polya_fixed_point(eta.expand(V), n_wk.T, n_wk.sum(0), symmetric=True, reduce=False)
    return alpha, eta[0]


# --- collapsed Gibbs sampling


@dataclass(frozen=True, eq=False)
class Tokens:
    """Every word occurrence of some documents: its document, word, and update group."""

    doc: Tensor  # (T,)
    word: Tensor  # (T,)
    groups: list[Tensor]  # indices of the tokens resampled together, one tensor per group

    @classmethod
    def from_documents(cls, docs: Documents, n_groups: int) -> Tokens:
        repeats = docs.count.round().long()
        doc = torch.repeat_interleave(docs.doc, repeats)
        word = torch.repeat_interleave(docs.word, repeats)
        # rank of each token within its document: the r-th tokens of all documents form
        # group r mod n_groups, so a group holds few tokens of any one document
        starts = torch.cat([repeats.new_zeros(1), docs.doc_sum(repeats.to(docs.count.dtype))
                            .long().cumsum(0)])[:-1]  # fmt: skip
        rank = torch.arange(len(doc), device=doc.device) - starts[doc]
        group = rank % n_groups
        order = torch.argsort(group, stable=True)
        sizes = torch.bincount(group, minlength=n_groups).tolist()
        return cls(doc, word, [g for g in torch.split(order, sizes) if len(g)])


def count_assignments(tokens: Tokens, z: Tensor, n_docs: int, n_words: int, K: int, dtype):
    """Topic counts per document (n, K) and per word (V, K) of the assignments z (T,)."""
    ones = torch.ones(len(z), dtype=dtype, device=z.device)
    n_dk = torch.zeros(n_docs, K, dtype=dtype, device=z.device).index_put_(
        (tokens.doc, z), ones, accumulate=True
    )
    n_wk = torch.zeros(n_words, K, dtype=dtype, device=z.device).index_put_(
        (tokens.word, z), ones, accumulate=True
    )
    return n_dk, n_wk


@torch.no_grad()
def gibbs_sweep(tokens: Tokens, z: Tensor, n_dk: Tensor, n_wk: Tensor, alpha: Tensor,
                eta: float, *, gen: torch.Generator) -> None:  # fmt: skip
    """One sweep of collapsed Gibbs sampling (Griffiths and Steyvers 2004, eq. 5), in place.

    Group by group, every token of the group is removed from the counts and redrawn from
    p(z = k) ~ (n_dk + alpha_k) (n_kw + eta) / (n_k + V eta) given all other tokens. Tokens of
    one group are drawn in parallel, as in AD-LDA (Newman et al. 2009): a token does not see
    the new topics of the other tokens of its group (few per document). Topic-word counts
    `n_wk` are those of this process plus the other processes' as of the sweep's start.
    """
    V = n_wk.shape[0]
    for index in tokens.groups:
        d, w, old = tokens.doc[index], tokens.word[index], z[index]
        ones = torch.ones(len(index), dtype=n_dk.dtype, device=n_dk.device)
        n_dk.index_put_((d, old), -ones, accumulate=True)
        n_wk.index_put_((w, old), -ones, accumulate=True)
        n_k = n_wk.sum(0)
        p = (n_dk[d] + alpha) * (n_wk[w] + eta) / (n_k + V * eta)  # (tokens, K)
        cdf = p.cumsum(1)
        u = torch.rand(len(index), 1, generator=gen, dtype=p.dtype, device=p.device)
        new = torch.searchsorted(cdf, u * cdf[:, -1:]).squeeze(1).clamp_(max=p.shape[1] - 1)
        n_dk.index_put_((d, new), ones, accumulate=True)
        n_wk.index_put_((w, new), ones, accumulate=True)
        z[index] = new


# --- generating documents


@torch.no_grad()
def sample_documents(
    alpha: Tensor, topic_word: Tensor, n_docs: int, doc_length: int, *, gen: torch.Generator
) -> Tensor:
    """Documents of `doc_length` words from LDA's generative process, as counts (n, V).

    theta_d ~ Dirichlet(alpha); each word draws z ~ theta_d then w ~ topic_word[z], so its
    distribution is theta_d @ topic_word. Dirichlet draws go through log-gammas,
    log G = log Gamma(alpha + 1) + log(U) / alpha, which stay finite for tiny alpha.
    """
    shape = (n_docs, len(alpha))
    g = torch._standard_gamma((alpha + 1).expand(shape).contiguous(), generator=gen)
    u = torch.rand(shape, generator=gen, dtype=alpha.dtype, device=alpha.device)
    theta = torch.softmax(torch.log(g) + torch.log(u) / alpha, dim=1)
    words = torch.multinomial(theta @ topic_word, doc_length, replacement=True, generator=gen)
    counts = torch.zeros(n_docs, topic_word.shape[1], dtype=alpha.dtype, device=alpha.device)
    return counts.scatter_add_(1, words, torch.ones_like(words, dtype=alpha.dtype))
