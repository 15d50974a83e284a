"""Head roles: what each role predicts, and how a head is named from its role scores.

Role definitions
----------------
A *mass role* is a :class:`RoleDefinition`: a pattern (:mod:`.patterns`) saying which key(s) the
role predicts for each query, scored by the one generic scorer of :mod:`.scoring`. Its score is
the mean attention mass on the predicted keys over the queries the pattern counts. A query counts
when the pattern predicts a key it can see and it can see more than one key: a causal query at
position 0 has no choice, so it says nothing about the head. It is likewise left out of the
normalised entropy (the raw ``entropy`` and ``mean_attention_distance`` average over every query,
as documented on :class:`~.types.HeadResult`).

================= ===============================================================================
role              score
================= ===============================================================================
previous_token    mean over ``q >= 1`` of ``A[q, q-1]``
current_token     mean of ``A[q, q]`` (over queries with more than one visible key)
first_token       mean over ``q >= 1`` of ``A[q, 0]`` (the "attention sink")
positional_offset max over fixed offsets ``d`` (``2 <= |d| <= (T-1)//2``; only ``d < 0`` when
                  causal) of the mean of ``A[q, q+d]`` over the queries where ``q+d`` is a key
next_token        mean over ``q <= T-2`` of ``A[q, q+1]`` (bidirectional models only, else 0)
induction         mean, over queries whose token occurred earlier at some ``j < q``, of the total
                  mass on the keys ``j+1`` that followed those occurrences (causal models only)
broad             mean normalised entropy (1 = uniform over the visible keys)
================= ===============================================================================

Offsets are limited to ``|d| <= (T-1)//2`` so every offset is backed by at least half of the
queries: the largest offset is otherwise scored by the last query alone, and a sink head (last
query -> key 0) would look like a perfect positional head.

Adding a mass role takes a :class:`~.types.HeadRole` member, one entry in
:data:`ROLE_DEFINITIONS` (its place there is its place in ``ROLE_PRECEDENCE``) and, because the
gRPC contract has a named field per score, a :class:`~.types.HeadRoleScores` field named like the
role's value.

Role assignment (:func:`assign_role`)
-------------------------------------
1. A mass role is *eligible* when its score is at least ``ROLE_THRESHOLD`` (0.4) **and** at least
   ``CHANCE_FACTOR`` (1.5) times the score that uniform attention would get on the same input.
   0.4 means the head puts two fifths of its attention, on average over the whole prompt, on the
   one key (or the handful of induction keys) the role predicts, while uniform attention over a
   96-token causal prompt scores ~0.04 on a single-key role. The chance factor matters only for
   very short prompts: on three causal tokens uniform attention already scores 0.42 on
   previous_token, which must not be read as a previous-token head.
2. No eligible role: ``BROAD`` when ``broad >= BROAD_THRESHOLD`` (0.8: the average query spreads
   its attention as much as a uniform distribution over ``~K^0.8`` of its ``K`` visible keys),
   otherwise ``MIXED``.
3. Otherwise the highest eligible score wins, with one tie-break: a role whose score is within
   ``TIE_MARGIN`` (0.05) of the best wins if it comes earlier in ``ROLE_PRECEDENCE``:
   previous-token, current-token, next-token, first-token, induction, positional offset.

   Why that order: on repetitive text the keys that induction predicts can *be* the previous or
   the current key (in ``a b a b a b`` the token after the earlier ``a`` is the previous token; in
   ``a a a`` it is the current one). Both scores are then equal, and the fixed-position role is
   the simpler explanation, so a previous-token head on such text is not called induction. The
   converse case: on a repeated random sequence of period ``P`` an induction head attends at the
   fixed offset ``-(P-1)``, so induction comes before positional offset and an induction head on
   repeated text is not called positional. An offset head whose offset happens to equal
   ``-(P-1)`` on exactly periodic text is indistinguishable from an induction head; only inputs
   whose repeats sit at varying distances (natural text) can tell them apart.
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch

from interp_services.core.attention.patterns import Induction, Key, Offset, OffsetFamily, Pattern
from interp_services.core.attention.types import HeadRole, HeadRoleScores

__all__ = [
    "BROAD_THRESHOLD",
    "CHANCE_FACTOR",
    "ROLE_DEFINITIONS",
    "ROLE_ORDER",
    "ROLE_PHRASE",
    "ROLE_PRECEDENCE",
    "ROLE_THRESHOLD",
    "TIE_MARGIN",
    "ModelKind",
    "RoleDefinition",
    "assign_role",
    "assign_roles",
    "available_roles",
    "dominant_role",
    "role_counts",
    "role_thresholds",
    "score_vector",
]

ROLE_THRESHOLD = 0.4
"""Minimum mean attention mass on the predicted key(s) for a mass role."""
CHANCE_FACTOR = 1.5
"""A mass role must also score this many times what uniform attention scores on the input."""
BROAD_THRESHOLD = 0.8
"""Minimum mean normalised entropy for ``BROAD`` when no mass role is eligible."""
TIE_MARGIN = 0.05
"""Scores within this of the best are ties, broken by ``ROLE_PRECEDENCE``."""


class ModelKind(enum.Enum):
    """Which models a role applies to."""

    ANY = "any"
    CAUSAL = "causal"
    BIDIRECTIONAL = "bidirectional"

    def allows(self, causal: bool) -> bool:
        """Whether a model that is (or is not) ``causal`` can have the role."""
        return self is ModelKind.ANY or (self is ModelKind.CAUSAL) == causal


@dataclass(frozen=True)
class RoleDefinition:
    """One mass role: what it predicts and how it is reported.

    Attributes:
        role: The role; ``role.value`` is also the name of its score in ``HeadRoleScores``.
        phrase: How findings name the role ("previous-token head").
        pattern: The key(s) the role predicts for each query.
        models: The models the role applies to; elsewhere its score is 0 and it is no candidate.
        defined_field: A boolean ``HeadRoleScores`` field recording whether the role could be
            measured on the input (some query counted); ``None`` when the contract has none
            (an unmeasurable score is 0 and can never win anyway).
        member_field: For a family pattern, the ``HeadRoleScores`` field that reports the
            winning member's offset (0 when the score is 0).
    """

    role: HeadRole
    phrase: str
    pattern: Pattern
    models: ModelKind = ModelKind.ANY
    defined_field: str | None = None
    member_field: str | None = None


ROLE_DEFINITIONS: tuple[RoleDefinition, ...] = (
    RoleDefinition(HeadRole.PREVIOUS_TOKEN, "previous-token", Offset(-1)),
    RoleDefinition(HeadRole.CURRENT_TOKEN, "current-token", Offset(0)),
    RoleDefinition(HeadRole.NEXT_TOKEN, "next-token", Offset(+1), models=ModelKind.BIDIRECTIONAL),
    RoleDefinition(HeadRole.FIRST_TOKEN, "first-token (sink)", Key(0)),
    RoleDefinition(
        HeadRole.INDUCTION, "induction", Induction(), models=ModelKind.CAUSAL, defined_field="induction_defined"
    ),
    RoleDefinition(HeadRole.POSITIONAL_OFFSET, "positional", OffsetFamily(min_distance=2), member_field="best_offset"),
)
"""Every mass role, in precedence order (earlier wins a tie within ``TIE_MARGIN``)."""

ROLE_PRECEDENCE: tuple[HeadRole, ...] = tuple(d.role for d in ROLE_DEFINITIONS)
"""Tie-break order among mass roles: fixed-key roles before induction before offsets."""

ROLE_ORDER: tuple[HeadRole, ...] = (*ROLE_PRECEDENCE, HeadRole.BROAD, HeadRole.MIXED)
"""Every role; the order used wherever roles are listed or counted (specific before generic)."""

ROLE_PHRASE: dict[HeadRole, str] = {
    **{d.role: d.phrase for d in ROLE_DEFINITIONS},
    HeadRole.BROAD: "broad",
    HeadRole.MIXED: "mixed",
}
"""How findings name each role."""

_BROAD_INDEX = len(ROLE_DEFINITIONS)  # indices into ROLE_ORDER: the mass roles, then BROAD, MIXED
_MIXED_INDEX = _BROAD_INDEX + 1


def available_roles(causal: bool, scores: HeadRoleScores | None = None) -> torch.Tensor:
    """``[R]`` bool: the mass roles that are candidates, in ``ROLE_DEFINITIONS`` order.

    A role is a candidate when it applies to the model kind and, where the contract records it,
    was measurable on the input (``defined_field`` of ``scores``).
    """

    def measurable(d: RoleDefinition) -> bool:
        return scores is None or d.defined_field is None or bool(getattr(scores, d.defined_field))

    return torch.tensor([d.models.allows(causal) and measurable(d) for d in ROLE_DEFINITIONS], dtype=torch.bool)


def role_thresholds(available: torch.Tensor, baseline: torch.Tensor | None = None) -> torch.Tensor:
    """``[R]`` float64: the score each mass role needs to be eligible (rule 1 of the module docstring).

    That is ``max(ROLE_THRESHOLD, CHANCE_FACTOR * baseline)`` for a candidate role and infinity
    for a role that is no candidate; one number per role, so naming many heads is one comparison.

    Args:
        available: ``[R]`` bool: the candidate roles.
        baseline: ``[R]`` scores of uniform attention on the input; ``None`` skips the chance test.
    """
    needed = torch.full((len(ROLE_DEFINITIONS),), ROLE_THRESHOLD, dtype=torch.float64)
    if baseline is not None:
        needed = torch.maximum(needed, CHANCE_FACTOR * baseline.to(torch.float64))
    return torch.where(available, needed, math.inf)


def assign_roles(
    scores: torch.Tensor, broad: torch.Tensor, thresholds: torch.Tensor
) -> tuple[list[HeadRole], list[float]]:
    """Name many heads at once from their role scores (rules in the module docstring).

    The arithmetic is done in float64, exactly as Python floats would, so a score that sits on a
    threshold is judged the same way however many heads are named together.

    Args:
        scores: ``[N, R]`` mass-role scores, columns in ``ROLE_DEFINITIONS`` order.
        broad: ``[N]`` mean normalised entropies.
        thresholds: ``[R]`` from :func:`role_thresholds`.

    Returns:
        ``(roles, role_scores)``, one entry per head.
    """
    s = scores.to(torch.float64)
    eligible = torch.where(s >= thresholds, s, -math.inf)
    best = eligible.amax(dim=1, keepdim=True)
    # Columns are in precedence order, so the first role within the margin of the best wins.
    winner = (eligible >= best - TIE_MARGIN).to(torch.int8).argmax(dim=1)
    has_role = best[:, 0] > -math.inf
    b = broad.to(torch.float64)
    is_broad = b >= BROAD_THRESHOLD
    # MIXED reports how close the head came to a role: its best candidate score (0 if none).
    closest = torch.where(thresholds < math.inf, s, -math.inf).amax(dim=1).nan_to_num(neginf=0.0)
    index = torch.where(has_role, winner, torch.where(is_broad, _BROAD_INDEX, _MIXED_INDEX))
    score = torch.where(has_role, s.gather(1, winner[:, None])[:, 0], torch.where(is_broad, b, closest))
    return [ROLE_ORDER[i] for i in index.tolist()], score.tolist()


def score_vector(scores: HeadRoleScores) -> torch.Tensor:
    """``[R]`` float64: the mass-role scores of ``scores`` in ``ROLE_DEFINITIONS`` order."""
    return torch.tensor([float(getattr(scores, d.role.value)) for d in ROLE_DEFINITIONS], dtype=torch.float64)


def assign_role(
    scores: HeadRoleScores,
    *,
    causal: bool,
    baseline: HeadRoleScores | None = None,
) -> tuple[HeadRole, float]:
    """Name a head from its role scores (rules in the module docstring).

    Args:
        scores: The head's role scores.
        causal: Whether the model is causal (next-token is then not a candidate).
        baseline: Scores of uniform attention on the same input; ``None`` skips the chance test.

    Returns:
        ``(role, role_score)``.

    Example:
        >>> s = HeadRoleScores(0.9, 0.05, 0.05, 0.0, 0, 0.2, 0.9, True, 0.0)
        >>> assign_role(s, causal=True)  # previous-token wins the tie with induction
        (<HeadRole.PREVIOUS_TOKEN: 'previous_token'>, 0.9)
    """
    chance = None
    if baseline is not None:
        chance = torch.where(available_roles(causal, baseline), score_vector(baseline), 0.0)
    thresholds = role_thresholds(available_roles(causal, scores), chance)
    roles, role_scores = assign_roles(
        score_vector(scores)[None], torch.tensor([float(scores.broad)], dtype=torch.float64), thresholds
    )
    return roles[0], role_scores[0]


def dominant_role(counts: Mapping[HeadRole, int]) -> HeadRole:
    """Most frequent role (``counts`` as from :func:`role_counts`); ties go to the role first in
    ``ROLE_ORDER``."""
    top = max(counts.values())
    return next(r for r in ROLE_ORDER if counts.get(r, 0) == top)


def role_counts(roles: Iterable[HeadRole | None]) -> dict[HeadRole, int]:
    """How many times each role occurs, in ``ROLE_ORDER``; roles that do not occur are left out."""
    counts = Counter(roles)
    return {r: counts[r] for r in ROLE_ORDER if counts[r]}
