"""Unit tests of ``interp_services.core.attention`` on hand-built patterns with known answers."""

from __future__ import annotations

import dataclasses
import math
import statistics

import pytest
import torch

import interp_services.core.attention.analyze as analyze_module
from interp_services.core.attention import (
    ROLE_DEFINITIONS,
    ROLE_PRECEDENCE,
    ROLE_THRESHOLD,
    AttentionResult,
    HeadRole,
    HeadRoleScores,
    Induction,
    Key,
    Offset,
    OffsetFamily,
    analyze_attention,
    assign_role,
    compare_attention,
)
from interp_services.core.attention.patterns import Input, MaskTarget
from interp_services.core.attention.roles import ROLE_PHRASE
from interp_services.core.attention.scoring import TargetScorer
from interp_services.core.errors import InvalidArgument
from interp_services.core.reasons import Reason

# --------------------------------------------------------------------------------------------
# Pattern builders: each returns [T, T] with rows summing to 1.
# --------------------------------------------------------------------------------------------


def one_hot_rows(keys: list[int]) -> torch.Tensor:
    """Row q puts all its weight on key ``keys[q]``."""
    t = len(keys)
    a = torch.zeros(t, t)
    a[torch.arange(t), torch.tensor(keys)] = 1.0
    return a


def previous_token(t: int) -> torch.Tensor:
    return one_hot_rows([max(q - 1, 0) for q in range(t)])


def identity(t: int) -> torch.Tensor:
    return torch.eye(t)


def sink(t: int) -> torch.Tensor:
    return one_hot_rows([0] * t)


def uniform(t: int, causal: bool = True) -> torch.Tensor:
    a = torch.ones(t, t)
    if causal:
        a = a.tril()
    return a / a.sum(-1, keepdim=True)


def offset(t: int, d: int) -> torch.Tensor:
    """Causal head attending ``d`` (< 0) tokens back; queries without such a key use the sink."""
    return one_hot_rows([q + d if q + d >= 0 else 0 for q in range(t)])


def next_token(t: int) -> torch.Tensor:
    """Bidirectional head attending to the following token (the last token attends to itself)."""
    return one_hot_rows([min(q + 1, t - 1) for q in range(t)])


