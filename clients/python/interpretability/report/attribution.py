"""The report of feature attributions (the JSON of ``interp feature-attribution`` and
``interp explain-prediction``): one self-contained page for one or many samples.

Per sample: the tokens coloured by each method's scores (one row per method; green pushes the
target up, red pushes it down, the intensity scaled per method by its largest |score|; tokens
that are not attributed are grey; hovering a token shows its exact score), the convergence delta
of the methods that have one, a faithfulness table (deletion/insertion areas against random
orders, infidelity, sensitivity), deletion and insertion curves drawn as inline SVG (one line
per method, plus the random orders' mean as a dashed reference line of the same area), the
methods' agreement matrix (Spearman), the server's findings, and for generation targets one
heat-map table per method with a row per generated token.

The page is ``page.render_page`` with ``static/attribution.html`` and ``static/attribution.js``
(CSP, shared CSS and JavaScript, the data as escaped JSON); tokens only ever reach the page
through ``textContent`` and attributes.
"""

from __future__ import annotations

import html

from interpretability.report.page import clean, render_page

__all__ = ["render_attribution_report"]

DEFAULT_TITLE = "Feature attribution"


def render_attribution_report(results: list[dict] | dict, title: str = DEFAULT_TITLE) -> str:
    """One self-contained HTML page for attribution results (``attribution_to_dict`` dicts, one
    per sample; a single dict is one sample). ``title`` is shown as text (it is escaped)."""
    if isinstance(results, dict):
        results = [results]
    if not isinstance(results, (list, tuple)):
        raise TypeError(f"results must be a list of dicts, got {type(results).__name__}")
    samples = []
    for r in results:
        if not isinstance(r, dict):
            raise TypeError(f"each result must be a dict, got {type(r).__name__}")
        samples.append(clean(r))
    title = str(title or DEFAULT_TITLE)
    return render_page(html.escape(title, quote=True), {"title": title, "samples": samples}, "attribution.html", "attribution.js")
