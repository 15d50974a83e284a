"""The report of one attention analysis (the JSON of ``interp analyze-attention``)."""

from __future__ import annotations

import math
from typing import Any

from interpretability.report.page import clean, render_page

__all__ = ["render_attention_report"]

_WEIGHT_DECIMALS = 4


def _weight(x: Any) -> float | int:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0
    if not math.isfinite(v):
        return 0
    v = round(v, _WEIGHT_DECIMALS)
    if v == 0:
        return 0
    if v == 1:
        return 1
    return v


def _compact_matrix(matrix: Any) -> list[list[float | int]]:
    if hasattr(matrix, "tolist"):
        matrix = matrix.tolist()
    rows: list[list[float | int]] = []
    for row in matrix or []:
        if hasattr(row, "tolist"):
            row = row.tolist()
        r = [_weight(x) for x in row]
        while r and r[-1] == 0:
            r.pop()
        rows.append(r)
    return rows


def _compact_patterns(patterns: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in patterns or []:
        if not isinstance(p, dict):
            continue
        mats = p.get("matrices")
        if mats is None:
            mats = []
        if hasattr(mats, "tolist"):
            mats = mats.tolist()
        mats = list(mats)
        heads = p.get("heads")
        heads = list(range(len(mats))) if heads is None else clean(list(heads))
        out.append(
            {
                "layer": clean(p.get("layer")),
                "heads": heads,
                "matrices": [_compact_matrix(m) for m in mats],
            }
        )
    return out


def render_attention_report(analysis: dict) -> str:
    """One self-contained HTML page for one ``analyze-attention`` result (the CLI's JSON dict)."""
    if not isinstance(analysis, dict):
        raise TypeError(f"analysis must be a dict, got {type(analysis).__name__}")
    data = {k: v for k, v in analysis.items() if k != "patterns"}
    data = clean(data)
    data["patterns"] = _compact_patterns(analysis.get("patterns"))
    data["_encoding"] = (
        f"attention weights rounded to {_WEIGHT_DECIMALS} decimals; "
        "trailing zero weights of each matrix row are omitted"
    )
    return render_page("Attention analysis", data, "attention.html", "attention.js")
