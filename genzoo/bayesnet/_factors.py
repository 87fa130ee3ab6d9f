"""Factor algebra and exact inference for discrete Bayesian networks, on numpy arrays.

Variables are integers 0..d-1. A factor is a table with one axis per variable in its scope,
after an optional leading batch axis: a batch of B queries shares the CPDs that no evidence
touches (no batch axis) and carries its own copy of those it reduces ((B, ...) tables), so
one pass of einsums answers B queries with different evidence values.

Variable elimination (Zhang and Poole, 1994; Koller and Friedman, 2009, alg. 9.1) removes the
variables that are neither queried nor ancestors of the query or the evidence (barren nodes),
reduces the evidence by indexing, and sums out the rest, bucket by bucket (Dechter, 1999).
`CompiledNetwork` does the symbolic part once per network and per query signature: a query
then costs a few dict lookups and its einsums. A single query eliminates in the min-fill
order of the whole moral graph, computed once: restricted to a query's hidden variables it
never makes a wider table than on the whole graph (pruning and evidence only delete
vertices), plus the query variables kept to the end. A batched query, whose B rows pay for
it, orders its own reduced graph by min-fill. Small buckets are fused into one einsum, since
on tables of a few entries a numpy call costs more than its arithmetic.

Each intermediate table whose largest entry leaves [1e-3, 1e3] is divided by that entry and
the log of the scale is carried, so every operand of a step peaks within three orders of 1
and no product underflows any sooner than with every table divided by its maximum, however
large the network.
"""

from __future__ import annotations

import math
import string
from typing import NamedTuple

import numpy as np

from genzoo.bayesnet.structure import family_counts

__all__ = [
    "CompiledNetwork",
    "Factor",
    "ancestors",
    "expected_counts",
    "forward_sample",
    "log_prob_codes",
    "min_fill_order",
]

# np.einsum names axes by letters: one for the batch axis, the rest for variables.
_LETTERS = string.ascii_letters
_MAX_EINSUM_OPERANDS = 16  # np.einsum takes at most 32; a step multiplies at most this many
# A table is rescaled when its largest entry leaves this range (see the module docstring).
_SMALLEST, _LARGEST = 1e-3, 1e3
# Most joint states of the variables of one fused step, without and with a batch axis.
_FUSE_LIMIT = {False: 512, True: 32}
# Joint states (batch included) past which a step's einsum contracts pairwise.
_PAIRWISE_LIMIT = 1 << 14
# Plans kept per network; the oldest is dropped past this many signatures.
_MAX_PLANS = 1024


class Factor(NamedTuple):
    """A non-negative table over `scope`; with `batched`, axis 0 indexes the queries."""

    scope: tuple[int, ...]
    table: np.ndarray
    batched: bool = False


# --- graph helpers


def ancestors(parents: list[list[int]], nodes) -> set[int]:
    """The given nodes and all their ancestors."""
    seen, stack = set(nodes), list(nodes)
    while stack:
        for p in parents[stack.pop()]:
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return seen


def min_fill_order(scopes, eliminate_vars) -> list[int]:
    """Greedy elimination order: each step removes the variable adding the fewest fill edges.

    Ties go to the variable with fewest neighbours, then to the lowest id, so the order is
    deterministic. A step changes the cost only of the eliminated variable's neighbours and
    of theirs, so only those are recomputed.
    """
    neighbours: dict[int, set[int]] = {}
    for scope in scopes:
        for v in scope:
            neighbours.setdefault(v, set()).update(u for u in scope if u != v)

    def cost(v):
        near = list(neighbours.get(v, ()))
        fill = sum(1 for i, a in enumerate(near) for b in near[i + 1 :] if b not in neighbours[a])
        return fill, len(near), v

    costs = {v: cost(v) for v in eliminate_vars}
    order = []
    while costs:
        best = min(costs.values())[2]
        near = neighbours.pop(best, set())
        for a in near:
            neighbours[a].discard(best)
            neighbours[a].update(near - {a})
        del costs[best]
        order.append(best)
        stale = set(near).union(*(neighbours[a] for a in near))
        for u in stale.intersection(costs):
            costs[u] = cost(u)
    return order


