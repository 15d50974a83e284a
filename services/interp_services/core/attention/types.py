"""The results of the attention analysis: plain dataclasses, no behaviour.

The gRPC contract mirrors these field by field (``rpc/attention.py`` encodes them), so a field's
name and meaning is part of the wire format: add fields, never rename or redefine one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "AttentionResult",
    "HeadComparison",
    "HeadResult",
    "HeadRole",
    "HeadRoleScores",
    "LayerResult",
    "Link",
]


class HeadRole(str, enum.Enum):
    """What a head mostly does; the proto enum value is ``HEAD_ROLE_<VALUE.upper()>``.

    Each mass role's value is also the name of its score in :class:`HeadRoleScores`.
    """

    PREVIOUS_TOKEN = "previous_token"
    CURRENT_TOKEN = "current_token"
    FIRST_TOKEN = "first_token"
    POSITIONAL_OFFSET = "positional_offset"
    BROAD = "broad"
    INDUCTION = "induction"
    MIXED = "mixed"
    NEXT_TOKEN = "next_token"


@dataclass
class HeadRoleScores:
    """Role scores of one head (each definition is in :mod:`.roles`).

    Attributes:
        previous_token: Mean ``A[q, q-1]``.
        current_token: Mean ``A[q, q]``.
        first_token: Mean ``A[q, 0]`` over ``q >= 1``.
        positional_offset: Mean ``A[q, q+best_offset]``; 0 when no offset fits the prompt.
        best_offset: The offset ``d`` (``|d| >= 2``; negative = earlier keys) behind
            ``positional_offset``; 0 when none.
        broad: Mean normalised entropy in ``[0, 1]``.
        induction: Mean mass on the tokens that followed earlier occurrences of the query token.
        induction_defined: True when some query token occurred earlier (causal models only);
            ``induction`` is 0 otherwise.
        next_token: Mean ``A[q, q+1]`` (bidirectional models; 0 for causal ones).
    """

    previous_token: float
    current_token: float
    first_token: float
    positional_offset: float
    best_offset: int
    broad: float
    induction: float
    induction_defined: bool
    next_token: float


@dataclass
class HeadResult:
    """Analysis of one head.

    Attributes:
        layer: Layer index.
        head: Head index within the layer.
        entropy: Mean over all queries of ``-sum_k A[q,k] log A[q,k]`` in nats.
        normalized_entropy: Mean over queries with at least two visible keys of the entropy
            divided by ``log(visible keys)``; in ``[0, 1]``.
        role: The assigned :class:`HeadRole`.
        role_score: The winning role's score; ``broad`` for ``BROAD``; for ``MIXED`` the best
            mass score (how close the head came to a role).
        scores: Every role score.
        mean_attention_distance: Mean over all queries of ``sum_k A[q,k] |q-k|`` in tokens.
        role_beyond_sink: For a FIRST_TOKEN (sink) head, the role of what is left once the
            first key is removed and each row renormalised (see :mod:`.sink`); equal to
            ``role`` for every other head.
        role_beyond_sink_score: That role's score, on the renormalised pattern.
    """

    layer: int
    head: int
    entropy: float
    normalized_entropy: float
    role: HeadRole
    role_score: float
    scores: HeadRoleScores
    mean_attention_distance: float
    role_beyond_sink: HeadRole | None = None
    role_beyond_sink_score: float = 0.0

    def __post_init__(self) -> None:
        if self.role_beyond_sink is None:
            self.role_beyond_sink, self.role_beyond_sink_score = self.role, self.role_score


@dataclass
class Link:
    """One strong query -> key attention weight.

    Attributes:
        layer: Layer index.
        head: Head index.
        query_position: Position of the attending token.
        key_position: Position of the attended token.
        query_token: The query token's display form (``AttentionResult.display_tokens``).
        key_token: The key token's display form.
        weight: ``A[query_position, key_position]``.
    """

    layer: int
    head: int
    query_position: int
    key_position: int
    query_token: str
    key_token: str
    weight: float


@dataclass
class LayerResult:
    """Summary of the analysed heads of one layer.

    Attributes:
        layer: Layer index.
        mean_entropy: Mean ``HeadResult.entropy`` over the analysed heads, in nats.
        mean_attention_distance: Mean ``HeadResult.mean_attention_distance``.
        dominant_role: Most frequent role; ties go to the role first in ``ROLE_PRECEDENCE``
            (specific roles before ``BROAD`` before ``MIXED``).
        role_counts: Number of analysed heads per role; only roles that occur are keys.
    """

    layer: int
    mean_entropy: float
    mean_attention_distance: float
    dominant_role: HeadRole
    role_counts: dict[HeadRole, int]


@dataclass
class AttentionResult:
    """Everything :func:`~.analyze.analyze_attention` found for one input.

    Attributes:
        tokens: Raw token strings (the tokenizer's pieces, e.g. ``"Ġlazy"``), length ``T``.
        display_tokens: The same tokens as a reader should see them (e.g. ``"lazy"``); what
            links and findings quote. Equal to ``tokens`` when the caller gave no display forms.
        token_ids: Token ids, length ``T``.
        causal: Whether the model masks future keys.
        num_layers: Layers in the model (not only the analysed ones).
        num_heads: Heads per layer in the model.
        heads: One result per analysed head, ordered by (layer, head).
        layers: One summary per analysed layer, ordered by layer.
        hotspots: Strongest links, strongest first.
        findings: At most ``MAX_FINDINGS`` short English lines, most useful first.
    """

    tokens: list[str]
    display_tokens: list[str]
    token_ids: list[int]
    causal: bool
    num_layers: int
    num_heads: int
    heads: list[HeadResult]
    layers: list[LayerResult]
    hotspots: list[Link]
    findings: list[str]


@dataclass
class HeadComparison:
    """One head's behaviour across several inputs (:func:`~.comparison.compare_attention`).

    Attributes:
        layer: Layer index.
        head: Head index.
        consensus_role: Most frequent role; ties go to the role first in ``ROLE_PRECEDENCE``.
        role_agreement: Fraction of inputs in which the head had the consensus role.
        mean_entropy: Mean of ``HeadResult.entropy`` over inputs, in nats.
        entropy_std: Population standard deviation of the same.
    """

    layer: int
    head: int
    consensus_role: HeadRole
    role_agreement: float
    mean_entropy: float
    entropy_std: float