def random_causal(t: int, heads: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(heads, t, t, generator=g) * 2.0
    logits = logits.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    return logits.softmax(-1)


def analyze(
    pattern: torch.Tensor,
    token_ids: list[int] | None = None,
    *,
    causal: bool = True,
    top_k_links: int = 10,
) -> AttentionResult:
    """Run one single-head layer (layer 0, head 0) through ``analyze_attention``."""
    t = pattern.shape[-1]
    ids = list(range(t)) if token_ids is None else token_ids
    return analyze_attention(
        {0: pattern[None]},
        [0],
        [f"t{i}" for i in ids],
        ids,
        causal=causal,
        num_layers=1,
        num_heads=1,
        top_k_links=top_k_links,
    )


REPEAT_PERIOD = 8
REPEATED_IDS = [5, 9, 2, 7, 11, 3, 8, 4] * 2  # a random sequence of period 8, seen twice


def induction_pattern(ids: list[int]) -> torch.Tensor:
    """Each query attends to the token after the last earlier occurrence of itself, else key 0."""
    keys = []
    for q, tok in enumerate(ids):
        earlier = [j for j in range(q) if ids[j] == tok]
        keys.append(earlier[-1] + 1 if earlier else 0)
    return one_hot_rows(keys)


# --------------------------------------------------------------------------------------------
# Roles of pure patterns
# --------------------------------------------------------------------------------------------


def test_previous_token_head() -> None:
    head = analyze(previous_token(12)).heads[0]
    assert head.role is HeadRole.PREVIOUS_TOKEN
    assert head.role_score == pytest.approx(1.0)
    assert head.scores.previous_token == pytest.approx(1.0)
    assert head.scores.current_token == pytest.approx(0.0)  # q = 0 has no choice: not counted
    assert head.scores.first_token == pytest.approx(1 / 11)  # only q = 1 -> key 0
    assert head.entropy == pytest.approx(0.0)
    assert head.normalized_entropy == pytest.approx(0.0)
    assert head.mean_attention_distance == pytest.approx(11 / 12)  # q = 0 has distance 0


def test_identity_head() -> None:
    head = analyze(identity(10)).heads[0]
    assert head.role is HeadRole.CURRENT_TOKEN
    assert head.scores.current_token == pytest.approx(1.0)
    assert head.mean_attention_distance == pytest.approx(0.0)


def test_sink_head() -> None:
    head = analyze(sink(10)).heads[0]
    assert head.role is HeadRole.FIRST_TOKEN
    assert head.scores.first_token == pytest.approx(1.0)
    # The largest offsets are not allowed to mistake the sink for a positional head.
    assert head.scores.positional_offset < 0.5


def test_uniform_causal_head_is_broad() -> None:
    head = analyze(uniform(16)).heads[0]
    assert head.role is HeadRole.BROAD
    assert head.normalized_entropy == pytest.approx(1.0)
    assert head.scores.broad == pytest.approx(1.0)
    assert head.scores.previous_token < ROLE_THRESHOLD


def test_short_uniform_input_is_not_a_previous_token_head() -> None:
    # On 3 causal tokens uniform attention scores 0.42 on previous_token, above ROLE_THRESHOLD;
    # the chance test must keep it BROAD.
    head = analyze(uniform(3)).heads[0]
    assert head.scores.previous_token > ROLE_THRESHOLD
    assert head.role is HeadRole.BROAD


def test_fixed_offset_minus_three() -> None:
    head = analyze(offset(20, -3)).heads[0]
    assert head.role is HeadRole.POSITIONAL_OFFSET
    assert head.scores.best_offset == -3
    assert head.scores.positional_offset == pytest.approx(1.0)
    assert head.role_score == pytest.approx(1.0)
    assert head.mean_attention_distance == pytest.approx((3 * 17 + 1 + 2) / 20)


def test_bidirectional_next_token_head() -> None:
    result = analyze(next_token(10), causal=False)
    head = result.heads[0]
    assert head.role is HeadRole.NEXT_TOKEN
    assert head.scores.next_token == pytest.approx(1.0)
    assert not head.scores.induction_defined
    assert head.scores.induction == 0.0


def test_causal_model_has_no_next_token_score() -> None:
    assert analyze(previous_token(8)).heads[0].scores.next_token == 0.0


def test_bidirectional_uniform_normalised_by_all_keys() -> None:
    head = analyze(uniform(7, causal=False), causal=False).heads[0]
    assert head.entropy == pytest.approx(math.log(7))
    assert head.normalized_entropy == pytest.approx(1.0)
    assert head.role is HeadRole.BROAD


def test_mixed_head() -> None:
    t = 24
    a = torch.zeros(t, t)
    a[0, 0] = 1.0
    a[1, 0], a[1, 1] = 0.7, 0.3
    for q in range(2, t):
        a[q, q - 1], a[q, 0], a[q, q] = 0.35, 0.35, 0.3
    head = analyze(a).heads[0]
    assert head.role is HeadRole.MIXED
    assert head.role_score == pytest.approx(max(head.scores.previous_token, head.scores.first_token))


# --------------------------------------------------------------------------------------------
# Induction versus previous-token and positional heads on repeated text
# --------------------------------------------------------------------------------------------


def test_induction_head_on_repeated_sequence() -> None:
    head = analyze(induction_pattern(REPEATED_IDS), REPEATED_IDS).heads[0]
    assert head.scores.induction_defined
    assert head.scores.induction == pytest.approx(1.0)
    # On exactly periodic text the induction target sits at the fixed offset -(P - 1); the
    # tie-break must still call it induction.
    assert head.scores.best_offset == -(REPEAT_PERIOD - 1)
    assert head.scores.positional_offset == pytest.approx(1.0)
    assert head.role is HeadRole.INDUCTION
    assert head.role_score == pytest.approx(1.0)


def test_previous_token_head_on_repeated_sequence_is_not_induction() -> None:
    head = analyze(previous_token(16), REPEATED_IDS).heads[0]
    assert head.scores.induction == pytest.approx(0.0)
    assert head.role is HeadRole.PREVIOUS_TOKEN


def test_induction_score_counts_every_earlier_occurrence() -> None:
    ids = [1, 2, 1, 3, 1]
    a = torch.zeros(5, 5)
    a[0, 0] = 1.0
    a[1, 0] = 1.0
    a[2, 1] = 1.0  # 2 follows the first 1
    a[3, 0] = 1.0  # 3 never occurred before: not an induction query
    a[4, 1], a[4, 3] = 0.5, 0.5  # tokens after both earlier 1s
    head = analyze(a, ids).heads[0]
    assert head.scores.induction == pytest.approx(1.0)


def test_two_cycle_tie_goes_to_previous_token() -> None:
    # In "a b a b ..." the token after the earlier "a" IS the previous token: both scores are 1.
    ids = [0, 1] * 6
    head = analyze(previous_token(12), ids).heads[0]
    assert head.scores.induction == pytest.approx(1.0)
    assert head.scores.previous_token == pytest.approx(1.0)
    assert head.role is HeadRole.PREVIOUS_TOKEN


def test_induction_undefined_without_repeats() -> None:
    result = analyze(previous_token(8))
    assert not result.heads[0].scores.induction_defined
    assert any("induction" in line for line in result.findings)


def test_assign_role_tie_break_order() -> None:
    scores = HeadRoleScores(
        previous_token=0.1,
        current_token=0.1,
        first_token=0.1,
        positional_offset=0.92,
        best_offset=-5,
        broad=0.3,
        induction=0.9,
        induction_defined=True,
        next_token=0.0,
    )
    assert assign_role(scores, causal=True) == (HeadRole.INDUCTION, 0.9)
    scores.induction_defined = False  # without repeats the same head is positional
    assert assign_role(scores, causal=True) == (HeadRole.POSITIONAL_OFFSET, 0.92)


# --------------------------------------------------------------------------------------------
# Entropy, layers, hotspots, findings
# --------------------------------------------------------------------------------------------


def test_entropy_matches_direct_computation() -> None:
    t, h = 9, 3
    pats = random_causal(t, h, seed=3)
    result = analyze_attention(
        {2: pats}, [0, 1, 2], list("abcdefghi"), list(range(t)), causal=True, num_layers=4, num_heads=3
    )
    for i, head in enumerate(result.heads):
        rows = [[float(pats[i, q, k]) for k in range(q + 1)] for q in range(t)]
        ents = [-sum(p * math.log(p) for p in row if p > 0) for row in rows]
        assert head.entropy == pytest.approx(sum(ents) / t, rel=1e-5)
        norm = [ents[q] / math.log(q + 1) for q in range(1, t)]  # q = 0 sees one key: skipped
        assert head.normalized_entropy == pytest.approx(sum(norm) / (t - 1), rel=1e-5)
        dist = [sum(p * abs(q - k) for k, p in enumerate(rows[q])) for q in range(t)]
        assert head.mean_attention_distance == pytest.approx(sum(dist) / t, rel=1e-5)
    assert result.layers[0].layer == 2
    assert result.layers[0].mean_entropy == pytest.approx(statistics.fmean(hd.entropy for hd in result.heads))


def test_layers_heads_and_roles_are_summarised() -> None:
    t = 12
    layer0 = torch.stack([previous_token(t), previous_token(t), sink(t)])
    layer3 = torch.stack([uniform(t), identity(t), uniform(t)])
    result = analyze_attention(
        {3: layer3, 0: layer0},
        [4, 1, 2],  # heads need not be sorted
        [f"w{i}" for i in range(t)],
        list(range(t)),
        causal=True,
        num_layers=4,
        num_heads=6,
    )
    assert [(h.layer, h.head) for h in result.heads] == [(0, 1), (0, 2), (0, 4), (3, 1), (3, 2), (3, 4)]
    roles = {(h.layer, h.head): h.role for h in result.heads}
    assert roles[(0, 4)] is HeadRole.PREVIOUS_TOKEN
    assert roles[(0, 2)] is HeadRole.FIRST_TOKEN
    assert roles[(3, 1)] is HeadRole.CURRENT_TOKEN
    assert [r.layer for r in result.layers] == [0, 3]
    assert result.layers[0].dominant_role is HeadRole.PREVIOUS_TOKEN
    assert result.layers[0].role_counts == {HeadRole.PREVIOUS_TOKEN: 2, HeadRole.FIRST_TOKEN: 1}
    assert result.layers[1].dominant_role is HeadRole.BROAD
    assert (result.num_layers, result.num_heads) == (4, 6)
    assert "Layer 0, Head 4: previous-token head (score 1.00)" in result.findings
    assert any(line.startswith("Layer-wise:") for line in result.findings)
    assert len(result.findings) <= 10


def test_hotspots_order_and_exclusions() -> None:
    t = 6
    a = torch.zeros(2, t, t)
    a[:, :, 0] = 1.0  # everything on the sink ...
    a[0, 3, 0], a[0, 3, 1] = 0.1, 0.9  # ... except a few strong links
    a[1, 5, 0], a[1, 5, 2] = 0.3, 0.7
    a[1, 4, 0], a[1, 4, 4] = 0.05, 0.95  # self-attention: excluded
    tokens = ["The", "quick", "brown", "fox", "jumps", "over"]
    result = analyze_attention(
        {7: a}, [1, 3], tokens, list(range(t)), causal=True, num_layers=8, num_heads=4, top_k_links=5
    )
    links = result.hotspots
    assert [(lk.layer, lk.head, lk.query_position, lk.key_position) for lk in links] == [
        (7, 1, 3, 1),
        (7, 3, 5, 2),
    ]
    assert links[0].weight == pytest.approx(0.9)
    assert (links[0].query_token, links[0].key_token) == ("fox", "quick")
    assert all(lk.key_position != 0 and lk.key_position != lk.query_position for lk in links)
    assert 'Strongest link: "fox" attends to "quick": 0.90 (L7 H1)' in result.findings


def test_hotspots_top_k_limits_and_sorts() -> None:
    pats = random_causal(10, 2, seed=1)
    result = analyze_attention(
        {0: pats},
        [0, 1],
        list("abcdefghij"),
        list(range(10)),
        causal=True,
        num_layers=1,
        num_heads=2,
        top_k_links=7,
    )
    weights = [lk.weight for lk in result.hotspots]
    assert len(weights) == 7
    assert weights == sorted(weights, reverse=True)
    mask = ~torch.eye(10, dtype=torch.bool)
    mask[:, 0] = False
    expected = torch.topk(pats[:, mask].reshape(-1), 7).values.tolist()
    assert weights == pytest.approx(expected)
    assert analyze(previous_token(5), top_k_links=0).hotspots == []


def test_low_precision_input_is_accepted() -> None:
    head = analyze(previous_token(10).to(torch.bfloat16)).heads[0]
    assert head.role is HeadRole.PREVIOUS_TOKEN


def test_single_token_input() -> None:
    head = analyze(torch.ones(1, 1)).heads[0]
    assert head.entropy == 0.0
    assert head.normalized_entropy == 0.0
    assert head.role is HeadRole.MIXED


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "reason", "field"),
    [
        ({"patterns": {0: torch.eye(4)[None]}, "tokens": list("abc")}, Reason.TOKEN_COUNT_MISMATCH, "token_ids"),
        ({"display_tokens": list("abc")}, Reason.TOKEN_COUNT_MISMATCH, "display_tokens"),
        ({"patterns": {0: torch.eye(4)}}, Reason.ATTENTION_SHAPE_MISMATCH, "patterns[0]"),
        ({"patterns": {0: torch.full((1, 4, 4), 0.5)}}, Reason.ATTENTION_NOT_NORMALIZED, "patterns[0]"),
        ({"patterns": {0: uniform(4, causal=False)[None]}}, Reason.ATTENTION_NOT_CAUSAL, "patterns[0]"),
        ({"patterns": {5: torch.eye(4)[None]}}, Reason.LAYER_OUT_OF_RANGE, "patterns[5]"),
        ({"heads": [2]}, Reason.HEAD_OUT_OF_RANGE, "heads[0]"),
        ({"heads": [1, 1]}, Reason.HEAD_DUPLICATE, "heads"),
        ({"heads": []}, Reason.INPUT_EMPTY, "heads"),
        ({"patterns": {}}, Reason.INPUT_EMPTY, "patterns"),
        ({"tokens": [], "token_ids": []}, Reason.INPUT_EMPTY, "tokens"),
        ({"top_k_links": -1}, Reason.TOP_K_OUT_OF_RANGE, "top_k_links"),
        ({"num_heads": 0}, Reason.MODEL_SHAPE_INVALID, "num_heads"),
        ({"patterns": {0: torch.full((1, 4, 4), float("nan"))}}, Reason.ATTENTION_NOT_FINITE, "patterns[0]"),
    ],
)
def test_invalid_inputs(kwargs: dict, reason: Reason, field: str) -> None:
    args: dict = {
        "patterns": {0: torch.eye(4)[None]},
        "heads": [0],
        "tokens": list("abcd"),
        "token_ids": [0, 1, 2, 3],
        "causal": True,
        "num_layers": 2,
        "num_heads": 2,
    }
    args.update(kwargs)
    if len(args["tokens"]) != len(args["token_ids"]) and "token_ids" not in kwargs:
        args["token_ids"] = [0, 1, 2, 3]
    with pytest.raises(InvalidArgument) as err:
        analyze_attention(**args)
    assert err.value.reason is reason
    assert [v.field for v in err.value.violations] == [field]


