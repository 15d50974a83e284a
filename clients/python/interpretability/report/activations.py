"""The reports of the activations service: gradient analyses, the logit lens and dataset-scale
activation statistics (one self-contained page each).

Each renderer takes the service's result message as a dict in the CLI's form,
``json_format.MessageToDict(msg, preserving_proto_field_name=True,
always_print_fields_with_no_presence=True)`` (the message itself is accepted too and converted the
same way).  In that form int64 fields (``texts_analyzed``, histogram ``counts``, ``token_id`` ...)
are strings and non-finite doubles are ``"NaN"``/``"Infinity"``; the numeric fields are turned back
into numbers here (non-finite ones into ``null``) before the data is embedded.  The per-neuron
statistic tensors of ``SiteStatistics`` (``mean``, ``std`` ... with ``include_statistics``) are
left out of the page: it shows the layer summaries.

* ``render_gradient_report`` (``GradientAnalysis``): the findings; the gradient flow across layers
  (median residual and attention-weight gradient norms per layer, an SVG line chart on a log
  axis) with its verdict and first/last ratio; per text the tokens coloured by saliency and by
  input x gradient (signed), a layer x token heat map of the residual gradient's per-token norms
  (with ``include_norm_analysis``) and a layer x head heat map of the attention weights' weight x
  gradient (signed).
* ``render_logit_lens_report`` (``LogitLensResponse``): the findings; a layers x positions heat map
  coloured by the tracked token's probability or (a toggle) its log-rank, each cell showing the
  lens's top token, the tooltip its top-k and the tracked token's rank and probability; a plain
  table of every layer and position below.
* ``render_activation_report`` (``ActivationAnalysis``): the findings; per site family a table of
  the layer summaries, a histogram per layer (SVG bars; underflow and overflow in words) and a
  chart of std and max across layers; the neuron examples (each context as left **token** right,
  with its activation); the skipped inputs.

The pages follow ``page.render_page``: CSP, no request of any kind, data as escaped JSON, tokens
only ever through ``textContent`` and attributes.  Their script is ``static/charts.js`` (the
helpers the three share: number formatting, the colour scale, the line chart) and then the page's
own (``gradients.js``, ``logit_lens.js``, ``activations.js``).
"""

from __future__ import annotations

import html
from typing import Any

from interpretability.report.page import clean, render_page

__all__ = ["render_activation_report", "render_gradient_report", "render_logit_lens_report"]

GRADIENT_TITLE = "Gradient analysis"
LOGIT_LENS_TITLE = "Logit lens"
ACTIVATION_TITLE = "Activation analysis"

# Numeric fields of the activations service's messages.  Their string forms (int64 fields, and
# "NaN"/"Infinity" doubles) become numbers; nested messages under these keys (a LensLayer under
# "layers") are walked as usual.  Other strings (tokens, texts) are never touched.
_NUMERIC_KEYS = frozenset(
    {
        # GradientAnalysis
        "target_value", "saliency", "input_x_gradient", "layer", "norm", "norms", "weight_x_gradient",
        "layers", "hidden_norms", "attention_norms", "first_to_last_ratio",
        # LogitLensResponse
        "target_ids", "token_id", "probability", "target_probability", "target_rank",
        # ActivationAnalysis
        "texts_analyzed", "tokens_analyzed", "width", "mean", "std", "fraction_zero", "fraction_positive",
        "median_kurtosis", "max", "min", "dead_neurons", "saturated_neurons", "outlier_neurons", "edges",
        "counts", "underflow", "overflow", "index", "text_index", "position", "activation", "skipped_count",
        "seconds", "zero_threshold",
    }
)  # fmt: skip

# The per-neuron statistic tensors of a SiteStatistics (not shown in the page).
_SITE_TENSORS = ("mean", "std", "fraction_zero", "fraction_positive", "kurtosis", "max", "min")


def _number(v: str) -> int | float | None:
    s = v.strip()
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)  # "NaN", "Infinity" and "-Infinity" too (clean turns them into None)
    except ValueError:
        return None


def _numbers(obj: Any, numeric: bool = False) -> Any:
    if isinstance(obj, dict):
        return {k: _numbers(v, k in _NUMERIC_KEYS) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_numbers(v, numeric) for v in obj]
    if numeric and isinstance(obj, str):
        return _number(obj)
    return obj


def _as_dict(data: Any, what: str) -> dict:
    if hasattr(data, "DESCRIPTOR") and hasattr(data, "ListFields"):  # the message itself
        from interpretability.results import message_to_dict

        data = message_to_dict(data)
    if not isinstance(data, dict):
        raise TypeError(f"{what} must be a dict, got {type(data).__name__}")
    return data


def _page(title: Any, default: str, result: dict, body: str, scripts: tuple[str, ...]) -> str:
    title = str(title or default)
    data = {"title": title, "result": clean(_numbers(result))}
    return render_page(html.escape(title, quote=True), data, body, scripts)


def render_gradient_report(data: dict, title: str = GRADIENT_TITLE) -> str:
    """One self-contained HTML page for a ``GradientAnalysis`` (the CLI's dict, or the message).
    ``title`` is shown as text (it is escaped)."""
    return _page(title, GRADIENT_TITLE, _as_dict(data, "data"), "gradients.html", ("charts.js", "gradients.js"))


def render_logit_lens_report(data: dict, title: str = LOGIT_LENS_TITLE) -> str:
    """One self-contained HTML page for a ``LogitLensResponse`` (the CLI's dict, or the message).
    ``title`` is shown as text (it is escaped)."""
    return _page(title, LOGIT_LENS_TITLE, _as_dict(data, "data"), "logit_lens.html", ("charts.js", "logit_lens.js"))


def render_activation_report(data: dict, title: str = ACTIVATION_TITLE) -> str:
    """One self-contained HTML page for an ``ActivationAnalysis`` (the CLI's dict, or the
    message). ``title`` is shown as text (it is escaped).  The per-neuron statistic tensors are
    left out (the page says when they were there)."""
    result = dict(_as_dict(data, "data"))
    sites = []
    for s in result.get("sites") or []:
        if not isinstance(s, dict):
            continue
        kept = {k: v for k, v in s.items() if k not in _SITE_TENSORS}
        kept["statistics_included"] = any(isinstance(s.get(k), dict) for k in _SITE_TENSORS)
        sites.append(kept)
    result["sites"] = sites
    return _page(title, ACTIVATION_TITLE, result, "activations.html", ("charts.js", "activations.js"))
