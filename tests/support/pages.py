"""Checks shared by the HTML report tests: the embedded data, self-containment, and what a
loaded page must not contain."""

from __future__ import annotations

import json
import re
from pathlib import Path

from interpretability.report.page import DATA_ELEMENT_ID
from tests.support.browser import Loaded


def embedded(page: str) -> dict:
    """The JSON the page carries in its data element (strict JSON: no NaN or Infinity)."""
    m = re.search(r'<script type="application/json" id="' + DATA_ELEMENT_ID + r'">(.*?)</script>', page, re.S)
    assert m, "no embedded JSON element"

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(m.group(1), parse_constant=no_constants)


def assert_self_contained(page: str) -> None:
    """A CSP that forbids every fetch, and no reference to anything off the page."""
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    refs = re.findall(r"""(?:src|href|action|srcset)\s*=\s*["']?([^"'\s>]*)""", page, re.I)
    refs += re.findall(r"""url\(\s*["']?([^"')]*)""", page, re.I)
    refs += re.findall(r"""@import\s+["']?([^"';]*)""", page, re.I)
    for ref in refs:
        assert not re.match(r"(?i)^(https?:|//|ftp:|ws)", ref), ref
    assert "http://" not in page and "https://" not in page


def load(browser, tmp_path: Path, name: str, page: str, *, timeout_ms: int | None = None) -> Loaded:
    """Write ``page`` and open it in the test browser (``timeout_ms``: fail fast on a missing
    element of a page that is built once loaded)."""
    path = tmp_path / name
    path.write_text(page, encoding="utf-8")
    loaded = Loaded(browser, path)
    if timeout_ms is not None:
        loaded.page.set_default_timeout(timeout_ms)
    return loaded


def numbers_in(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]


def assert_injection_free(page) -> None:
    """No element or handler came from the data: only the page's own two scripts."""
    assert page.locator("img").count() == 0
    assert page.locator("[onload], [onerror]").count() == 0
    assert page.evaluate("document.scripts.length") == 2