def test_errors_are_reported_in_layer_order() -> None:
    """A bad value in an earlier layer is reported before a bad shape or range in a later one,
    and the causality check still catches future weight that the diagonal-sum shortcut cannot
    rule out (a negative weight elsewhere in the layer)."""
    base: dict = {"heads": [0], "tokens": list("abcd"), "token_ids": [0, 1, 2, 3], "causal": True}
    base |= {"num_layers": 8, "num_heads": 1}
    nan = torch.full((1, 4, 4), float("nan"))
    with pytest.raises(InvalidArgument) as err:
        analyze_attention({1: nan, 3: torch.eye(4), 7: torch.eye(4)[None]}, **base)
    assert (err.value.reason, err.value.violations[0].field) == (Reason.ATTENTION_NOT_FINITE, "patterns[1]")
    with pytest.raises(InvalidArgument) as err:
        analyze_attention({1: torch.eye(4)[None], 3: torch.eye(4), 9: nan}, **base)
    assert (err.value.reason, err.value.violations[0].field) == (Reason.ATTENTION_SHAPE_MISMATCH, "patterns[3]")
    leaky = torch.eye(4)[None].clone()
    # 0.0015 on a future key, hidden from a plain sum by -0.0008 on another (within the noise
    # tolerated below zero): future weight sums to 0.0007 but its largest is over the tolerance.
    leaky[0, 1, 1], leaky[0, 1, 2], leaky[0, 1, 3] = 0.9993, 0.0015, -0.0008
    with pytest.raises(InvalidArgument) as err:
        analyze_attention({0: torch.eye(4)[None], 2: leaky}, **base)
    assert (err.value.reason, err.value.violations[0].field) == (Reason.ATTENTION_NOT_CAUSAL, "patterns[2]")
    # Rounding noise below the tolerance is accepted, negative noise clamped away.
    quiet = torch.eye(4)[None].clone()
    quiet[0, 1, 1], quiet[0, 1, 3], quiet[0, 2, 0], quiet[0, 2, 2] = 0.9995, 5e-4, -5e-4, 1.0005
    head = analyze_attention({0: quiet}, **base).heads[0]
    assert head.role is HeadRole.CURRENT_TOKEN
    assert math.isfinite(head.entropy)


