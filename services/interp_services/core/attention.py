"""Attention-pattern analysis: entropy, head roles, strongest links and plain-English findings.

The attention service reads patterns that the model host captured (``blocks.{L}.attn.hook_pattern``)
from the store; it needs no weights and no autograd, so this module is pure tensor arithmetic on
already-softmaxed probabilities. Everything runs on CPU in float32, whatever the input dtype:
30 layers x 9 heads x 512^2 tokens is 70M weights (280 MB in float32, twice that in float64),
and float32 reductions over at most a few thousand keys are accurate to ~1e-6, far below any
threshold used here.

Head roles
----------
Each head gets *role scores*: the mean attention mass on the key that a role predicts.

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

A causal query at position 0 sees a single key and has no choice, so it says nothing about the
head; it is left out of every role score and of the normalised entropy (the raw ``entropy`` and
``mean_attention_distance`` average over every query, as documented on :class:`HeadResult`).
Offsets are limited to ``|d| <= (T-1)//2`` so every offset is backed by at least half of the
queries: the largest offset is otherwise scored by the last query alone, and a sink head (last
query -> key 0) would look like a perfect positional head.

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

Example:
    >>> import torch
    >>> t = 6
    >>> prev = torch.zeros(1, t, t)
    >>> prev[0, 0, 0] = 1.0
    >>> prev[0, torch.arange(1, t), torch.arange(t - 1)] = 1.0
    >>> res = analyze_attention({0: prev}, [0], list("abcdef"), list(range(t)),
    ...                         causal=True, num_layers=1, num_heads=1)
    >>> res.heads[0].role
    <HeadRole.PREVIOUS_TOKEN: 'previous_token'>
"""

from __future__ import annotations

import dataclasses
import enum
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from interp_services.core.errors import FieldViolation, InvalidArgument

__all__ = [
    "BROAD_THRESHOLD",
    "CHANCE_FACTOR",
    "ROLE_PRECEDENCE",
    "ROLE_THRESHOLD",
    "TIE_MARGIN",
    "AttentionResult",
    "HeadComparison",
    "HeadResult",
    "HeadRole",
    "HeadRoleScores",
    "LayerResult",
    "Link",
    "analyze_attention",
    "assign_role",
    "compare_attention",
]


class HeadRole(str, enum.Enum):
    """What a head mostly does; the proto enum value is ``HEAD_ROLE_<VALUE.upper()>``."""

    PREVIOUS_TOKEN = "previous_token"
    CURRENT_TOKEN = "current_token"
    FIRST_TOKEN = "first_token"
    POSITIONAL_OFFSET = "positional_offset"
    BROAD = "broad"
    INDUCTION = "induction"
    MIXED = "mixed"
    NEXT_TOKEN = "next_token"


ROLE_THRESHOLD = 0.4
"""Minimum mean attention mass on the predicted key(s) for a mass role (see module docstring)."""
CHANCE_FACTOR = 1.5
"""A mass role must also score this many times what uniform attention scores on the input."""
BROAD_THRESHOLD = 0.8
"""Minimum mean normalised entropy for ``BROAD`` when no mass role is eligible."""
TIE_MARGIN = 0.05
"""Scores within this of the best are ties, broken by ``ROLE_PRECEDENCE``."""
ROLE_PRECEDENCE: tuple[HeadRole, ...] = (
    HeadRole.PREVIOUS_TOKEN,
    HeadRole.CURRENT_TOKEN,
    HeadRole.NEXT_TOKEN,
    HeadRole.FIRST_TOKEN,
    HeadRole.INDUCTION,
    HeadRole.POSITIONAL_OFFSET,
)
"""Tie-break order among mass roles: fixed-key roles before induction before offsets."""

# Ordering used for determinism wherever roles are counted (specific roles before generic ones).
_ROLE_ORDER: tuple[HeadRole, ...] = (*ROLE_PRECEDENCE, HeadRole.BROAD, HeadRole.MIXED)

