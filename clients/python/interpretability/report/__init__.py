"""Self-contained HTML reports of attention analyses and feature attributions.

``render_attention_report(analysis)`` turns the JSON document written by
``interp analyze-attention`` into one HTML page; ``render_comparison_report`` turns the JSON of
``interp compare-attention`` into an index page that links to one such report per input;
``render_attribution_report(results)`` turns the attributions written by
``interp feature-attribution`` / ``interp explain-prediction`` (one dict per sample) into one
page; ``render_gradient_report``, ``render_logit_lens_report`` and ``render_activation_report``
turn the activations service's ``GradientAnalysis``, ``LogitLensResponse`` and
``ActivationAnalysis`` (as the CLI's dicts) into one page each; ``render_probe_report`` and
``render_similarity_report`` do the same for the probing service's ``ProbeAnalysis`` and
``RepresentationSimilarity``.

The pages work offline: no CDN, no web font, no external request of any kind (a
Content-Security-Policy in the page forbids them); all CSS and JavaScript is inline, vanilla, and
draws with inline SVG and ``<canvas>``.  The data travels as JSON inside a
``<script type="application/json">`` element.  ``<``, ``>``, ``&`` and ``/`` are written as JSON
escapes there, so no token (tokens are untrusted text) can close the element, and the script only
ever puts tokens into the page through ``textContent``, SVG ``<title>`` text or canvas
``fillText``, never as markup.

A token is shown in its display form, ``display_tokens[i]`` of the analysis, which the server
computes with the model's own tokenizer (the page does no decoding of its own); the raw piece
``tokens[i]`` is in the tooltips.  An analysis without a usable ``display_tokens`` list (absent,
or not one entry per token) is shown with its raw pieces.

To keep a 30-layer x 9-head x 64-token analysis down to a few MB, attention weights are rounded to
4 decimals and the trailing zero weights of each matrix row (the causal mask) are left out of the
embedded JSON; the page treats a missing weight as 0.

Layout: ``page`` assembles a page (CSP, embedded JSON) from the assets in ``static/`` (CSS,
JavaScript and HTML body fragments, package data); ``attention`` and ``comparison`` prepare the
data of their page; ``activations`` prepares the data of the activations service's three pages
(int64 strings back into numbers, the per-neuron tensors left out); ``attribution`` holds its
page's body and script itself and places them in ``page``'s shell.
"""

from __future__ import annotations

from interpretability.report.activations import (
    render_activation_report,
    render_gradient_report,
    render_logit_lens_report,
)
from interpretability.report.attention import render_attention_report
from interpretability.report.attribution import render_attribution_report
from interpretability.report.comparison import render_comparison_report
from interpretability.report.page import DATA_ELEMENT_ID, embedded_json
from interpretability.report.probing import render_probe_report, render_similarity_report

__all__ = [
    "DATA_ELEMENT_ID",
    "embedded_json",
    "render_activation_report",
    "render_attention_report",
    "render_attribution_report",
    "render_comparison_report",
    "render_gradient_report",
    "render_logit_lens_report",
    "render_probe_report",
    "render_similarity_report",
]