# --------------------------------------------------------------------------------------------
# compare_attention
# --------------------------------------------------------------------------------------------


def test_compare_attention_agreement_and_entropy() -> None:
    t = 10
    ids = list(range(t))
    toks = [str(i) for i in ids]

    def run(layer0: torch.Tensor, heads: list[int]) -> AttentionResult:
        return analyze_attention({0: layer0}, heads, toks, ids, causal=True, num_layers=1, num_heads=3)

    r1 = run(torch.stack([previous_token(t), sink(t)]), [0, 1])
    r2 = run(torch.stack([previous_token(t), uniform(t), identity(t)]), [0, 1, 2])
    r3 = run(torch.stack([uniform(t), sink(t)]), [0, 1])
    comps, findings = compare_attention([r1, r2, r3])
    assert [(c.layer, c.head) for c in comps] == [(0, 0), (0, 1)]  # head 2 is not in every result
    c0, c1 = comps
    assert c0.consensus_role is HeadRole.PREVIOUS_TOKEN
    assert c0.role_agreement == pytest.approx(2 / 3)
    assert c1.consensus_role is HeadRole.FIRST_TOKEN
    assert c1.role_agreement == pytest.approx(2 / 3)
    ents = [r1.heads[0].entropy, r2.heads[0].entropy, r3.heads[0].entropy]
    assert c0.mean_entropy == pytest.approx(statistics.fmean(ents))
    assert c0.entropy_std == pytest.approx(statistics.pstdev(ents))
    assert findings and findings[0].startswith("Compared 3 inputs on 2 shared heads")
    assert any("previous-token head in 2/3 inputs" in line for line in findings)


