"""Attention and attribution results as plain data (the CLI's JSON) and as the printed
summaries."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from interp.v1 import attention_service_pb2 as apb
from interp.v1 import attribution_service_pb2 as atpb
from interpretability.client import to_numpy


def role_name(value: int) -> str:
    """``HEAD_ROLE_PREVIOUS_TOKEN`` -> ``previous_token``."""
    return apb.HeadRole.Name(value).removeprefix("HEAD_ROLE_").lower()


def analysis_to_dict(a: apb.AttentionAnalysis, *, decimals: int | None = None) -> dict[str, Any]:
    """The JSON form of an analysis, with full per-head matrices when the server sent them."""

    def r(x: float) -> float:
        return round(float(x), decimals) if decimals is not None else float(x)

    heads = []
    for h in a.heads:
        s = h.scores
        heads.append(
            {
                "layer": h.layer,
                "head": h.head,
                "entropy": r(h.entropy),
                "normalized_entropy": r(h.normalized_entropy),
                "role": role_name(h.role),
                "role_score": r(h.role_score),
                "scores": {
                    "previous_token": r(s.previous_token),
                    "current_token": r(s.current_token),
                    "first_token": r(s.first_token),
                    "positional_offset": r(s.positional_offset),
                    "best_offset": s.best_offset,
                    "broad": r(s.broad),
                    "induction": r(s.induction),
                    "induction_defined": s.induction_defined,
                    "next_token": r(s.next_token),
                },
                "mean_attention_distance": r(h.mean_attention_distance),
                "role_beyond_sink": role_name(h.role_beyond_sink),
                "role_beyond_sink_score": r(h.role_beyond_sink_score),
            }
        )
    patterns = []
    for p in a.patterns:
        m = to_numpy(p.pattern)
        if decimals is not None:
            m = m.round(decimals)
        patterns.append({"layer": p.layer, "heads": list(p.heads), "matrices": m.tolist()})
    return {
        "model": a.model,
        "text": a.text,
        "tokens": list(a.tokens),
        "display_tokens": list(a.display_tokens),
        "token_ids": list(a.token_ids),
        "causal": a.causal,
        "num_layers": a.num_layers,
        "num_heads": a.num_heads,
        "heads": heads,
        "layers": [
            {
                "layer": s.layer,
                "mean_entropy": r(s.mean_entropy),
                "mean_attention_distance": r(s.mean_attention_distance),
                "dominant_role": role_name(s.dominant_role),
                "role_counts": {role_name(c.role): c.count for c in s.role_counts},
            }
            for s in a.layers
        ],
        "hotspots": [
            {
                "layer": k.layer,
                "head": k.head,
                "query_position": k.query_position,
                "key_position": k.key_position,
                "query_token": k.query_token,
                "key_token": k.key_token,
                "weight": r(k.weight),
            }
            for k in a.hotspots
        ],
        "findings": list(a.findings),
        "patterns": patterns,
    }


def comparison_to_dict(resp: apb.CompareAttentionResponse, model: str) -> dict[str, Any]:
    """The JSON form of a comparison (analyses are written separately)."""
    return {
        "model": model,
        "texts": [a.text for a in resp.analyses],
        "heads": [
            {
                "layer": h.layer,
                "head": h.head,
                "consensus_role": role_name(h.consensus_role),
                "role_agreement": h.role_agreement,
                "mean_entropy": h.mean_entropy,
                "entropy_std": h.entropy_std,
            }
            for h in resp.heads
        ],
        "findings": list(resp.findings),
    }


def quote_token(token: str) -> str:
    """A display token (already readable and escaped by the server) in double quotes, as the
    server's findings quote tokens."""
    return f'"{token}"'


