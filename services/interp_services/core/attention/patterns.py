"""Patterns: which key(s) a role predicts for each query, resolved for one input.

A role is a pattern plus the generic scorer of :mod:`.scoring`: the role's score is the mean
attention mass on the keys the pattern predicts, over the queries it counts. A pattern is a small
frozen description (:class:`Offset`, :class:`Key`, :class:`OffsetFamily`, :class:`Induction`);
:meth:`~Pattern.resolve` turns it into concrete :data:`Target` objects for one input, because
what is predicted can depend on the length, on the model being causal and on the token ids.

Which queries count is the same rule for every pattern: a query counts when the pattern predicts
at least one key it can see **and** it can see more than one key. A query with a single visible
key (position 0 of a causal model) has no choice, so it says nothing about the head.

Example:
    >>> inp = Input(t=5, causal=True, token_ids=(7, 8, 7, 8, 9))
    >>> Offset(-1).resolve(inp)
    (DiagonalTarget(offset=-1, start=1, stop=5),)
    >>> Offset(0).resolve(inp)  # query 0 of a causal model sees one key: not counted
    (DiagonalTarget(offset=0, start=1, stop=5),)
    >>> [t.offset for t in OffsetFamily().resolve(Input(t=9, causal=False, token_ids=tuple(range(9))))]
    [-2, 2, -3, 3, -4, 4]
    >>> Induction().resolve(inp)[0].mask(5).nonzero().tolist()  # after the earlier 7 and 8
    [[2, 1], [3, 2]]
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

__all__ = [
    "DiagonalTarget",
    "Induction",
    "Input",
    "Key",
    "MaskTarget",
    "Offset",
    "OffsetFamily",
    "Pattern",
    "Target",
]


@dataclass(frozen=True)
class Input:
    """What patterns may depend on: the length, the model kind and the token ids."""

    t: int
    causal: bool
    token_ids: tuple[int, ...]

    @staticmethod
    def of(token_ids: Sequence[int], causal: bool) -> Input:
        """The input of ``token_ids`` (length taken from them)."""
        return Input(len(token_ids), causal, tuple(int(i) for i in token_ids))

    # The tensors below are built once per input (cached_property writes the instance __dict__
    # directly, which a frozen dataclass allows); callers must not modify them.

    @functools.cached_property
    def visible_keys(self) -> torch.Tensor:
        """``[T]`` long: how many keys each query can see."""
        if self.causal:
            return torch.arange(1, self.t + 1)
        return torch.full((self.t,), self.t, dtype=torch.long)

    @property
    def first_choice(self) -> int:
        """The first query that sees more than one key (``T`` if none); every later one does too."""
        if self.t < 2:
            return self.t
        return 1 if self.causal else 0

    @functools.cached_property
    def has_choice(self) -> torch.Tensor:
        """``[T]`` bool: queries that see more than one key (the only ones any score counts)."""
        return torch.arange(self.t) >= self.first_choice

    @functools.cached_property
    def visible(self) -> torch.Tensor:
        """``[T, T]`` bool: ``[q, k]`` is True when query ``q`` can see key ``k``."""
        ones = torch.ones(self.t, self.t, dtype=torch.bool)
        return ones.tril() if self.causal else ones


@dataclass(frozen=True)
class DiagonalTarget:
    """Every counted query ``q`` predicts the single key ``q + offset``.

    Attributes:
        offset: Key minus query position.
        start: First counted query.
        stop: One past the last counted query (counted queries are ``start <= q < stop``).
    """

    offset: int
    start: int
    stop: int

    @property
    def num_queries(self) -> int:
        """How many queries the score averages over."""
        return self.stop - self.start

    def pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(queries, keys)``: ``[P]`` long each, the predicted ``(query, key)`` pairs."""
        q = torch.arange(self.start, self.stop)
        return q, q + self.offset

    def mask(self, t: int) -> torch.Tensor:
        """The same target as a ``[T, T]`` bool mask of predicted ``(query, key)`` pairs."""
        out = torch.zeros(t, t, dtype=torch.bool)
        out[self.pairs()] = True
        return out