_ROLE_PHRASE: dict[HeadRole, str] = {
    HeadRole.PREVIOUS_TOKEN: "previous-token",
    HeadRole.CURRENT_TOKEN: "current-token",
    HeadRole.FIRST_TOKEN: "first-token (sink)",
    HeadRole.POSITIONAL_OFFSET: "positional",
    HeadRole.BROAD: "broad",
    HeadRole.INDUCTION: "induction",
    HeadRole.MIXED: "mixed",
    HeadRole.NEXT_TOKEN: "next-token",
}

MAX_FINDINGS = 10
_DTYPE = torch.float32
_MAX_HEAD_FINDINGS = 6
# Row sums of bf16/fp16 patterns are off by up to ~1e-2; anything further is not a softmax.
_ROW_SUM_TOL = 2e-2
_MASK_TOL = 1e-3


@dataclass
class HeadRoleScores:
    """Role scores of one head (see the module docstring for each definition).

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
            first key is removed and each row renormalised (see :func:`_beyond_sink`); equal
            to ``role`` for every other head.
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
    """One strong query -> key attention weight."""

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
    """Everything :func:`analyze_attention` found for one input.

    Attributes:
        tokens: Token strings, length ``T``.
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
    """One head's behaviour across several inputs (:func:`compare_attention`).

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


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _invalid(reason: str, message: str, field: str) -> InvalidArgument:
    return InvalidArgument(
        reason=reason, message=message, violations=[FieldViolation(field=field, description=message)]
    )


def _validate(
    patterns: Mapping[int, torch.Tensor],
    heads: Sequence[int],
    tokens: Sequence[str],
    token_ids: Sequence[int],
    causal: bool,
    num_layers: int,
    num_heads: int,
    top_k_links: int,
) -> dict[int, torch.Tensor]:
    """Check the inputs and return the patterns as float32 CPU tensors keyed by layer."""
    if num_layers < 1 or num_heads < 1:
        raise _invalid(
            "INVALID_MODEL_SHAPE",
            f"num_layers and num_heads must be positive, got {num_layers} and {num_heads}",
            "num_layers" if num_layers < 1 else "num_heads",
        )
    if top_k_links < 0:
        raise _invalid("INVALID_TOP_K", f"top_k_links must be >= 0, got {top_k_links}", "top_k_links")
    t = len(tokens)
    if t == 0:
        raise _invalid("EMPTY_INPUT", "at least one token is needed", "tokens")
    if len(token_ids) != t:
        raise _invalid(
            "TOKEN_COUNT_MISMATCH",
            f"{len(token_ids)} token ids for {t} tokens",
            "token_ids",
        )
    if not patterns:
        raise _invalid("EMPTY_INPUT", "no attention patterns given", "patterns")
    if len(heads) == 0:
        raise _invalid("EMPTY_INPUT", "no heads given", "heads")
    if len(set(heads)) != len(heads):
        raise _invalid("DUPLICATE_HEAD", f"heads contains duplicates: {list(heads)}", "heads")
    for i, h in enumerate(heads):
        if not 0 <= h < num_heads:
            raise _invalid("HEAD_OUT_OF_RANGE", f"head {h} is outside [0, {num_heads})", f"heads[{i}]")
    out: dict[int, torch.Tensor] = {}
    for layer in sorted(patterns):
        field = f"patterns[{layer}]"
        if not 0 <= layer < num_layers:
            raise _invalid("LAYER_OUT_OF_RANGE", f"layer {layer} is outside [0, {num_layers})", field)
        pat = patterns[layer]
        if tuple(pat.shape) != (len(heads), t, t):
            raise _invalid(
                "ATTENTION_SHAPE_MISMATCH",
                f"expected shape {[len(heads), t, t]} (heads, queries, keys), got {list(pat.shape)}",
                field,
            )
        a = pat.detach().to(device="cpu", dtype=_DTYPE)
        row_sums = a.sum(-1)
        # A sum of probabilities cannot overflow, so a non-finite row sum means a NaN or inf
        # inside the row; this saves a full pass over the tensor.
        if not bool(torch.isfinite(row_sums).all()):
            raise _invalid("ATTENTION_NOT_FINITE", "pattern contains NaN or infinity", field)
        lowest = float(a.min())
        if lowest < -_MASK_TOL or float((row_sums - 1.0).abs().max()) > _ROW_SUM_TOL:
            raise _invalid(
                "ATTENTION_NOT_NORMALIZED",
                "every query row must be a probability distribution over keys (>= 0, sums to 1)",
                field,
            )
        if causal and t > 1 and float(torch.triu(a, 1).abs().amax()) > _MASK_TOL:
            raise _invalid(
                "ATTENTION_NOT_CAUSAL",
                "pattern puts weight on future keys but causal=True",
                field,
            )
        # Tiny negative rounding noise would make x log x NaN.
        out[layer] = a.clamp_min(0.0) if lowest < 0.0 else a
    return out


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------


def _visible_keys(t: int, causal: bool) -> torch.Tensor:
    """``[T]`` number of keys each query can see."""
    if causal:
        return torch.arange(1, t + 1, dtype=_DTYPE)
    return torch.full((t,), float(t), dtype=_DTYPE)


def _uniform_pattern(t: int, causal: bool) -> torch.Tensor:
    """``[1, T, T]`` uniform attention over the visible keys (the chance baseline)."""
    a = torch.ones(t, t, dtype=_DTYPE)
    if causal:
        a = a.tril()
    return (a / a.sum(-1, keepdim=True))[None]


def _induction_targets(token_ids: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys an induction head would attend to.

    Args:
        token_ids: The ``T`` token ids.

    Returns:
        ``targets`` ``[T, T]`` bool, True at ``(q, j+1)`` for every ``j < q`` with
        ``token_ids[j] == token_ids[q]``; and ``defined`` ``[T]`` bool, True for queries with at
        least one such ``j``.
    """
    ids = torch.as_tensor(list(token_ids), dtype=torch.long)
    t = ids.numel()
    same = ids[:, None] == ids[None, :]
    occ = same & torch.ones(t, t, dtype=torch.bool).tril(-1)  # j < q, same token
    targets = torch.zeros_like(occ)
    targets[:, 1:] = occ[:, :-1]  # the token after each earlier occurrence: key j + 1 <= q
    return targets, occ.any(dim=1)


