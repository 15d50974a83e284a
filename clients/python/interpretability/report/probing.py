"""The reports of the probing service: probe analyses and representation similarity (one
self-contained page each).

Each renderer takes the service's result message as a dict in the CLI's form,
``interpretability.results.message_to_dict(msg)`` (proto field names, every field, enums by name,
int64 as strings, non-finite doubles as ``"NaN"``/``"Infinity"``); the message itself is accepted
too and converted the same way.  The dict is read along the message's descriptor before it is
embedded: numbers are numbers again (non-finite ones ``null``), enums are short lower-case names
(``PROBE_LEVEL_TOKEN`` -> ``"token"``), a message field that is absent is ``null``, and the concept
directions (a ``[layer, label, d_model]`` tensor, up to megabytes) are replaced by their shape and
where they were sent: the page shows scores, not vectors.  Keys the descriptor does not know are
kept as they are.

* ``render_probe_report`` (``ProbeAnalysis``): the findings; the run (model, layers, tokens,
  extraction and fitting seconds); a table of the tasks at their best layer; per task its header
  (level, metric, examples, split sizes, baseline, control task, best layer, skipped examples), a
  chart across layers of the test score with its 95% interval as a band, the control score, the
  selectivity and the baseline as a flat dashed line, a chart of the MDL compression of the task
  and of the control task (when MDL was computed), and a table per layer; with a bias report, a
  heat map of the direction alignments (rows: task, label and protected label; columns: layers;
  cosine on a diverging scale), its strongest cells, and the counterfactual effects per task across
  layers (flip rate, mean shift in SDs; charts and a table).
* ``render_similarity_report`` (``RepresentationSimilarity``): the findings; with two or more
  pairs a summary table (per pair and metric, the value at the last layer and the mean over the
  layers); per pair, for matched layers a chart with one line per metric and a table of the
  values, for a grid (``grid`` true) one heat map per metric (rows: layers of the first source,
  columns: layers of the second, each row's most similar layer outlined).

The pages follow ``page.render_page``: CSP, no request of any kind, the data as escaped JSON, and
every string of the result (task names, labels, sources, findings) reaches the page only through
``textContent`` and attributes.  Their script is ``static/charts.js`` (the shared number
formatting, colour scales, line chart and heat map) and then the page's own (``probing.js``,
``similarity.js``).
"""

from __future__ import annotations

import html
import math
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from interp.v1 import probing_service_pb2 as ppb
from interp.v1 import tensor_pb2
from interpretability.report.page import clean, render_page

__all__ = ["render_probe_report", "render_similarity_report"]

PROBE_TITLE = "Probe analysis"
SIMILARITY_TITLE = "Representation similarity"

_TENSOR = tensor_pb2.Tensor.DESCRIPTOR.full_name
_FLOATS = (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE)
_INTS = (
    FieldDescriptor.CPPTYPE_INT32,
    FieldDescriptor.CPPTYPE_INT64,
    FieldDescriptor.CPPTYPE_UINT32,
    FieldDescriptor.CPPTYPE_UINT64,
)


def _is_repeated(field: FieldDescriptor) -> bool:
    # ``is_repeated`` is new in protobuf 6.x, where ``label`` is deprecated.
    flag = getattr(field, "is_repeated", None)
    return bool(flag) if flag is not None else field.label == FieldDescriptor.LABEL_REPEATED