@dataclass(frozen=True)
class MaskTarget:
    """Each counted query predicts the keys marked in its row of a mask.

    Build it with :meth:`of`, which applies the counting rule and lists the predicted pairs.

    Attributes:
        query_index: ``[P]`` long: the query of every predicted ``(query, key)`` pair.
        key_index: ``[P]`` long: the key of the same pair.
        num_queries: Number of counted queries (those with at least one pair).
        t: Sequence length.
    """

    query_index: torch.Tensor = field(repr=False)
    key_index: torch.Tensor = field(repr=False)
    num_queries: int
    t: int

    @staticmethod
    def of(keys: torch.Tensor, inp: Input) -> MaskTarget:
        """A target from a ``[T, T]`` bool mask, keeping the pairs the counting rule allows."""
        keys = keys & inp.visible & inp.has_choice[:, None]
        q, k = keys.nonzero(as_tuple=True)
        return MaskTarget(q, k, int(keys.any(dim=1).sum()), inp.t)

    def pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(queries, keys)``: ``[P]`` long each, the predicted ``(query, key)`` pairs."""
        return self.query_index, self.key_index

    def mask(self, t: int) -> torch.Tensor:
        """The predicted ``(query, key)`` pairs as a ``[T, T]`` bool mask."""
        out = torch.zeros(t, t, dtype=torch.bool)
        out[self.pairs()] = True
        return out


Target = DiagonalTarget | MaskTarget
"""A pattern resolved for one input. Only targets with at least one counted query exist."""


class Pattern(Protocol):
    """Which key(s) a role predicts for each query."""

    def resolve(self, inp: Input) -> tuple[Target, ...]:
        """The pattern's targets on ``inp``: one for a single pattern, one per member for a
        family (the role then takes the best member), none when no query counts."""
        ...


@dataclass(frozen=True)
class Offset:
    """Query ``q`` predicts key ``q + offset`` (``-1`` previous token, ``0`` itself, ``+1`` next)."""

    offset: int

    def resolve(self, inp: Input) -> tuple[Target, ...]:
        if inp.causal and self.offset > 0:
            return ()  # a future key is never visible
        # Counted: the key exists, and the query sees more than one key.
        start, stop = max(0, -self.offset, inp.first_choice), min(inp.t, inp.t - self.offset)
        return (DiagonalTarget(self.offset, start, stop),) if stop > start else ()


@dataclass(frozen=True)
class Key:
    """Every query predicts one fixed key (``Key(0)``: the first token, the usual "sink").

    The key's own query is not counted: attending to oneself is the current-token role.
    """

    key: int

    def resolve(self, inp: Input) -> tuple[Target, ...]:
        if not 0 <= self.key < inp.t:
            return ()
        # Counted: queries that see the key and more than one key, other than the key's own.
        q = torch.arange(max(inp.first_choice, self.key if inp.causal else 0), inp.t)
        q = q[q != self.key]
        return (MaskTarget(q, torch.full_like(q, self.key), q.numel(), inp.t),) if q.numel() else ()


@dataclass(frozen=True)
class OffsetFamily:
    """The best of the fixed offsets ``min_distance <= |d| <= (T-1)//2``.

    Offsets are limited to ``(T-1)//2`` so every offset is backed by at least half of the
    queries: the largest offset is otherwise scored by the last query alone, and a sink head
    (last query -> key 0) would look like a perfect positional head. Members are ordered by
    ``|d|``, earlier key first, which is also how ties between members are broken; a causal
    model has no later keys, so only ``d < 0`` remain.
    """

    min_distance: int = 2

    def resolve(self, inp: Input) -> tuple[Target, ...]:
        members = (Offset(s * d) for d in range(self.min_distance, (inp.t - 1) // 2 + 1) for s in (-1, 1))
        return tuple(target for m in members for target in m.resolve(inp))


@dataclass(frozen=True)
class Induction:
    """Query ``q`` predicts key ``j + 1`` for every earlier ``j < q`` holding the same token.

    That is the token that followed each earlier occurrence of the query's token: an induction
    head completes ``... A B ... A`` with ``B``. Only queries whose token occurred before count.
    """

    def resolve(self, inp: Input) -> tuple[Target, ...]:
        ids = torch.tensor(inp.token_ids, dtype=torch.long)
        earlier = torch.ones(inp.t, inp.t, dtype=torch.bool).tril(-1)  # j < q
        occurrence = (ids[:, None] == ids[None, :]) & earlier
        keys = torch.zeros_like(occurrence)
        keys[:, 1:] = occurrence[:, :-1]  # key j + 1 <= q: always visible, even when causal
        target = MaskTarget.of(keys, inp)
        return (target,) if target.num_queries else ()
