"""Findings: a few plain-English lines that summarise one analysis, most useful first."""

from __future__ import annotations

from interp_services.core.attention.roles import ROLE_DEFINITIONS, ROLE_PHRASE, ROLE_PRECEDENCE, role_counts
from interp_services.core.attention.types import HeadResult, HeadRole, LayerResult, Link

__all__ = ["MAX_FINDINGS", "findings", "quote"]

MAX_FINDINGS = 10
"""Most lines :func:`findings` (and ``compare_attention``) return."""
_MAX_HEAD_FINDINGS = 6
_GENERIC = (HeadRole.BROAD, HeadRole.MIXED)
_MEMBER_FIELD = {d.role: d.member_field for d in ROLE_DEFINITIONS if d.member_field}
_RAW_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\t": "\\t", '"': '\\"'})


def quote(token: str, *, display: bool) -> str:
    """A token in double quotes, as a reader should see it.

    Args:
        token: The token.
        display: True for a display form (already readable: decoded, trimmed, control characters
            escaped by whoever made it), shown as it is; False for a raw tokenizer piece, whose
            backslashes, newlines, tabs and quotes are escaped here.

    Example:
        >>> quote("a\\nb", display=False), quote("\\\\n", display=True)
        ('"a\\\\nb"', '"\\\\n"')
    """
    return f'"{token}"' if display else f'"{token.translate(_RAW_ESCAPES)}"'


def _census(counts: dict[HeadRole, int]) -> str:
    return ", ".join(f"{n} {ROLE_PHRASE[r]}" for r, n in counts.items())


def _head_line(h: HeadResult) -> str:
    what = f"{ROLE_PHRASE[h.role]} head"
    member_field = _MEMBER_FIELD.get(h.role)
    if member_field is not None:  # a family role says which member won: "positional head, offset -3"
        what += f", offset {getattr(h.scores, member_field):+d}"
    line = f"Layer {h.layer}, Head {h.head}: {what} (score {h.role_score:.2f})"
    rest = h.role_beyond_sink
    if h.role is HeadRole.FIRST_TOKEN and rest is not None and rest not in _GENERIC:
        line += f"; beyond the sink, {ROLE_PHRASE[rest]} ({h.role_beyond_sink_score:.2f})"
    return line


def _beyond_rank(h: HeadResult) -> int:
    """0 for informative heads; 1 for sink heads that do nothing specific with the rest."""
    specific_rest = h.role_beyond_sink not in (HeadRole.FIRST_TOKEN, *_GENERIC)
    return 0 if h.role is not HeadRole.FIRST_TOKEN or specific_rest else 1


def findings(
    heads: list[HeadResult], layers: list[LayerResult], hotspots: list[Link], causal: bool, *, display: bool
) -> list[str]:
    """At most ``MAX_FINDINGS`` lines about an analysis.

    Args:
        heads: The head results.
        layers: The layer summaries.
        hotspots: The strongest links, strongest first (their tokens are what gets quoted).
        causal: Whether the model is causal (only then is untestable induction worth a line).
        display: Whether the links' tokens are display forms (see :func:`quote`).

    Returns:
        The lines, most useful first.
    """
    lines: list[str] = []
    census = _census(role_counts(h.role for h in heads))
    lines.append(f"Roles of {len(heads)} analyzed heads in {len(layers)} layers: {census}")
    sinks = [h for h in heads if h.role is HeadRole.FIRST_TOKEN]
    beyond = role_counts(h.role_beyond_sink for h in sinks if h.role_beyond_sink not in _GENERIC)
    if beyond:
        lines.append(
            f"Beyond the sink (first token removed), {sum(beyond.values())} of {len(sinks)} sink heads "
            f"have a role: {_census(beyond)}"
        )

    # The best head of each specific role first, so a lone induction head is not crowded out by
    # many strong sink heads; then the remaining specific heads by score. Among sink heads, those
    # that do something specific with the rest of their attention are the informative ones.
    def rank(h: HeadResult) -> tuple[int, float, int, int]:
        return (_beyond_rank(h), -h.role_score, h.layer, h.head)

    specific = sorted((h for h in heads if h.role not in _GENERIC), key=rank)
    chosen: list[HeadResult] = []
    for role in ROLE_PRECEDENCE:
        best = next((h for h in specific if h.role is role), None)
        if best is not None:
            chosen.append(best)
    chosen.sort(key=rank)
    picked = {id(h) for h in chosen}
    chosen += [h for h in specific if id(h) not in picked]
    lines += [_head_line(h) for h in chosen[:_MAX_HEAD_FINDINGS]]

    if hotspots:
        s = hotspots[0]
        lines.append(
            f"Strongest link: {quote(s.query_token, display=display)} attends to "
            f"{quote(s.key_token, display=display)}: {s.weight:.2f} (L{s.layer} H{s.head})"
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
            f"distance {only.mean_attention_distance:.1f} tokens, mostly {ROLE_PHRASE[only.dominant_role]}"
        )
    if causal and heads and not heads[0].scores.induction_defined:
        lines.append("No token repeats in this input, so induction cannot be tested; repeat a phrase to probe it")
    return lines[:MAX_FINDINGS]