def format_summary(a: dict[str, Any], *, max_hotspots: int = 5) -> str:
    """The summary printed by ``analyze-attention``."""
    kind = "causal" if a["causal"] else "bidirectional"
    layers = sorted({h["layer"] for h in a["heads"]})
    lines = [
        "Attention Analysis Results",
        f"Model: {a['model']} ({kind}, {a['num_layers']} layers x {a['num_heads']} heads)",
        f"Input: {a['text']!r} ({len(a['tokens'])} tokens)",
        f"Analyzed: layers {','.join(map(str, layers))}; {len(a['heads'])} heads",
        "",
        "Key Findings:",
    ]
    lines += [f"  - {f}" for f in a["findings"]] or ["  (none)"]
    lines += ["", "Attention Hotspots (query attends to key):"]
    for k in a["hotspots"][:max_hotspots]:
        lines.append(
            f"  - {quote_token(k['query_token'])} -> {quote_token(k['key_token'])}: {k['weight']:.2f} (L{k['layer']} H{k['head']})"
        )
    lines += ["", "Layer-wise Patterns:"]
    for s in a["layers"]:
        lines.append(
            f"  - Layer {s['layer']}: mostly {s['dominant_role'].replace('_', '-')} heads, "
            f"mean entropy {s['mean_entropy']:.2f} nats, mean distance {s['mean_attention_distance']:.1f} tokens"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Attribution
# ----------------------------------------------------------------------------------------------


_METHOD_NUMBERS = frozenset(atpb.AttributionMethod.values())


def _is_repeated(field: FieldDescriptor) -> bool:
    # ``is_repeated`` is new in protobuf 6.x, where ``label`` is deprecated; older releases only have ``label``.
    flag = getattr(field, "is_repeated", None)
    return bool(flag) if flag is not None else field.label == FieldDescriptor.LABEL_REPEATED


def _proto_to_plain(msg: Message, data: dict[str, Any], decimals: int | None) -> dict[str, Any]:
    """Walk ``MessageToDict``'s output along ``msg``'s descriptor: int64 strings become ints,
    float strings ("NaN", "Infinity") and other non-finite floats become None, floats are
    rounded, AttributionMethod values become names, and unset message fields become None."""
    from interpretability.attribution import method_name

    def number(x: Any) -> float | None:
        try:
            v = float(x)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(v):
            return None
        return round(v, decimals) if decimals is not None else v

    def scalar(field: FieldDescriptor, v: Any) -> Any:
        if v is None:
            return None
        if field.cpp_type in (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE):
            return number(v)
        if field.cpp_type in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64):
            return int(v)
        if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
            if field.enum_type.full_name == atpb.AttributionMethod.DESCRIPTOR.full_name and int(v) in _METHOD_NUMBERS:
                return method_name(int(v))
            value = field.enum_type.values_by_number.get(int(v))
            return value.name.lower() if value is not None else int(v)
        return v

    out: dict[str, Any] = {}
    for field in msg.DESCRIPTOR.fields:
        name = field.name
        repeated = _is_repeated(field)
        if field.message_type is not None:
            if repeated:
                out[name] = [_proto_to_plain(m, d, decimals) for m, d in zip(getattr(msg, name), data.get(name, []))]
            elif msg.HasField(name):
                out[name] = _proto_to_plain(getattr(msg, name), data.get(name, {}), decimals)
            else:
                out[name] = None
        elif repeated:
            out[name] = [scalar(field, v) for v in data.get(name, [])]
        else:
            out[name] = scalar(field, data.get(name))
    return out


def message_to_dict(msg: Message) -> dict[str, Any]:
    """A result message as protobuf's JSON mapping gives it: proto field names, every field
    (defaults included), enums by name, int64 as strings (the activations service's results in
    the CLI's JSON and its reports; ``report.activations`` reads numbers back)."""
    return json_format.MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def attribution_to_dict(result: atpb.AttributionResult, *, decimals: int | None = None) -> dict[str, Any]:
    """The JSON form of an attribution: every field of the message under its proto name, with
    default values included.

    Methods are named as on the command line (``"integrated_gradients"``); int64 fields are
    ints; floats are rounded to ``decimals`` when given; a non-finite float (a relative delta
    whose denominator is 0 is infinite) is None, so the JSON stays standard; a message field the
    server left unset (``faithfulness`` at depth basic) is None.
    """
    data = json_format.MessageToDict(
        result,
        always_print_fields_with_no_presence=True,
        preserving_proto_field_name=True,
        use_integers_for_enums=True,
    )
    return _proto_to_plain(result, data, decimals)