def test_compare_identical_results_agree_fully() -> None:
    r = analyze(previous_token(6))
    comps, _ = compare_attention([r, r])
    assert comps[0].role_agreement == 1.0
    assert comps[0].entropy_std == 0.0


def test_compare_requires_results() -> None:
    with pytest.raises(InvalidArgument) as err:
        compare_attention([])
    assert err.value.reason is Reason.INPUT_EMPTY


def test_role_beyond_the_sink_names_what_a_sink_head_does_with_the_rest() -> None:
    """A head with 0.7 on the first token and 0.3 on the previous token is a sink head whose
    remaining attention is previous-token; one with the rest on itself is current-token."""
    t = 12
    prev = torch.zeros(t, t)
    cur = torch.zeros(t, t)
    for q in range(t):
        prev[q, 0] += 0.7 if q > 0 else 1.0
        cur[q, 0] += 0.7 if q > 0 else 1.0
        if q > 0:
            prev[q, q - 1] += 0.3
            cur[q, q] += 0.3
    tokens = [f"t{i}" for i in range(t)]
    res = analyze_attention({0: torch.stack([prev, cur])}, [0, 1], tokens, list(range(t)), causal=True, num_layers=1, num_heads=2)
    by_head = {h.head: h for h in res.heads}
    assert by_head[0].role is HeadRole.FIRST_TOKEN and by_head[1].role is HeadRole.FIRST_TOKEN
    assert by_head[0].role_beyond_sink is HeadRole.PREVIOUS_TOKEN
    assert by_head[1].role_beyond_sink is HeadRole.CURRENT_TOKEN
    # After removal every row that can look back puts all its remaining mass one step back
    # (the first remaining query has a single visible key and is not scored).
    assert by_head[0].role_beyond_sink_score == pytest.approx(1.0, abs=1e-5)
    assert by_head[0].role_score == pytest.approx((1.0 + 0.7 * (t - 2)) / (t - 1), abs=1e-5)  # q=1: prev is the sink
    assert any("beyond the sink, previous-token" in f for f in res.findings)