# --- factor operations


def _subscripts(scopes, flags, out_scope) -> str:
    """The np.einsum subscripts multiplying tables over `scopes` (batched where `flags`) and
    summing every variable not in `out_scope`; the batch axis, if any, stays first."""
    variables = sorted(set().union(*scopes))
    if len(variables) >= len(_LETTERS):
        raise ValueError(
            f"variable elimination needs a table over {len(variables)} variables; the network "
            "is too densely connected for exact inference."
        )
    letter = {v: _LETTERS[k + 1] for k, v in enumerate(variables)}
    batch = _LETTERS[0]
    inputs = [
        (batch if f else "") + "".join(letter[v] for v in s)
        for s, f in zip(scopes, flags, strict=True)
    ]
    out = (batch if any(flags) else "") + "".join(letter[v] for v in out_scope)
    return ",".join(inputs) + "->" + out


def _einsum(factors: list[Factor], out_scope: tuple[int, ...]) -> tuple[np.ndarray, bool]:
    """Product of `factors`, summed over every variable not in `out_scope`."""
    while len(factors) > _MAX_EINSUM_OPERANDS:
        head = factors[:_MAX_EINSUM_OPERANDS]
        scope = tuple(sorted(set().union(*(f.scope for f in head))))
        factors = [Factor(scope, *_einsum(head, scope)), *factors[_MAX_EINSUM_OPERANDS:]]
    flags = [f.batched for f in factors]
    subscripts = _subscripts([f.scope for f in factors], flags, out_scope)
    return np.einsum(subscripts, *(f.table for f in factors)), any(flags)


def _rescale(table: np.ndarray, batched: bool):
    """Divide a table by its largest entry (per query) when that entry leaves
    [_SMALLEST, _LARGEST]; return it and the log of the scale (0 when left alone)."""
    if not batched:
        scale = float(table.max())
        if _SMALLEST <= scale <= _LARGEST:
            return table, 0.0
        if scale > 0:
            return table / scale, math.log(scale)
        return table, -math.inf
    scale = table.reshape(len(table), -1).max(1)  # (B,)
    if ((scale >= _SMALLEST) & (scale <= _LARGEST)).all():
        return table, 0.0
    with np.errstate(divide="ignore"):
        log_scale = np.log(scale)  # -inf where some query's evidence is impossible
    scale = np.where(scale > 0, scale, 1.0)
    return table / scale.reshape((-1,) + (1,) * (table.ndim - 1)), log_scale


class _Step(NamedTuple):
    """Multiply the tables of the `operands` slots and sum by np.einsum's `subscripts`.

    np.einsum loops over the joint states of all the step's variables at once; past
    _PAIRWISE_LIMIT of them (batch included) it is told to contract pairwise instead, by
    BLAS where it can, which pays for finding the pairs.
    """

    operands: tuple[int, ...]
    subscripts: str
    batched: bool
    size: int  # joint states of the step's variables, batch excluded

    def __call__(self, values: list, n_batch: int | None) -> np.ndarray:
        tables = [values[s] for s in self.operands]
        if len(tables) > 1 and self.size * (n_batch if self.batched else 1) > _PAIRWISE_LIMIT:
            return np.einsum(self.subscripts, *tables, optimize="greedy")
        return np.einsum(self.subscripts, *tables)


# --- variable elimination, compiled per query signature


class _Plan(NamedTuple):
    """The symbolic part of one variable elimination, for `CompiledNetwork._run`.

    `inputs` holds each relevant CPD as a view with its observed axes first and the positions
    of those variables in the evidence; the soft-evidence tables follow them as slots. Each
    step makes a new slot; `remaining` are the slots left and `final` contracts them onto
    the targets (None past _MAX_EINSUM_OPERANDS slots).
    """

    inputs: list[tuple[np.ndarray, tuple[int, ...]]]
    steps: list[_Step]
    remaining: list[Factor]  # scope and batched flag of each slot left, its table None
    remaining_slots: list[int]
    final: _Step | None