def _top_tokens(data: dict[str, Any], scores: list[Any], sign: int, k: int) -> list[tuple[str, float]]:
    tokens = data.get("display_tokens") or data.get("tokens") or []
    attributed = data.get("attributed") or [True] * len(scores)
    pairs = [
        (float(s), i) for i, s in enumerate(scores)
        if isinstance(s, (int, float)) and i < len(tokens) and (i >= len(attributed) or attributed[i]) and s * sign > 0
    ]
    pairs.sort(key=lambda p: -p[0] * sign)
    return [(tokens[i], s) for s, i in pairs[:k]]


def _fmt(x: Any, spec: str = ".4g") -> str:
    return "n/a" if x is None else format(x, spec)


def format_top_tokens(data: dict[str, Any], method: dict[str, Any], *, k: int = 3) -> str:
    """``+"fantastic" (+0.41), ...; -"boring" (-0.2)``: a method's strongest tokens each way
    (saliency has no sign, so only its largest)."""
    scores = method.get("scores") or []
    up = ", ".join(f"{quote_token(t)} ({s:+.3g})" for t, s in _top_tokens(data, scores, +1, k)) or "none"
    line = f"up: {up}"
    if method.get("method") != "saliency":
        down = ", ".join(f"{quote_token(t)} ({s:+.3g})" for t, s in _top_tokens(data, scores, -1, k)) or "none"
        line += f"; down: {down}"
    return line


def format_attribution_summary(data: dict[str, Any], *, top_k: int = 3, findings: bool = True) -> str:
    """The summary printed by ``explain-prediction`` (and, without findings, per sample by
    ``feature-attribution``): prediction, target, per method its top tokens, delta and
    faithfulness areas, the agreement of the methods, and the server's findings."""
    tokens = data.get("tokens") or []
    attributed = sum(1 for a in data.get("attributed") or [] if a)
    lines = [
        "Feature Attribution Results",
        f"Model: {data.get('model')}",
        f"Input: {data.get('text')!r} ({len(tokens)} tokens, {attributed} attributed)",
        f"Prediction: {data.get('prediction')}",
        f"Target: {data.get('target')} = {_fmt(data.get('target_score'))} "
        f"(baseline {_fmt(data.get('baseline_score'))}; probability {_fmt(data.get('target_probability'), '.3f')})",
    ]
    if data.get("baseline"):
        lines.append(f"Baseline: {data['baseline']}")
    if data.get("generated_text"):
        lines.append(f"Generated: {data['generated_text']!r}")
    lines += ["", "Methods:"]
    for m in data.get("methods") or []:
        params = ", ".join(m.get("parameters") or [])
        lines.append(
            f"  {m.get('method')}" + (f" ({params})" if params else "")
            + f": {_fmt(m.get('seconds'), '.2f')} s, {m.get('evaluations')} evaluations"
        )
        lines.append(f"    {format_top_tokens(data, m, k=top_k)}")
        if m.get("has_delta"):
            rel = m.get("relative_delta")
            lines.append(f"    convergence delta {_fmt(m.get('delta'), '+.3g')} ("
                         + ("n/a" if rel is None else f"{100 * rel:.2g}%") + " of f(x) - f(baseline))")
        f = m.get("faithfulness")
        if f:
            line = (
                f"    deletion AUC {_fmt(f.get('deletion_auc'), '.3f')} (random {_fmt(f.get('random_deletion_auc'), '.3f')}, "
                f"lower is better); insertion AUC {_fmt(f.get('insertion_auc'), '.3f')} "
                f"(random {_fmt(f.get('random_insertion_auc'), '.3f')}, higher is better)"
            )
            if f.get("has_infidelity"):
                line += f"; infidelity {_fmt(f.get('infidelity'), '.3g')}"
            if f.get("has_sensitivity"):
                line += f"; sensitivity {_fmt(f.get('sensitivity_max'), '.3g')}"
            lines.append(line)
        if m.get("generated"):
            lines.append(f"    {len(m['generated'])} generated tokens attributed one by one")
    if data.get("agreement"):
        lines += ["", "Agreement (Spearman rank correlation; top-3 overlap):"]
        for a in data["agreement"]:
            lines.append(f"  {a.get('first')} ~ {a.get('second')}: {_fmt(a.get('spearman'), '+.2f')}; "
                         f"{_fmt(a.get('top_k_overlap'), '.2f')}")
    if findings:
        lines += ["", "Findings:"]
        lines += [f"  - {f}" for f in data.get("findings") or []] or ["  (none)"]
    return "\n".join(lines)