def _float(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        x = float(v)  # numbers, and the JSON mapping's strings: "NaN", "Infinity", "1e-05"
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        try:
            return int(v.strip())  # int64 fields travel as strings
        except ValueError:
            pass
    x = _float(v)
    return int(x) if x is not None and x == int(x) else None


def _enum(field: FieldDescriptor, v: Any) -> Any:
    """An enum value as its short lower-case name: ``PROBE_LEVEL_TOKEN`` (or 1) -> ``token``."""
    enum = field.enum_type
    prefix = "".join("_" + c if c.isupper() and i else c for i, c in enumerate(enum.name)).upper() + "_"
    value = None
    if isinstance(v, str):
        value = enum.values_by_name.get(v)
        if value is None:
            return v.lower()  # already short, or a name this build does not know
    elif isinstance(v, int) and not isinstance(v, bool):
        value = enum.values_by_number.get(v)
        if value is None:
            return v
    if value is None:
        return None
    return value.name.removeprefix(prefix).lower()


def _tensor_summary(v: Any) -> dict[str, Any] | None:
    """What the page says about a tensor it does not show: its shape, names and where it was."""
    if not isinstance(v, dict):
        return None
    shape = [_int(x) for x in v.get("shape") or [] if _int(x) is not None]
    where = "inline" if v.get("raw") else ("object store" if v.get("object") else "none")
    return {"shape": shape, "dim_names": [str(x) for x in v.get("dim_names") or []], "where": where}


def _scalar(field: FieldDescriptor, v: Any) -> Any:
    if v is None:
        return None
    cpp = field.cpp_type
    if cpp in _FLOATS:
        return _float(v)
    if cpp in _INTS:
        return _int(v)
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return v if isinstance(v, bool) else (str(v).lower() == "true")
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        return _enum(field, v)
    return v if isinstance(v, str) else str(v)


def _plain(data: dict[str, Any], desc: Descriptor) -> dict[str, Any]:
    """``data`` (a message's JSON mapping, or a hand-made dict) read along ``desc``."""
    out: dict[str, Any] = dict(data)
    for field in desc.fields:
        name = field.name
        if field.message_type is not None:
            v = data.get(name)
            if field.message_type.full_name == _TENSOR:
                out[name] = (
                    [_tensor_summary(x) for x in v] if _is_repeated(field) and isinstance(v, list) else _tensor_summary(v)
                )
            elif _is_repeated(field):
                out[name] = [_plain(x, field.message_type) for x in v if isinstance(x, dict)] if isinstance(v, list) else []
            else:
                out[name] = _plain(v, field.message_type) if isinstance(v, dict) else None
        elif _is_repeated(field):
            v = data.get(name)
            out[name] = [_scalar(field, x) for x in v] if isinstance(v, list) else []
        elif name in data:
            out[name] = _scalar(field, data[name])
    return out


def _as_dict(data: Any, desc: Descriptor) -> dict[str, Any]:
    if hasattr(data, "DESCRIPTOR") and hasattr(data, "ListFields"):  # the message itself
        if data.DESCRIPTOR.full_name != desc.full_name:
            raise TypeError(f"expected a {desc.name}, got a {data.DESCRIPTOR.name}")
        from interpretability.results import message_to_dict

        data = message_to_dict(data)
    if not isinstance(data, dict):
        raise TypeError(f"result must be a dict (or a {desc.name}), got {type(data).__name__}")
    return data


def _page(result: Any, desc: Descriptor, title: str | None, default: str, body: str, script: str) -> str:
    plain = _plain(_as_dict(result, desc), desc)
    title = str(title or default)
    data = {"title": title, "result": clean(plain)}
    return render_page(html.escape(title, quote=True), data, body, ("charts.js", script))


def render_probe_report(result: dict, *, title: str | None = None) -> str:
    """One self-contained HTML page for a ``ProbeAnalysis`` (the CLI's dict, or the message).
    ``title`` (default "Probe analysis") is shown as text: it is escaped."""
    return _page(result, ppb.ProbeAnalysis.DESCRIPTOR, title, PROBE_TITLE, "probing.html", "probing.js")


def render_similarity_report(result: dict, *, title: str | None = None) -> str:
    """One self-contained HTML page for a ``RepresentationSimilarity`` (the CLI's dict, or the
    message). ``title`` (default "Representation similarity") is shown as text: it is escaped."""
    return _page(
        result, ppb.RepresentationSimilarity.DESCRIPTOR, title, SIMILARITY_TITLE, "similarity.html", "similarity.js"
    )