def _diag_mean(a: torch.Tensor, offset: int, queries: torch.Tensor | None = None) -> torch.Tensor:
    """Per head mean of ``A[q, q+offset]`` over the queries where that key exists.

    Args:
        a: ``[H, T, T]``.
        offset: Key minus query position.
        queries: Optional ``[T]`` bool restricting which queries count.

    Returns:
        ``[H]``; zeros when no query qualifies.
    """
    h = a.shape[0]
    diag = torch.diagonal(a, offset=offset, dim1=-2, dim2=-1)  # [H, T-|offset|]
    q_start = max(0, -offset)  # the first query that has a key at q + offset
    if queries is not None:
        diag = diag[:, queries[q_start : q_start + diag.shape[1]]]
    if diag.shape[1] == 0:
        return torch.zeros(h, dtype=_DTYPE)
    return diag.mean(dim=1)


def _entropies(a: torch.Tensor, causal: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per head mean entropy (nats) and mean normalised entropy, each ``[H]``."""
    t = a.shape[-1]
    ent = -torch.special.xlogy(a, a).sum(-1)  # [H, T]; xlogy makes 0 log 0 = 0
    keys = _visible_keys(t, causal)
    choice = keys > 1  # a query with one visible key has no choice: skip it when normalising
    if bool(choice.any()):
        norm = (ent[:, choice] / keys[choice].log()).mean(dim=1).clamp(0.0, 1.0)
    else:
        norm = torch.zeros(a.shape[0], dtype=_DTYPE)
    return ent.mean(dim=1), norm


def _role_scores(
    a: torch.Tensor,
    causal: bool,
    targets: torch.Tensor,
    defined: torch.Tensor,
    broad: torch.Tensor,
) -> list[HeadRoleScores]:
    """Role scores of every head in ``a`` (``[H, T, T]``); see the module docstring."""
    h, t, _ = a.shape
    choice = _visible_keys(t, causal) > 1
    prev = _diag_mean(a, -1)
    cur = _diag_mean(a, 0, choice)
    first = a[:, 1:, 0].mean(dim=1) if t > 1 else torch.zeros(h, dtype=_DTYPE)
    nxt = torch.zeros(h, dtype=_DTYPE) if causal else _diag_mean(a, 1)

    # Offsets |d| in [2, (T-1)//2]: each one is backed by at least half of the queries.
    max_d = (t - 1) // 2
    offsets = [-d for d in range(2, max_d + 1)]
    if not causal:
        offsets = [x for d in range(2, max_d + 1) for x in (-d, d)]
    if offsets:
        per_offset = torch.stack([_diag_mean(a, d) for d in offsets], dim=1)  # [H, n_offsets]
        # argmax returns the first maximum: offsets are ordered by |d|, earlier keys first.
        off_score, off_idx = per_offset.max(dim=1)
        best = [offsets[int(i)] for i in off_idx]
    else:
        off_score, best = torch.zeros(h, dtype=_DTYPE), [0] * h

    ind_defined = causal and bool(defined.any())
    if ind_defined:
        mass = (a * targets.to(a.dtype)).sum(-1)  # [H, T]
        ind = mass[:, defined].mean(dim=1)
    else:
        ind = torch.zeros(h, dtype=_DTYPE)

    return [
        HeadRoleScores(
            previous_token=float(prev[i]),
            current_token=float(cur[i]),
            first_token=float(first[i]),
            positional_offset=float(off_score[i]),
            best_offset=int(best[i]) if float(off_score[i]) > 0.0 else 0,
            broad=float(broad[i]),
            induction=float(ind[i]),
            induction_defined=ind_defined,
            next_token=float(nxt[i]),
        )
        for i in range(h)
    ]


def _mass_scores(scores: HeadRoleScores, causal: bool) -> dict[HeadRole, float]:
    """The candidate mass roles of a head, keyed by role, in ``ROLE_PRECEDENCE`` order."""
    out = {
        HeadRole.PREVIOUS_TOKEN: scores.previous_token,
        HeadRole.CURRENT_TOKEN: scores.current_token,
        HeadRole.NEXT_TOKEN: scores.next_token,
        HeadRole.FIRST_TOKEN: scores.first_token,
        HeadRole.INDUCTION: scores.induction,
        HeadRole.POSITIONAL_OFFSET: scores.positional_offset,
    }
    if causal:
        del out[HeadRole.NEXT_TOKEN]
    if not scores.induction_defined:
        del out[HeadRole.INDUCTION]
    return out


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
    candidates = _mass_scores(scores, causal)
    chance = _mass_scores(baseline, causal) if baseline is not None else {}
    eligible = {
        role: score
        for role, score in candidates.items()
        if score >= ROLE_THRESHOLD and score >= CHANCE_FACTOR * chance.get(role, 0.0)
    }
    if not eligible:
        if scores.broad >= BROAD_THRESHOLD:
            return HeadRole.BROAD, scores.broad
        return HeadRole.MIXED, max(candidates.values(), default=0.0)
    best = max(eligible.values())
    for role in ROLE_PRECEDENCE:  # the first role within TIE_MARGIN of the best wins
        if role in eligible and eligible[role] >= best - TIE_MARGIN:
            return role, eligible[role]
    raise AssertionError("unreachable: the best eligible role is within the margin of itself")


@dataclass(frozen=True)
class _SinkContext:
    """What :func:`_beyond_sink` needs about the input with its first token removed; built once
    per analysis, shared by every layer."""

    causal: bool
    uniform: torch.Tensor
    targets: torch.Tensor
    defined: torch.Tensor
    baseline: HeadRoleScores

    @staticmethod
    def build(t: int, causal: bool, token_ids: Sequence[int]) -> _SinkContext:
        uniform = _uniform_pattern(t - 1, causal)
        targets, defined = _induction_targets(token_ids[1:])
        _, uniform_broad = _entropies(uniform, causal)
        baseline = _role_scores(uniform, causal, targets, defined, uniform_broad)[0]
        return _SinkContext(causal, uniform, targets, defined, dataclasses.replace(baseline, first_token=0.0))


def _beyond_sink(a: torch.Tensor, ctx: _SinkContext) -> list[tuple[HeadRole, float]]:
    """Roles of sink heads once the sink is taken out.

    Many LLM heads park most of their attention on the first token (a no-op "sink") and do their
    real work with the rest. Dropping the first key and query and renormalising each row shows
    that work: the relations the roles test (offset -1, self, earlier occurrence + 1, fixed
    offsets) are unchanged by the shift, so the same scoring applies. The first-token role is
    not a candidate here -- the new first token is no sink.

    Args:
        a: ``[H, T, T]`` patterns of the sink heads (``T > 2``).
        ctx: The shifted input, from :meth:`_SinkContext.build`.

    Returns:
        ``(role, score)`` per head.
    """
    rest = a[:, 1:, 1:].to(_DTYPE)
    total = rest.sum(-1, keepdim=True)
    # A query that put everything on the sink has nothing left: treat it as uniform (no role).
    rest = torch.where(total > 1e-6, rest / total.clamp(min=1e-12), ctx.uniform.expand_as(rest))
    _, norm = _entropies(rest, ctx.causal)
    out = []
    for sc in _role_scores(rest, ctx.causal, ctx.targets, ctx.defined, norm):
        role, score = assign_role(dataclasses.replace(sc, first_token=0.0), causal=ctx.causal, baseline=ctx.baseline)
        out.append((role, float(score)))
    return out


# --------------------------------------------------------------------------------------------
# Links, layers and findings
# --------------------------------------------------------------------------------------------


def _hotspots(
    pats: Mapping[int, torch.Tensor],
    heads: Sequence[int],
    tokens: Sequence[str],
    k: int,
) -> list[Link]:
    """The ``k`` strongest links over all heads, excluding ``q == k`` and the sink key 0."""
    if k == 0:
        return []
    found: list[tuple[float, int, int, int, int]] = []
    for layer, a in pats.items():
        t = a.shape[-1]
        # Self-attention and the first-token sink are the default resting places of attention,
        # not relations between tokens; they would otherwise fill the whole list.
        keep = ~torch.eye(t, dtype=torch.bool)
        keep[:, 0] = False
        flat = torch.where(keep, a, torch.zeros((), dtype=a.dtype)).reshape(-1)
        top = torch.topk(flat, min(k, flat.numel()))
        for w, idx in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            if w <= 0.0:
                continue
            hi, rem = divmod(idx, t * t)
            q, key = divmod(rem, t)
            found.append((w, layer, heads[hi], q, key))
    found.sort(key=lambda x: (-x[0], x[1], x[2], x[3], x[4]))
    return [Link(layer, head, q, key, tokens[q], tokens[key], w) for w, layer, head, q, key in found[:k]]


def _dominant(counts: Counter[HeadRole]) -> HeadRole:
    """Most frequent role; ties go to the role first in ``_ROLE_ORDER``."""
    top = max(counts.values())
    return next(r for r in _ROLE_ORDER if counts.get(r, 0) == top)


def _quote(token: str) -> str:
    """A token as a reader should see it: quoted, with control characters escaped."""
    shown = token.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace('"', '\\"')
    return f'"{shown}"'


def _head_line(h: HeadResult) -> str:
    if h.role is HeadRole.POSITIONAL_OFFSET:
        what = f"positional head, offset {h.scores.best_offset:+d}"
    else:
        what = f"{_ROLE_PHRASE[h.role]} head"
    line = f"Layer {h.layer}, Head {h.head}: {what} (score {h.role_score:.2f})"
    if h.role is HeadRole.FIRST_TOKEN and h.role_beyond_sink not in (HeadRole.MIXED, HeadRole.BROAD, None):
        rest = h.role_beyond_sink
        assert rest is not None
        line += f"; beyond the sink, {_ROLE_PHRASE[rest]} ({h.role_beyond_sink_score:.2f})"
    return line


def _findings(
    heads: list[HeadResult], layers: list[LayerResult], hotspots: list[Link], causal: bool
) -> list[str]:
    lines: list[str] = []
    counts = Counter(h.role for h in heads)
    census = ", ".join(f"{counts[r]} {_ROLE_PHRASE[r]}" for r in _ROLE_ORDER if counts.get(r))
    lines.append(f"Roles of {len(heads)} analyzed heads in {len(layers)} layers: {census}")
    sinks = [h for h in heads if h.role is HeadRole.FIRST_TOKEN]
    beyond = Counter(h.role_beyond_sink for h in sinks if h.role_beyond_sink not in (HeadRole.MIXED, HeadRole.BROAD))
    if beyond:
        named = ", ".join(f"{beyond[r]} {_ROLE_PHRASE[r]}" for r in _ROLE_ORDER if beyond.get(r))
        lines.append(f"Beyond the sink (first token removed), {sum(beyond.values())} of {len(sinks)} sink heads have a role: {named}")

    # The best head of each specific role first, so a lone induction head is not crowded out
    # by many strong sink heads; then the remaining specific heads by score.
    # Among sink heads, those that do something specific with the rest of their attention
    # are the informative ones.
    def _beyond_rank(h: HeadResult) -> int:
        specific_rest = h.role_beyond_sink not in (HeadRole.FIRST_TOKEN, HeadRole.MIXED, HeadRole.BROAD)
        return 0 if h.role is not HeadRole.FIRST_TOKEN or specific_rest else 1

    specific = sorted(
        (h for h in heads if h.role not in (HeadRole.BROAD, HeadRole.MIXED)),
        key=lambda h: (_beyond_rank(h), -h.role_score, h.layer, h.head),
    )
    chosen: list[HeadResult] = []
    for role in ROLE_PRECEDENCE:
        best = next((h for h in specific if h.role is role), None)
        if best is not None:
            chosen.append(best)
    chosen.sort(key=lambda h: (_beyond_rank(h), -h.role_score, h.layer, h.head))
    chosen += [h for h in specific if h not in chosen]
    lines += [_head_line(h) for h in chosen[:_MAX_HEAD_FINDINGS]]

    if hotspots:
        s = hotspots[0]
        lines.append(
            f"Strongest link: {_quote(s.query_token)} attends to {_quote(s.key_token)}: "
            f"{s.weight:.2f} (L{s.layer} H{s.head})"
        )
    if len(layers) > 1:
        diffuse = max(layers, key=lambda r: (r.mean_entropy, -r.layer))
        focused = min(layers, key=lambda r: (r.mean_entropy, r.layer))
        lines.append(
            f"Layer-wise: attention is most diffuse in layer {diffuse.layer} "
            f"(mean entropy {diffuse.mean_entropy:.2f} nats) and most focused in layer "
            f"{focused.layer} ({focused.mean_entropy:.2f} nats)"
        )
    elif layers:
        only = layers[0]
        lines.append(
            f"Layer {only.layer}: mean entropy {only.mean_entropy:.2f} nats, mean attention "
            f"distance {only.mean_attention_distance:.1f} tokens, mostly {_ROLE_PHRASE[only.dominant_role]}"
        )
    if causal and heads and not heads[0].scores.induction_defined:
        lines.append(
            "No token repeats in this input, so induction cannot be tested; repeat a phrase to probe it"
        )
    return lines[:MAX_FINDINGS]


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def analyze_attention(
    patterns: Mapping[int, torch.Tensor],
    heads: Sequence[int],
    tokens: Sequence[str],
    token_ids: Sequence[int],
    *,
    causal: bool,
    num_layers: int,
    num_heads: int,
    top_k_links: int = 10,
) -> AttentionResult:
    """Score, name and summarise the attention heads of one input.

    Args:
        patterns: ``{layer: A}`` with ``A`` of shape ``[len(heads), T, T]`` (heads, queries,
            keys): softmaxed attention probabilities, each row summing to 1. Any float dtype or
            device; analysed in float32 on CPU.
        heads: The head index of each entry along ``A``'s first axis (the same for every layer).
        tokens: The ``T`` token strings (for links and findings).
        token_ids: The ``T`` token ids (induction compares ids, not strings).
        causal: True for decoder models; patterns must then be lower triangular.
        num_layers: Layers in the model (range check; reported back).
        num_heads: Heads per layer in the model (range check; reported back).
        top_k_links: How many hotspots to return.

    Returns:
        An :class:`AttentionResult`.

    Raises:
        InvalidArgument: On a shape mismatch, out-of-range layer or head, duplicate heads,
            rows that are not distributions, future weight when ``causal``, or no tokens.

    Example:
        >>> import torch
        >>> a = torch.full((1, 4, 4), 0.25)
        >>> res = analyze_attention({0: a}, [0], list("abcd"), [1, 2, 3, 4],
        ...                         causal=False, num_layers=1, num_heads=1)
        >>> res.heads[0].role, round(res.heads[0].normalized_entropy, 3)
        (<HeadRole.BROAD: 'broad'>, 1.0)
    """
    pats = _validate(patterns, heads, tokens, token_ids, causal, num_layers, num_heads, top_k_links)
    t = len(tokens)
    targets, defined = _induction_targets(token_ids)
    positions = torch.arange(t, dtype=_DTYPE)
    distance = (positions[:, None] - positions[None, :]).abs()  # [T, T]

    uniform = _uniform_pattern(t, causal)
    _, uniform_broad = _entropies(uniform, causal)
    baseline = _role_scores(uniform, causal, targets, defined, uniform_broad)[0]

    head_results: list[HeadResult] = []
    layer_results: list[LayerResult] = []
    sink_ctx: _SinkContext | None = None  # built on the first layer that has a sink head
    for layer, a in pats.items():
        ent, norm = _entropies(a, causal)
        dist = (a * distance).sum(-1).mean(-1)  # [H]
        scores = _role_scores(a, causal, targets, defined, norm)
        this_layer: list[HeadResult] = []
        for i, head in enumerate(heads):
            role, role_score = assign_role(scores[i], causal=causal, baseline=baseline)
            this_layer.append(
                HeadResult(
                    layer=layer,
                    head=int(head),
                    entropy=float(ent[i]),
                    normalized_entropy=float(norm[i]),
                    role=role,
                    role_score=float(role_score),
                    scores=scores[i],
                    mean_attention_distance=float(dist[i]),
                )
            )
        sinks = [i for i, h in enumerate(this_layer) if h.role is HeadRole.FIRST_TOKEN]
        if sinks and t > 2:
            if sink_ctx is None:
                sink_ctx = _SinkContext.build(t, causal, token_ids)
            rest = _beyond_sink(a[sinks], sink_ctx)
            for i, (r, sc) in zip(sinks, rest, strict=True):
                this_layer[i].role_beyond_sink, this_layer[i].role_beyond_sink_score = r, sc
        this_layer.sort(key=lambda h: h.head)
        counts = Counter(h.role for h in this_layer)
        layer_results.append(
            LayerResult(
                layer=layer,
                mean_entropy=float(ent.mean()),
                mean_attention_distance=float(dist.mean()),
                dominant_role=_dominant(counts),
                role_counts={r: counts[r] for r in _ROLE_ORDER if counts.get(r)},
            )
        )
        head_results += this_layer

    hotspots = _hotspots(pats, heads, tokens, top_k_links)
    return AttentionResult(
        tokens=list(tokens),
        token_ids=[int(i) for i in token_ids],
        causal=causal,
        num_layers=num_layers,
        num_heads=num_heads,
        heads=head_results,
        layers=layer_results,
        hotspots=hotspots,
        findings=_findings(head_results, layer_results, hotspots, causal),
    )


def compare_attention(results: Sequence[AttentionResult]) -> tuple[list[HeadComparison], list[str]]:
    """Compare head roles and entropies across several inputs.

    Only heads analysed in every result are compared.

    Args:
        results: Outputs of :func:`analyze_attention` for different inputs to the same model.

    Returns:
        ``(comparisons, findings)``: one :class:`HeadComparison` per shared head ordered by
        (layer, head), and at most ``MAX_FINDINGS`` English lines.

    Raises:
        InvalidArgument: When ``results`` is empty.

    Example:
        >>> import torch
        >>> a = torch.full((1, 4, 4), 0.25)
        >>> r = analyze_attention({0: a}, [0], list("abcd"), [1, 2, 3, 4],
        ...                       causal=False, num_layers=1, num_heads=1)
        >>> comps, _ = compare_attention([r, r])
        >>> comps[0].consensus_role, comps[0].role_agreement
        (<HeadRole.BROAD: 'broad'>, 1.0)
    """
    if not results:
        raise _invalid("EMPTY_INPUT", "at least one attention result is needed", "results")
    per_input = [{(h.layer, h.head): h for h in r.heads} for r in results]
    shared = sorted(set.intersection(*(set(m) for m in per_input)))
    n = len(results)
    comparisons: list[HeadComparison] = []
    for key in shared:
        found = [m[key] for m in per_input]
        counts = Counter(h.role for h in found)
        consensus = _dominant(counts)
        entropies = [h.entropy for h in found]
        comparisons.append(
            HeadComparison(
                layer=key[0],
                head=key[1],
                consensus_role=consensus,
                role_agreement=counts[consensus] / n,
                mean_entropy=statistics.fmean(entropies),
                entropy_std=statistics.pstdev(entropies),
            )
        )
    if not comparisons:
        return [], [f"The {n} inputs share no analyzed heads, so there is nothing to compare"]

    stable = [c for c in comparisons if c.role_agreement == 1.0]
    lines = [
        f"Compared {n} inputs on {len(comparisons)} shared heads: {len(stable)} keep the same "
        f"role in every input"
    ]
    # Heads with a specific, stable role are the ones worth reporting as robust findings.
    robust = sorted(
        (c for c in comparisons if c.consensus_role not in (HeadRole.BROAD, HeadRole.MIXED)),
        key=lambda c: (-c.role_agreement, c.layer, c.head),
    )
    for c in robust[:5]:
        agree = round(c.role_agreement * n)
        lines.append(
            f"Layer {c.layer}, Head {c.head}: {_ROLE_PHRASE[c.consensus_role]} head in {agree}/{n} inputs"
        )
    unstable = sorted(comparisons, key=lambda c: (c.role_agreement, -c.entropy_std, c.layer, c.head))
    if n > 1 and unstable[0].role_agreement < 1.0:
        c = unstable[0]
        lines.append(
            f"Least stable: Layer {c.layer}, Head {c.head} ({_ROLE_PHRASE[c.consensus_role]} in only "
            f"{round(c.role_agreement * n)}/{n} inputs)"
        )
    if n > 1:
        varied = max(comparisons, key=lambda c: (c.entropy_std, -c.layer, -c.head))
        if varied.entropy_std > 1e-9:  # identical inputs differ only by float rounding
            lines.append(
                f"Entropy varies most in Layer {varied.layer}, Head {varied.head}: "
                f"{varied.mean_entropy:.2f} +/- {varied.entropy_std:.2f} nats"
            )
    return comparisons, lines[:MAX_FINDINGS]
