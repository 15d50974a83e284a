"""The page shell shared by every report: CSP, the embedded JSON data and the static assets.

The CSS, the JavaScript and the HTML body fragments are files in ``static/`` (package data), read
once on first use.  A page is assembled from them as plain text; the only data that varies from
page to page travels as JSON, escaped by ``embedded_json``.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["DATA_ELEMENT_ID", "clean", "embedded_json", "render_page", "static_text"]

#: The id of the ``<script type="application/json">`` element that holds a page's data.
DATA_ELEMENT_ID = "report-data"

# Everything is inline; nothing may be fetched.  ('unsafe-inline' is what lets the inline script
# and style run; there is no other script or style to allow.)
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


@functools.cache
def static_text(name: str) -> str:
    """The text of the asset ``static/<name>`` of this package (read once, then cached)."""
    return (importlib.resources.files(__package__) / "static" / name).read_text(encoding="utf-8")


def clean(obj: Any) -> Any:
    """A JSON-safe copy: numpy values become plain Python, NaN/inf become ``None``."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, torch tensors
        return clean(obj.tolist())
    return str(obj)


def embedded_json(obj: Any) -> str:
    """``obj`` as JSON that is safe to place between ``<script type="application/json">`` tags.

    The result is plain JSON (``json.loads`` reads it back unchanged): ``<``, ``>``, ``&`` and
    ``/`` only ever occur inside JSON strings, where they are written as escapes, so neither
    ``</script>`` nor ``<!--`` nor a URL can appear in the page's source.
    """
    s = json.dumps(clean(obj), ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return (
        s.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("/", "\\/")
    )


def render_page(title: str, data: Any, body: str, script: str | Sequence[str]) -> str:
    """One complete page.

    ``title`` is trusted text (a constant of the caller); ``body`` is the name of a page's HTML body
    fragment in ``static/`` and ``script`` the name of its JavaScript there, or a sequence of such
    names (helpers shared by some pages first, e.g. ``("charts.js", "gradients.js")``): they are
    concatenated in that order into the page's one script, after ``common.js``, so no two of them
    may declare the same top-level name.  ``data`` is embedded as JSON.  The shared CSS and
    JavaScript (``report.css``, ``common.js``) are part of every page.
    """
    scripts = [script] if isinstance(script, str) else list(script)
    return "".join(
        [
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">\n",
            "<meta name=\"referrer\" content=\"no-referrer\">\n",
            "<link rel=\"icon\" href=\"data:,\">\n",
            f"<title>{title}</title>\n<style>\n\n",
            static_text("report.css"),
            "</style>\n</head>\n<body>\n",
            "<noscript><p class=\"notice\">This report needs JavaScript to display its data "
            "(it is embedded in this file as JSON).</p></noscript>\n\n",
            static_text(body),
            f"\n<script type=\"application/json\" id=\"{DATA_ELEMENT_ID}\">",
            embedded_json(data),
            "</script>\n<script>\n'use strict';\n\n",
            static_text("common.js"),
            "\n",
            "\n".join(static_text(name) for name in scripts),
            "</script>\n</body>\n</html>\n",
        ]
    )
