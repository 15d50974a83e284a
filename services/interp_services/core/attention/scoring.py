"""The generic scorer, entropy and attention distance, for many heads at once.

Every function takes a stack of heads ``a`` of shape ``[N, T, T]`` (heads of any number of
layers, queries, keys) and returns one value per head, so a whole analysis is a handful of tensor
operations however many layers and heads it covers.

:class:`TargetScorer` is the one scorer behind every mass role: for each :data:`~.patterns.Target`
it computes the mean attention mass on the predicted keys over the counted queries. Targets of
fixed offsets are read from the sums of the diagonals (one ``index_add`` for all offsets at
once); other targets (the induction keys, the first token, a diagonal whose first query does not
count) are gathered pair by pair. Both are the same quantity; :meth:`TargetScorer.reference`
computes it the slow, obvious way, from each target's ``[T, T]`` mask, for tests.

Example:
    >>> import torch
    >>> from interp_services.core.attention.patterns import Input, Offset
    >>> inp = Input.of([1, 2, 3, 4], causal=True)
    >>> prev = torch.tensor([[[1.0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0.5, 0.5, 0]]])
    >>> scorer = TargetScorer(Offset(-1).resolve(inp), inp.t)
    >>> scorer(prev)  # (1 + 1 + 0.5) / 3 counted queries
    tensor([[0.8333]])
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import torch

from interp_services.core.attention.patterns import DiagonalTarget, Input, Target
from interp_services.core.attention.roles import ROLE_DEFINITIONS, role_thresholds
from interp_services.core.attention.types import HeadRole

__all__ = [
    "DTYPE",
    "RoleScorer",
    "RoleScores",
    "TargetScorer",
    "diagonal_sums",
    "distance_matrix",
    "entropies",
    "mean_distance",
    "query_entropies",
    "uniform_attention",
    "xlogx",
]

DTYPE = torch.float32
"""The dtype of every analysis tensor (see the package docstring for why float32 suffices)."""
_TINY = torch.finfo(DTYPE).tiny


def uniform_attention(inp: Input) -> torch.Tensor:
    """``[1, T, T]`` uniform attention over the visible keys: the chance baseline."""
    a = inp.visible.to(DTYPE)
    return (a / a.sum(-1, keepdim=True))[None]


def xlogx(p: torch.Tensor) -> torch.Tensor:
    """``p log p`` elementwise, with ``0 log 0 = 0``."""
    # Clamping zeros to the smallest normal float before the log gives the same values (p log
    # tiny is 0 for p = 0, and below 1e-36 for the few p < tiny) and lets the log run vectorised:
    # twice as fast as torch.special.xlogy, which is a scalar loop on CPU.
    return p.clamp_min(_TINY).log_().mul_(p)


def query_entropies(a: torch.Tensor) -> torch.Tensor:
    """``[N, T]``: the entropy of each query's attention, in nats."""
    return xlogx(a).sum(-1).neg_()


