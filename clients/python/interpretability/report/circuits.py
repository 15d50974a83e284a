"""The reports of circuit discovery: a discovered circuit, activation/attribution patching and causal
tracing (one self-contained page each).

Each renderer takes the result as a plain JSON-able dict (numpy values and non-finite floats are
accepted: ``page.clean`` makes them plain, NaN/inf ``null``) and returns the whole page.  The
shapes of a proto message's dict are read too: enum names (``NODE_KIND_HEAD``,
``CIRCUIT_METHOD_EAP_IG``, ``TRACE_STATE_MLP``) become their short lower-case names, and a map's
row-major flat ``values`` become rows (of ``len(cols)`` for patching, of ``len(tokens)`` for
tracing).

* ``render_circuit_report`` (``kind: "circuit"``): the figures (method, ablation, threshold, edges
  kept of the total, clean / corrupted / circuit metric, metric recovered), the findings, the
  circuit as an inline SVG graph (layered: the input at the bottom, the logits at the top, one row
  per layer with its heads left to right by index and its MLP at the right; one stroke per edge,
  its width proportional to |score| over the largest |score|, red positive and blue negative, its
  receiver input q/k/v drawn dashed or dotted and named in its tooltip), and a table of the
  strongest edges (with their minimality, where the edges have one).
* ``render_patching_report`` (``kind: "patching"``): one heat map per patched component (rows and
  columns as the map names them: layer x position, layer x head, ...), on a diverging scale centred
  on 0 (either +-1 for every map, 1 being the clean behaviour fully restored, or each map's largest
  |value|: a control on the page), and a table of the strongest cells.
* ``render_tracing_report`` (``kind: "causal_tracing"``): causal tracing as in ROME, one heat map
  per restored state (hidden, MLP, attention): a row per token (the subject's marked ``*``), a
  column per layer, the restored probability of the target on a sequential scale from the
  corrupted to the clean probability.

The pages follow ``page.render_page``: CSP, no request of any kind, the data as escaped JSON, and
every string of the result (model, task, node names, tokens, findings) reaches the page only
through ``textContent``, attributes and SVG ``<title>`` text.  Their script is
``static/charts.js`` (colour scales, heat map) and then ``static/circuits.js`` (the graph and the
three pages); the body is ``static/circuits.html``.
"""

from __future__ import annotations

import html
from typing import Any

from interpretability.report.page import clean, render_page

__all__ = ["render_circuit_report", "render_patching_report", "render_tracing_report"]

CIRCUIT_TITLE = "Circuit discovery"
PATCHING_TITLE = "Activation patching"
TRACING_TITLE = "Causal tracing"


# Enum names as a proto message's JSON mapping writes them, and the prefix that makes them short:
# ``NODE_KIND_HEAD`` -> ``head``, ``CIRCUIT_METHOD_EAP_IG`` -> ``eap_ig``.
_ENUM_PREFIXES = ("NODE_KIND_", "CIRCUIT_METHOD_", "PATCHING_METHOD_", "CIRCUIT_TYPE_", "ABLATION_", "TRACE_STATE_", "COMPONENT_")


def _short(v: Any) -> Any:
    if isinstance(v, str) and v.isupper():
        for prefix in _ENUM_PREFIXES:
            if v.startswith(prefix):
                return v.removeprefix(prefix).lower()
    return v


def _grid(values: Any, ncols: int) -> Any:
    """Row-major flat ``values`` as a list of rows of ``ncols`` (nested ones as they are)."""
    if not isinstance(values, list) or not values or any(isinstance(v, list) for v in values) or ncols <= 0:
        return values
    return [values[i : i + ncols] for i in range(0, len(values), ncols)]


def _normalised(data: dict[str, Any]) -> dict[str, Any]:
    """Enum names short and lower-case, flat row-major maps as rows (the shapes a proto message's
    dict has); everything else as it is."""
    out = dict(data)
    for key in ("method", "ablation"):
        if key in out:
            out[key] = _short(out[key])
    if isinstance(out.get("circuit_types"), list):
        out["circuit_types"] = [_short(t) for t in out["circuit_types"]]
    if isinstance(out.get("nodes"), list):
        out["nodes"] = [dict(n, kind=_short(n.get("kind"))) if isinstance(n, dict) else n for n in out["nodes"]]
    if isinstance(out.get("maps"), list):
        tokens = out.get("tokens")
        maps = []
        for m in out["maps"]:
            if isinstance(m, dict):
                m = dict(m, **{k: _short(m[k]) for k in ("state", "component") if k in m})
                cols = m.get("cols") if "cols" in m else tokens  # patching: rows x cols; tracing: layers x tokens
                if isinstance(cols, list):
                    m["values"] = _grid(m.get("values"), len(cols))
            maps.append(m)
        out["maps"] = maps
    return out


def _page(result: Any, kind: str, default: str, title: str | None) -> str:
    if not isinstance(result, dict):
        raise TypeError(f"result must be a dict, got {type(result).__name__}")
    got = result.get("kind")
    if got not in (None, "", kind):
        raise ValueError(f"expected a result of kind {kind!r}, got {got!r}")
    data = _normalised(clean(result))
    base = str(title or default)
    # The <title> as the page would set it (the script sets it again, the same): base - task - model.
    parts = [str(data.get(k)) for k in ("task", "model") if data.get(k) not in (None, "")]
    full = " \u2014 ".join([base, *parts])
    return render_page(
        html.escape(full, quote=True),
        {"page": kind, "title": base, "result": data},
        "circuits.html",
        ("charts.js", "circuits.js"),
    )


def render_circuit_report(result: dict, *, title: str | None = None) -> str:
    """One self-contained HTML page for a discovered circuit (``kind: "circuit"``: nodes, edges,
    figures, findings).  ``title`` (default "Circuit discovery") is shown as text: it is escaped."""
    return _page(result, "circuit", CIRCUIT_TITLE, title)


def render_patching_report(result: dict, *, title: str | None = None) -> str:
    """One self-contained HTML page for activation or attribution patching (``kind: "patching"``:
    one heat map per entry of ``maps``).  ``title`` (default "Activation patching") is escaped."""
    return _page(result, "patching", PATCHING_TITLE, title)


def render_tracing_report(result: dict, *, title: str | None = None) -> str:
    """One self-contained HTML page for causal tracing (``kind: "causal_tracing"``: one tokens x
    layers heat map per restored state).  ``title`` (default "Causal tracing") is escaped."""
    return _page(result, "causal_tracing", TRACING_TITLE, title)
