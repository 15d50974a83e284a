"""The index page of an attention comparison (the JSON of ``interp compare-attention``)."""

from __future__ import annotations

from typing import Any

from interpretability.report.page import clean, render_page

__all__ = ["render_comparison_report"]


def _input_summary(analysis: Any) -> dict[str, Any]:
    if not isinstance(analysis, dict):
        return {}
    tokens = analysis.get("tokens")
    heads = []
    for h in analysis.get("heads") or []:
        if isinstance(h, dict):
            heads.append(
                {
                    "layer": h.get("layer"),
                    "head": h.get("head"),
                    "role": h.get("role"),
                    "role_score": h.get("role_score"),
                    "entropy": h.get("entropy"),
                }
            )
    return {
        "model": analysis.get("model"),
        "text": analysis.get("text"),
        "num_tokens": len(tokens) if isinstance(tokens, (list, tuple)) else None,
        "causal": analysis.get("causal"),
        "findings": list(analysis.get("findings") or []),
        "heads": heads,
    }


def render_comparison_report(
    comparison: dict, analyses: list[dict], report_links: list[str]
) -> str:
    """The ``compare-attention`` index page.

    ``analyses`` are the per-input analyses (matrices are not embedded here) and
    ``report_links`` the relative file names of the per-input reports, in the same order as
    ``comparison["texts"]``.  Links with a URL scheme (``javascript:``, ``http:`` ...) are shown
    as text, not as links.
    """
    if not isinstance(comparison, dict):
        raise TypeError(f"comparison must be a dict, got {type(comparison).__name__}")
    data = {
        "comparison": clean(comparison),
        "inputs": [clean(_input_summary(a)) for a in (analyses or [])],
        "links": [None if link is None else str(link) for link in (report_links or [])],
    }
    return render_page("Attention comparison", data, "comparison.html", "comparison.js")