def entropies(a: torch.Tensor, inp: Input, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean entropy (nats) and mean normalised entropy of every head, each ``[N]``.

    The normalised entropy divides each query's entropy by the log of its visible keys and
    averages over the queries that have a choice (more than one visible key); 0 when none has.

    Args:
        a: ``[N, T, T]`` heads.
        inp: The input.
        rows: ``query_entropies(a)`` if the caller has them already (then ``a`` is not read).
    """
    ent = query_entropies(a) if rows is None else rows
    start = inp.first_choice
    if start < inp.t:
        norm = (ent[:, start:] / _log_visible_keys(inp.t, inp.causal, start)).mean(dim=1).clamp(0.0, 1.0)
    else:
        norm = torch.zeros(ent.shape[0], dtype=DTYPE)
    return ent.mean(dim=1), norm


@functools.lru_cache(maxsize=8)
def _log_visible_keys(t: int, causal: bool, start: int) -> torch.Tensor:
    """``[T - start]``: log of the number of keys that queries ``start..T-1`` see."""
    return Input(t, causal, ()).visible_keys[start:].to(DTYPE).log()


def distance_matrix(t: int) -> torch.Tensor:
    """``[T, T]``: ``|q - k|`` in tokens."""
    pos = torch.arange(t, dtype=DTYPE)
    return (pos[:, None] - pos[None, :]).abs()


def mean_distance(a: torch.Tensor, distance: torch.Tensor | None = None) -> torch.Tensor:
    """``[N]``: mean over queries of ``sum_k A[q, k] |q - k|``, in tokens.

    Args:
        a: ``[N, T, T]`` heads.
        distance: ``distance_matrix(T)``, if the caller keeps one.
    """
    distance = distance_matrix(a.shape[-1]) if distance is None else distance
    return (a * distance).sum(-1).mean(dim=1)


def _diagonal_of(t: int) -> torch.Tensor:
    """``[T*T]`` long: the diagonal (``k - q + T - 1``) of each weight of a flattened ``[T, T]``.

    Cached for the usual lengths (8 MiB at T=1024); longer inputs are rare and costly enough
    that building it again does not matter.
    """
    return _cached_diagonal_of(t) if t <= 1024 else _build_diagonal_of(t)


def _build_diagonal_of(t: int) -> torch.Tensor:
    # int64: index_add_ converts any other index dtype on every call.
    q = torch.arange(t)
    return (q[None, :] - q[:, None] + (t - 1)).reshape(-1)


_cached_diagonal_of = functools.lru_cache(maxsize=8)(_build_diagonal_of)


def diagonal_sums(a: torch.Tensor) -> torch.Tensor:
    """``[N, 2T-1]``: column ``d + T - 1`` holds the sum of ``A[q, q+d]`` over ``q``, per head.

    One ``index_add`` over all weights gives every diagonal at once; reading ~``T`` diagonals one
    by one costs ~``T`` strided passes instead.
    """
    n, t, _ = a.shape
    return torch.zeros(n, 2 * t - 1, dtype=DTYPE).index_add_(1, _diagonal_of(t), a.reshape(n, t * t))


class TargetScorer:
    """The generic scorer: the mean attention mass on each target's keys over its queries.

    Built once per input (the index bookkeeping is done here), then called on stacks of heads.
    A target that is a whole diagonal (every query that has the key ``q + d`` counts) reads the
    diagonal sums; any other target (a mask, or a diagonal whose first query does not count) is
    summed from its gathered ``(query, key)`` pairs. Both give the same number.
    """

    def __init__(self, targets: Sequence[Target], t: int) -> None:
        """Prepare the scoring of ``targets`` on inputs of length ``t``."""
        self.targets = tuple(targets)
        self.t = t
        whole = [i for i, tg in enumerate(self.targets) if self._whole_diagonal(tg, t)]
        others = [i for i, tg in enumerate(self.targets) if not self._whole_diagonal(tg, t)]
        offsets = [tg.offset for tg in self.targets if self._whole_diagonal(tg, t)]  # type: ignore[union-attr]
        self._diagonals = torch.tensor(offsets, dtype=torch.long) + (t - 1)
        pairs = [self.targets[i].pairs() for i in others]
        self._n_pair_targets = len(pairs)
        # The flattened (query, key) pairs of the other targets, and which target each belongs to.
        self._pairs = torch.cat([q * t + k for q, k in pairs]) if pairs else torch.zeros(0, dtype=torch.long)
        self._pair_owner = torch.cat([torch.full_like(q, j) for j, (q, _) in enumerate(pairs)] or [self._pairs])
        # Scores are computed as [whole diagonals..., other targets...]; this puts them back in order.
        self._column = torch.argsort(torch.tensor(whole + others, dtype=torch.long))
        self._counts = torch.tensor([tg.num_queries for tg in self.targets], dtype=DTYPE)

    @staticmethod
    def _whole_diagonal(tg: Target, t: int) -> bool:
        """Whether ``tg`` counts every query of its diagonal (then the diagonal sum scores it)."""
        return isinstance(tg, DiagonalTarget) and tg.num_queries == t - abs(tg.offset)

    def __call__(self, a: torch.Tensor, sums: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, len(targets)]`` mean attention mass on each target's keys over its queries.

        Args:
            a: ``[N, T, T]`` heads.
            sums: ``diagonal_sums(a)`` if the caller has it already.
        """
        n, t = a.shape[0], self.t
        parts = []
        if self._diagonals.numel():
            parts.append((diagonal_sums(a) if sums is None else sums).index_select(1, self._diagonals))
        if self._n_pair_targets:
            pairs = a.reshape(n, t * t).index_select(1, self._pairs)
            parts.append(torch.zeros(n, self._n_pair_targets, dtype=DTYPE).index_add_(1, self._pair_owner, pairs))
        if not parts:
            return torch.zeros(n, 0, dtype=DTYPE)
        mass = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return mass.index_select(1, self._column) / self._counts

    def reference(self, a: torch.Tensor) -> torch.Tensor:
        """The same scores computed from each target's ``[T, T]`` mask (slow; for tests)."""
        cols = []
        for tg in self.targets:
            mask = tg.mask(self.t)
            counted = mask.any(dim=1)
            cols.append((a * mask).sum(-1)[:, counted].mean(dim=1))
        return torch.stack(cols, dim=1) if cols else torch.zeros(a.shape[0], 0, dtype=DTYPE)


@dataclass
class RoleScores:
    """Mass-role scores of a stack of heads.

    Attributes:
        scores: ``[N, R]`` in ``ROLE_DEFINITIONS`` order; 0 where a role is no candidate.
        members: ``[N, R]``: for family roles the winning member's offset; 0 when the score is 0
            or the role is no family.
    """

    scores: torch.Tensor
    members: torch.Tensor


class RoleScorer:
    """Every role definition resolved for one input, ready to score stacks of heads.

    Attributes:
        inp: The input.
        available: ``[R]`` bool: the roles that are candidates on this input (they apply to the
            model kind, are not excluded, and the input has a query their pattern counts).
        baseline: ``[R]`` scores of uniform attention on this input (the chance test).
        thresholds: ``[R]`` the score each role needs on this input (``role_thresholds``).
    """

    def __init__(self, inp: Input, excluded: Collection[HeadRole] = ()) -> None:
        """Resolve every role's pattern on ``inp``; roles in ``excluded`` are no candidates."""
        self.inp = inp
        spans: list[tuple[int, int]] = []  # the columns of each role's targets
        targets: list[Target] = []
        for d in ROLE_DEFINITIONS:
            found = d.pattern.resolve(inp) if d.models.allows(inp.causal) and d.role not in excluded else ()
            spans.append((len(targets), len(targets) + len(found)))
            targets += found
        self._scorer = TargetScorer(targets, inp.t)
        offsets = [tg.offset if isinstance(tg, DiagonalTarget) else 0 for tg in targets]
        self._offsets = torch.tensor(offsets, dtype=torch.long)
        # A role with one target reads its column; one with none reads column len(targets),
        # which __call__ appends as zeros; a family (a role that reports its winning member,
        # even when the input leaves it a single one) is overwritten with its best member.
        columns = [start if stop > start else len(targets) for start, stop in spans]
        self._columns = torch.tensor(columns, dtype=torch.long)
        self._families = [
            (r, start, stop)
            for r, ((start, stop), d) in enumerate(zip(spans, ROLE_DEFINITIONS, strict=True))
            if stop > start and (d.member_field is not None or stop - start > 1)
        ]
        self.available = torch.tensor([stop > start for start, stop in spans], dtype=torch.bool)
        self.baseline = self(uniform_attention(inp)).scores[0]
        self.thresholds = role_thresholds(self.available, self.baseline)

    def __call__(self, a: torch.Tensor, sums: torch.Tensor | None = None) -> RoleScores:
        """Score the heads ``a`` (``[N, T, T]``) on every role; ``sums`` as in :class:`TargetScorer`."""
        per_target = torch.nn.functional.pad(self._scorer(a, sums), (0, 1))
        scores = per_target[:, self._columns]
        members = torch.zeros_like(scores, dtype=torch.long)
        for r, start, stop in self._families:
            # A family scores its best member; max returns the first maximum, so ties go to
            # the member listed first (smallest |d|, earlier key first).
            best, idx = per_target[:, start:stop].max(dim=1)
            scores[:, r] = best
            members[:, r] = torch.where(best > 0.0, self._offsets[start:stop][idx], 0)
        return RoleScores(scores, members)