def test_role_beyond_the_sink_equals_role_for_other_heads() -> None:
    t = 6
    a = torch.zeros(1, t, t)
    a[0, 0, 0] = 1
    for q in range(1, t):
        a[0, q, q - 1] = 1
    res = analyze_attention({0: a}, [0], list("abcdef"), [1, 2, 3, 4, 5, 6], causal=True, num_layers=1, num_heads=1)
    h = res.heads[0]
    assert (h.role_beyond_sink, h.role_beyond_sink_score) == (h.role, h.role_score)


# --------------------------------------------------------------------------------------------
# Role definitions and the generic scorer
# --------------------------------------------------------------------------------------------


def test_every_role_definition_has_its_contract_fields() -> None:
    fields = {f.name for f in dataclasses.fields(HeadRoleScores)}
    assert ROLE_PRECEDENCE == tuple(d.role for d in ROLE_DEFINITIONS)
    for d in ROLE_DEFINITIONS:
        assert d.role.value in fields
        assert d.defined_field is None or d.defined_field in fields
        assert d.member_field is None or d.member_field in fields
    assert set(ROLE_PHRASE) == set(HeadRole)


def _role_pattern(role: HeadRole, t: int, ids: list[int], causal: bool) -> torch.Tensor:
    """A hand-built head that does exactly what ``role`` predicts (key 0 where it predicts nothing)."""
    if role is HeadRole.PREVIOUS_TOKEN:
        keys = [max(q - 1, 0) for q in range(t)]
    elif role is HeadRole.CURRENT_TOKEN:
        keys = list(range(t))
    elif role is HeadRole.NEXT_TOKEN:
        keys = [min(q + 1, t - 1) for q in range(t)]
    elif role is HeadRole.FIRST_TOKEN:
        keys = [0] * t
    elif role is HeadRole.INDUCTION:
        return induction_pattern(ids)
    else:  # POSITIONAL_OFFSET, 3 back (3 ahead too when bidirectional, from the first half)
        keys = [q - 3 if q >= 3 else (q + 3 if not causal else 0) for q in range(t)]
    return one_hot_rows(keys)


@pytest.mark.parametrize("causal", [True, False])
def test_a_head_built_for_each_role_is_named_that_role(causal: bool) -> None:
    ids = REPEATED_IDS
    t = len(ids)
    inp = Input.of(ids, causal)
    for d in ROLE_DEFINITIONS:
        if not d.models.allows(causal):
            continue
        head = analyze(_role_pattern(d.role, t, ids, causal), ids, causal=causal).heads[0]
        assert head.role is d.role, (d.role, head.scores)
        assert getattr(head.scores, d.role.value) == pytest.approx(1.0)
        # The score is the generic scorer's mean mass on the role's targets (best member).
        a = _role_pattern(d.role, t, ids, causal)[None]
        assert TargetScorer(d.pattern.resolve(inp), t)(a).max().item() == pytest.approx(1.0)
    positional = analyze(_role_pattern(HeadRole.POSITIONAL_OFFSET, t, ids, causal), ids, causal=causal).heads[0]
    assert positional.scores.best_offset == -3