class CompiledNetwork:
    """A network ready for repeated exact inference.

    The min-fill order of its moral graph is computed once, and the plan of each query
    signature (targets, observed variables, soft-evidence variables, batched) on first use.
    The plans hold views of the CPDs, so the tables may change in place but not their shapes.

    Parameters
    ----------
    cpds, parents : the network; ``cpds[v]`` has shape (card(v), *card(parents[v])).
    """

    def __init__(self, cpds: list[np.ndarray], parents: list[list[int]]):
        self.cpds = cpds
        self.parents = parents
        self.cards = [len(c) for c in cpds]
        self._order = min_fill_order([(v, *ps) for v, ps in enumerate(parents)], range(len(cpds)))
        self._rank = {v: k for k, v in enumerate(self._order)}
        self._scopes = [(v, *ps) for v, ps in enumerate(parents)]
        self._children: list[list[int]] = [[] for _ in parents]
        for v, ps in enumerate(parents):
            for p in ps:
                self._children[p].append(v)
        self._plans: dict[tuple, _Plan] = {}
        self._steps: dict[tuple, tuple[str, int]] = {}

    def __eq__(self, other) -> bool:
        """Networks of equal tables and parents are equal, whatever plans each has cached."""
        if not isinstance(other, CompiledNetwork):
            return NotImplemented
        return self.parents == other.parents and all(
            np.array_equal(a, b) for a, b in zip(self.cpds, other.cpds, strict=True)
        )

    __hash__ = None  # mutable cache

    # --- the symbolic part

    def _plan(self, targets: tuple, hard: tuple, soft: tuple, batched: bool) -> _Plan:
        key = (targets, hard, soft, batched)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= _MAX_PLANS:
                del self._plans[next(iter(self._plans))]
            plan = self._plans[key] = self._compile(targets, hard, soft, batched)
        return plan

    def _compile(self, targets: tuple, hard: tuple, soft: tuple, batched: bool) -> _Plan:
        """Bucket elimination (Dechter, 1999) of the relevant variables, written as steps."""
        relevant = ancestors(self.parents, [*targets, *hard, *soft])
        position = {v: k for k, v in enumerate(hard)}
        touched = relevant.intersection(set(hard).union(*(self._children[u] for u in hard)))
        builder = _PlanBuilder(self.cards, _FUSE_LIMIT[batched], self._layout)
        inputs = []
        for v in sorted(relevant):
            scope = self._scopes[v]
            if v in touched:
                observed = [k for k, u in enumerate(scope) if u in position]
                rest = [k for k in range(len(scope)) if k not in observed]
                table = self.cpds[v].transpose(observed + rest)
                inputs.append((table, tuple(position[scope[k]] for k in observed)))
                builder.leaf(tuple(scope[k] for k in rest), batched)
            else:
                inputs.append((self.cpds[v], ()))
                builder.leaf(scope, False)
        for u in soft:
            builder.leaf((u,), True)
        # each factor waits in the bucket of its first hidden variable in the order
        hidden = relevant.difference(targets, hard)
        if batched:  # worth a min-fill order of its own: B rows pay for it
            order = min_fill_order(builder.scopes, hidden)
        else:
            order = sorted(hidden, key=self._rank.__getitem__)
        rank = {v: k for k, v in enumerate(order)}
        buckets: list[list[int]] = [[] for _ in order]
        left: list[int] = []
        for slot, scope in enumerate(builder.scopes):
            ranks = [rank[u] for u in scope if u in rank]
            (buckets[min(ranks)] if ranks else left).append(slot)
        for first, v in enumerate(order):
            x, scope = builder.bucket(buckets[first], v)
            ranks = [rank[u] for u in scope if u in rank]
            (buckets[min(ranks)] if ranks else left).append(x)
        left = [builder.materialize(x) for x in left]
        remaining = [Factor(builder.scopes[s], None, builder.flags[s]) for s in left]
        final = None
        if len(left) <= _MAX_EINSUM_OPERANDS:
            final = builder.step(left, targets)
        return _Plan(inputs, builder.steps, remaining, left, final)

    def _layout(self, scopes: tuple, flags: tuple, out: tuple) -> tuple[str, int]:
        """Einsum subscripts and joint states of a step, remembered: the buckets far from a
        query's evidence recur from one signature to the next."""
        key = (scopes, flags, out)
        found = self._steps.get(key)
        if found is None:
            if len(self._steps) >= _MAX_PLANS * 16:
                self._steps.clear()
            size = math.prod(self.cards[u] for u in set().union(*scopes))
            found = self._steps[key] = (_subscripts(scopes, flags, out), size)
        return found

    # --- the arithmetic

    def _run(self, plan: _Plan, codes, likelihoods, n_batch):
        """The slots' tables after the plan's steps, and the log of the scale taken out.

        `codes` holds the observed state of each hard-evidence variable (ints, or (B,) arrays
        when batched), `likelihoods` the (B, card) soft-evidence tables.
        """
        values = [table[tuple(codes[k] for k in at)] if at else table for table, at in plan.inputs]
        values += likelihoods
        log_scale = 0.0 if n_batch is None else np.zeros(n_batch)
        for step in plan.steps:
            table, log_s = _rescale(step(values, n_batch), step.batched)
            log_scale = log_scale + log_s
            values.append(table)
        return values, log_scale

    def _contract(self, plan: _Plan, values: list, n_batch, targets: tuple):
        """What is left of the plan's slots, contracted onto the targets: (table, batched)."""
        if plan.final is not None:
            return plan.final(values, n_batch), plan.final.batched
        return _einsum(self._left(plan, values), targets)

    @staticmethod
    def _left(plan: _Plan, values: list) -> list[Factor]:
        slots = plan.remaining_slots
        return [f._replace(table=values[s]) for f, s in zip(plan.remaining, slots, strict=True)]

    def posterior(self, query, evidence: dict, n_batch: int, likelihood: dict | None = None):
        """Joint posterior of `query` given the evidence, for a batch of queries.

        Parameters
        ----------
        query : the query variables, none of them in `evidence`.
        evidence : variable -> (n_batch,) int codes of its observed state in each query.
        n_batch : number of queries B.
        likelihood : variable -> (n_batch, card) soft evidence multiplied in (1 for unobserved).

        Returns
        -------
        probs : ndarray (B, *card(query)), each query's posterior (NaN where P(evidence) = 0).
        log_evidence : ndarray (B,), log P(evidence) of each query.
        """
        likelihood = likelihood or {}
        query, hard, soft = tuple(query), tuple(sorted(evidence)), tuple(sorted(likelihood))
        plan = self._plan(query, hard, soft, True)
        codes = [evidence[v] for v in hard]
        values, log_scale = self._run(plan, codes, [likelihood[v] for v in soft], n_batch)
        table, batched = self._contract(plan, values, n_batch, query)
        if not batched:
            table = np.broadcast_to(table, (n_batch, *table.shape))
        total = table.reshape(n_batch, -1).sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            probs = table / total.reshape((-1,) + (1,) * len(query))
            log_evidence = log_scale + np.log(total)
        return probs, log_evidence

    def posterior_one(self, query, evidence: dict[int, int]):
        """Joint posterior of `query` given one query's evidence {variable: code}: probs
        (*card(query)) (NaN where P(evidence) = 0) and log P(evidence), with no batch axis."""
        query, hard = tuple(query), tuple(sorted(evidence))
        plan = self._plan(query, hard, (), False)
        values, log_scale = self._run(plan, [evidence[v] for v in hard], [], None)
        table, _ = self._contract(plan, values, None, query)
        total = float(table.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            probs = table / total
        return probs, log_scale + (math.log(total) if total > 0 else -math.inf)

    def map_assignment(self, map_vars, evidence: dict, n_batch: int, likelihood=None):
        """Most probable joint state of `map_vars` given the evidence, for a batch of queries.

        The other variables are summed out first (marginal MAP); then the MAP variables are
        maximised out in min-fill order, keeping each argmax table, and a traceback in reverse
        order reads off the assignment (Koller and Friedman, 2009, alg. 13.1). Arguments as in
        `posterior`.

        Returns
        -------
        codes : ndarray (B, len(map_vars)), the MAP state of each variable per query.
        log_max : ndarray (B,), log max P(map_vars, evidence); -inf where the evidence is
            impossible.
        """
        likelihood = likelihood or {}
        hard, soft = tuple(sorted(evidence)), tuple(sorted(likelihood))
        plan = self._plan(tuple(map_vars), hard, soft, True)
        codes = [evidence[v] for v in hard]
        values, log_max = self._run(plan, codes, [likelihood[v] for v in soft], n_batch)
        factors = self._left(plan, values)
        traceback = []
        for v in min_fill_order([f.scope for f in factors], map_vars):
            involved = [f for f in factors if v in f.scope]  # never empty: v is not summed out
            factors = [f for f in factors if v not in f.scope]
            new, log_scale, rest, best = _max_out(involved, v, n_batch)
            log_max = log_max + log_scale
            factors.append(new)
            traceback.append((v, rest, best))
        if factors:  # what is left has an empty scope: constants per query
            table, _ = _einsum(factors, ())
            with np.errstate(divide="ignore"):
                log_max = log_max + np.log(table)
        assignment: dict[int, np.ndarray] = {}
        rows = np.arange(n_batch)
        for v, rest, best in reversed(traceback):
            assignment[v] = best[(rows, *(assignment[u] for u in rest))]
        return np.stack([assignment[v] for v in map_vars], axis=1), log_max


class _PlanBuilder:
    """The steps of bucket elimination. A bucket's result is kept pending (a negative id)
    and fused into the bucket that uses it, one step for both, while their variables span at
    most `limit` joint states and the operands number at most _MAX_EINSUM_OPERANDS: on small
    tables a numpy call costs more than its arithmetic."""

    def __init__(self, cards: list[int], limit: int, layout):
        self.cards, self.limit, self._layout = cards, limit, layout
        self.scopes: list[tuple] = []  # of each slot: leaves, then the steps' results
        self.flags: list[bool] = []  # whether each slot has a batch axis
        self.steps: list[_Step] = []
        self.pending: dict[int, tuple[list[int], set, tuple]] = {}  # id: operands, vars, scope
        self._next_id = -1

    def leaf(self, scope: tuple, batched: bool) -> int:
        self.scopes.append(scope)
        self.flags.append(batched)
        return len(self.scopes) - 1

    def bucket(self, involved: list[int], v: int) -> tuple[int, tuple]:
        """Multiply the `involved` factors and sum v out: a pending id (or a slot when the
        bucket holds too many factors to fuse) and the scope of the result."""
        scopes, pending = self.scopes, self.pending
        variables = set().union(*[scopes[x] if x >= 0 else pending[x][2] for x in involved])
        out = tuple(variables - {v})
        if len(involved) > _MAX_EINSUM_OPERANDS:
            return self._emit([self.materialize(x) for x in involved], out), out
        operands = [x for x in involved if x >= 0]
        waiting = [x for x in involved if x < 0]
        for k, x in enumerate(waiting):
            inner, inner_vars, _ = pending[x]
            joint = variables | inner_vars
            room = _MAX_EINSUM_OPERANDS - len(operands) - (len(waiting) - k - 1)
            if len(inner) <= room and math.prod(map(self.cards.__getitem__, joint)) <= self.limit:
                del pending[x]
                operands += inner
                variables = joint
            else:
                operands.append(self.materialize(x))
        key = self._next_id
        self._next_id -= 1
        pending[key] = (operands, variables, out)
        return key, out

    def materialize(self, x: int) -> int:
        """The slot of `x`, emitting its step if it is pending."""
        if x >= 0:
            return x
        operands, _, out = self.pending.pop(x)
        return self._emit(operands, out)

    def step(self, operands: list[int], out: tuple) -> _Step:
        flags = tuple([self.flags[s] for s in operands])
        subscripts, size = self._layout(tuple([self.scopes[s] for s in operands]), flags, out)
        return _Step(tuple(operands), subscripts, True in flags, size)

    def _emit(self, operands: list[int], out: tuple) -> int:
        """Steps multiplying the `operands` slots and summing onto `out`, in chunks of at most
        _MAX_EINSUM_OPERANDS; return the slot of the result."""
        while len(operands) > _MAX_EINSUM_OPERANDS:
            head, operands = operands[:_MAX_EINSUM_OPERANDS], operands[_MAX_EINSUM_OPERANDS:]
            union = tuple(sorted(set().union(*(self.scopes[s] for s in head))))
            operands = [*operands, self._emit(head, union)]
        step = self.step(operands, out)
        self.steps.append(step)
        self.scopes.append(out)
        self.flags.append(step.batched)
        return len(self.scopes) - 1


# --- max-product


def _max_out(factors: list[Factor], v: int, n_batch: int):
    """Multiply the factors over v and maximise v out; return the new factor, the log of its
    scale, its scope and the argmax table (B, *scope)."""
    scope = tuple(sorted(set().union(*(f.scope for f in factors))))
    table, batched = _einsum(factors, scope)
    if not batched:
        table = np.broadcast_to(table, (n_batch, *table.shape))
    axis = 1 + scope.index(v)
    rest = tuple(u for u in scope if u != v)
    best = table.argmax(axis)  # (B, *rest)
    table, log_scale = _rescale(table.max(axis), True)
    return Factor(rest, table, True), log_scale, rest, best


# --- the whole network: likelihood, forward sampling, expected counts


def log_prob_codes(cpds, parents, codes: np.ndarray) -> np.ndarray:
    """Exact log P(row) of complete rows of codes, (n,)."""
    total = np.zeros(len(codes))
    with np.errstate(divide="ignore"):
        for v, cpd in enumerate(cpds):
            index = codes[:, v].copy()
            for p in parents[v]:
                index = index * cpd.shape[1 + parents[v].index(p)] + codes[:, p]
            total += np.log(cpd.reshape(-1)[index])
    return total


def forward_sample(cpds, parents, order, uniforms: np.ndarray, fixed: dict[int, int]):
    """Forward-sample rows from uniforms (n, d), clamping `fixed` variables (likelihood
    weighting); return codes (n, d) and the log weights (n,)."""
    n, d = uniforms.shape
    codes = np.zeros((n, d), dtype=np.int64)
    log_weight = np.zeros(n)
    for v in order:
        cpd = cpds[v]
        config = np.zeros(n, dtype=np.int64)
        for p in parents[v]:
            config = config * len(cpds[p]) + codes[:, p]
        columns = cpd.reshape(len(cpd), -1)  # (card, q)
        if v in fixed:
            codes[:, v] = fixed[v]
            with np.errstate(divide="ignore"):
                log_weight += np.log(columns[fixed[v], config])
            continue
        cumulative = np.cumsum(columns[:, config].T, axis=1)  # (n, card)
        u = uniforms[:, v : v + 1] * cumulative[:, -1:]
        codes[:, v] = np.minimum((u >= cumulative).sum(1), len(cpd) - 1)
    return codes, log_weight


def expected_counts(cpds, parents, cards, codes: np.ndarray):
    """Expected family counts of rows of codes with -1 where missing, and their log-likelihood.

    Complete rows are counted directly; the others by batched inference: each family's
    posterior given each row's observed values, variables observed in every row as hard
    evidence and the rest as per-row likelihood vectors (one-hot, or ones where missing).
    """
    complete = (codes >= 0).all(1)
    columns = np.ascontiguousarray(codes[complete].T)
    counts = [family_counts(columns, cards, v, parents[v]) for v in range(len(cards))]
    loglik = log_prob_codes(cpds, parents, codes[complete]).sum()
    partial = codes[~complete]
    if len(partial) == 0:
        return counts, loglik
    observed = partial >= 0
    hard = {u: partial[:, u] for u in range(len(cards)) if observed[:, u].all()}
    soft = {
        u: np.where(observed[:, u, None], np.eye(cards[u])[partial[:, u]], 1.0)
        for u in range(len(cards))
        if observed[:, u].any() and u not in hard
    }  # (B, card)
    network = CompiledNetwork(cpds, parents)
    for v in range(len(cards)):
        family = [v, *parents[v]]
        family_hard = {u: c for u, c in hard.items() if u not in family}
        family_soft = {**soft, **{u: np.eye(cards[u])[hard[u]] for u in family if u in hard}}
        probs, log_evidence = network.posterior(family, family_hard, len(partial), family_soft)
        counts[v] = counts[v] + probs.sum(0)
    return counts, loglik + log_evidence.sum()