@pytest.mark.parametrize(("t", "causal"), [(1, True), (2, True), (3, False), (7, True), (16, False), (33, True)])
def test_generic_scorer_matches_masked_mass(t: int, causal: bool) -> None:
    """Diagonal sums and gathered pairs give the mean mass on each target's [T, T] mask."""
    g = torch.Generator().manual_seed(t)
    ids = torch.randint(0, max(2, t // 3), (t,), generator=g).tolist()
    inp = Input.of(ids, causal)
    a = random_causal(t, 3, seed=t) if causal else torch.rand(3, t, t, generator=g).softmax(-1)
    targets = [tg for d in ROLE_DEFINITIONS for tg in d.pattern.resolve(inp)]
    scorer = TargetScorer(targets, t)
    torch.testing.assert_close(scorer(a), scorer.reference(a))
    for tg in targets:  # the counting rule: queries that can see more than one key
        counted = tg.mask(t).any(dim=1)
        assert tg.num_queries == int(counted.sum())
        assert not counted[: inp.first_choice].any()


def test_pattern_targets() -> None:
    causal = Input.of([5, 6, 5, 6, 7], causal=True)
    bidirectional = Input.of([5, 6, 5, 6, 7], causal=False)
    assert Offset(+1).resolve(causal) == ()  # no visible next key in a causal model
    assert Offset(+1).resolve(bidirectional)[0].num_queries == 4
    assert Offset(0).resolve(causal)[0].num_queries == 4  # query 0 has no choice
    assert Offset(0).resolve(bidirectional)[0].num_queries == 5
    assert Key(0).resolve(bidirectional)[0].num_queries == 4  # key 0's own query is self-attention
    assert [tg.offset for tg in OffsetFamily().resolve(causal)] == [-2]  # |d| <= (T-1)//2
    assert Induction().resolve(Input.of([1, 2, 3], causal=True)) == ()
    induction = Induction().resolve(causal)[0]
    assert induction.mask(5).nonzero().tolist() == [[2, 1], [3, 2]]


@dataclasses.dataclass(frozen=True)
class EarlierKeys:
    """A made-up pattern: every query predicts all keys before it (a "look back" head)."""

    def resolve(self, inp: Input) -> tuple[MaskTarget, ...]:
        target = MaskTarget.of(torch.ones(inp.t, inp.t, dtype=torch.bool).tril(-1), inp)
        return (target,) if target.num_queries else ()


def test_any_pattern_is_scored_by_the_generic_scorer() -> None:
    """A pattern only says which keys it predicts; the one scorer does the rest."""
    t = 12
    inp = Input.of(list(range(t)), causal=True)
    heads = torch.stack([offset(t, -5), identity(t), uniform(t)])
    family = OffsetFamily(min_distance=2).resolve(inp)
    assert [tg.offset for tg in family] == [-2, -3, -4, -5]
    scores = TargetScorer(family + EarlierKeys().resolve(inp), t)(heads)
    assert scores[0, :4].tolist() == pytest.approx([1 / 10, 1 / 9, 1 / 8, 1.0])  # queries 2..4 use the sink
    assert scores[0, 4].item() == pytest.approx(1.0)  # offset -5 looks back too (query 1..4: key 0)
    assert scores[1, 4].item() == pytest.approx(0.0)  # self-attention is not "earlier"
    assert scores[2, 4].item() == pytest.approx(statistics.fmean(q / (q + 1) for q in range(1, t)))


def test_assign_role_matches_the_vectorised_rules() -> None:
    """assign_role (one head) and the analysis (all heads at once) apply the same rules."""
    pats = random_causal(12, 6, seed=5)
    pats[0] = previous_token(12)
    pats[1] = sink(12)
    tokens, ids = list("abcdefghijkl"), [1, 2, 3] * 4
    result = analyze_attention({0: pats}, list(range(6)), tokens, ids, causal=True, num_layers=1, num_heads=6)
    baseline = analyze(uniform(12), [1, 2, 3] * 4).heads[0].scores
    for h in result.heads:
        assert assign_role(h.scores, causal=True, baseline=baseline) == (h.role, h.role_score)


# --------------------------------------------------------------------------------------------
# Display tokens, long inputs, ties
# --------------------------------------------------------------------------------------------


def test_display_tokens_are_shown_in_links_and_findings() -> None:
    t = 6
    a = torch.zeros(1, t, t)
    a[0, :, 0] = 1.0
    a[0, 3, 0], a[0, 3, 1] = 0.1, 0.9
    raw = ["<s>", "Ġquick", "Ġbrown", "Ċ", "Ġ\\", 'Ġ"']
    shown = ["<s>", "quick", "brown", "\\n", "\\", '"']
    kwargs: dict = {"causal": True, "num_layers": 1, "num_heads": 1}
    result = analyze_attention({0: a}, [0], raw, list(range(t)), display_tokens=shown, **kwargs)
    assert result.tokens == raw
    assert result.display_tokens == shown
    link = result.hotspots[0]
    assert (link.query_token, link.key_token) == ("\\n", "quick")
    assert 'Strongest link: "\\n" attends to "quick": 0.90 (L0 H0)' in result.findings  # as given
    assert not any("Ġ" in line or "Ċ" in line for line in result.findings)
    plain = analyze_attention({0: a}, [0], raw, list(range(t)), **kwargs)
    assert plain.display_tokens == raw
    assert 'Strongest link: "Ċ" attends to "Ġquick": 0.90 (L0 H0)' in plain.findings


def test_raw_tokens_in_findings_are_escaped() -> None:
    a = torch.zeros(1, 3, 3)
    a[0, :, 0] = 1.0
    a[0, 2, 0], a[0, 2, 1] = 0.2, 0.8
    result = analyze_attention({0: a}, [0], ["a", 'x"\n', "b\\"], [1, 2, 3], causal=True, num_layers=1, num_heads=1)
    assert 'Strongest link: "b\\\\" attends to "x\\"\\n": 0.80 (L0 H0)' in result.findings


def test_long_inputs_are_scored_in_groups_of_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Splitting the layers into several passes changes nothing."""
    t, ids = 16, REPEATED_IDS
    pats = {layer: random_causal(t, 3, seed=layer) for layer in range(5)}
    pats[2][0] = sink(t) * 0.6 + previous_token(t) * 0.4
    pats[3][1] = induction_pattern(ids)

    def run() -> AttentionResult:
        tokens = [f"w{i}" for i in ids]
        return analyze_attention(pats, [2, 0, 1], tokens, ids, causal=True, num_layers=5, num_heads=3, top_k_links=20)

    whole = run()
    monkeypatch.setattr(analyze_module, "GROUP_ELEMENTS", 2 * 3 * t * t)  # two layers per pass
    assert run() == whole


def test_hotspot_ties_are_broken_by_layer_head_and_position() -> None:
    t = 8
    layer = torch.stack([previous_token(t), previous_token(t)])  # every link weighs 1.0
    result = analyze_attention(
        {1: layer, 0: layer},
        [3, 1],
        list("abcdefgh"),
        list(range(t)),
        causal=True,
        num_layers=2,
        num_heads=4,
        top_k_links=8,
    )
    got = [(lk.layer, lk.head, lk.query_position, lk.key_position) for lk in result.hotspots]
    # Query 1's previous key is the sink, which is excluded: links start at query 2.
    assert got == [(0, 1, q, q - 1) for q in range(2, 8)] + [(0, 3, 2, 1), (0, 3, 3, 2)]


def test_a_family_with_one_member_still_reports_it() -> None:
    """On 6 tokens the positional family is the single offset -2; best_offset must say so."""
    head = analyze(offset(6, -2)).heads[0]
    assert head.role is HeadRole.POSITIONAL_OFFSET
    assert head.scores.best_offset == -2
    assert "Layer 0, Head 0: positional head, offset -2 (score 1.00)" in analyze(offset(6, -2)).findings


def test_beyond_the_sink_a_spread_out_rest_is_broad() -> None:
    """What a sink head spreads evenly over the other keys is BROAD beyond the sink, with the
    normalised entropy of the renormalised rest (1.0) as its score; a query that put everything
    on the sink counts as uniform."""
    t = 10
    a = torch.zeros(t, t)
    a[:, 0] = 0.9
    a[0, 0] = 1.0
    for q in range(1, t):
        a[q, 1 : q + 1] = 0.1 / q
    a[4] = 0.0
    a[4, 0] = 1.0  # everything on the sink
    head = analyze(a).heads[0]
    assert head.role is HeadRole.FIRST_TOKEN
    assert head.role_beyond_sink is HeadRole.BROAD
    assert head.role_beyond_sink_score == pytest.approx(1.0, abs=1e-5)
