"""Tests of the self-contained HTML attention reports (``interpretability.report``).

The unit tests read the HTML as text; the browser tests load it from a file:// URL into headless
Debian Chromium driven by Playwright (never ``playwright install``: the system browser is used) and
check the drawn views, the interactions, and that the page makes no request and logs no error.
"""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import pytest

from interpretability.report import (
    DATA_ELEMENT_ID,
    render_attention_report,
    render_comparison_report,
)
from tests.support.browser import Loaded

EVIL = "</script><img src=x onerror=alert(1)>"
# The display form of the malicious piece is a second, different payload, so that a test can tell
# which of the two a place in the page shows (and that neither gets out of the JSON).
EVIL_DISPLAY = "</script><svg onload=alert(2)>"
URL_TOKEN = "https://evil.example/x.png"
TOKENS = ["The", "Ġquick", "Ġbrown", EVIL, "Ġfox", URL_TOKEN]
ROLES = [
    "previous_token",
    "current_token",
    "first_token",
    "positional_offset",
    "broad",
    "induction",
    "mixed",
    "next_token",
]


# ----------------------------------------------------------------------------------------------
# Synthetic analyses
# ----------------------------------------------------------------------------------------------


def display_form(token: str) -> str:
    """A stand-in for the server's display form of a synthetic token (``core.tokens``)."""
    if token == EVIL:
        return EVIL_DISPLAY
    return token.replace("Ġ", " ").strip() or token


def label(text: str, max_len: int) -> str:
    """The page's shortening of a token's text to ``max_len`` characters."""
    return text if len(text) <= max_len else text[: max_len - 1] + "…"


def _softmax(xs: list[float]) -> list[float]:
    mx = max(xs)
    e = [math.exp(x - mx) for x in xs]
    s = sum(e)
    return [x / s for x in e]


def make_analysis(
    *,
    layers: tuple[int, ...] = (3, 7),
    num_heads: int = 3,
    tokens: list[str] | None = None,
    causal: bool = True,
    with_patterns: bool = True,
    seed: int = 0,
    num_layers: int = 12,
    display_tokens: list | None | str = "auto",
) -> dict:
    """An analysis in the CLI's JSON schema. The last head of each layer is an exact
    previous-token head (most weights exactly 0); the others have random softmax rows.

    ``display_tokens``: ``"auto"`` derives them from the tokens (``display_form``), ``None``
    leaves the field out (an analysis written before it existed), a list is used as is.
    """
    rng = random.Random(seed)
    tokens = list(TOKENS if tokens is None else tokens)
    n = len(tokens)
    if display_tokens == "auto":
        display_tokens = [display_form(t) for t in tokens]
    # Hotspots name their tokens in the display form (the raw piece in older analyses).
    shown = tokens
    if isinstance(display_tokens, list) and len(display_tokens) == n:
        shown = [d if isinstance(d, str) else t for d, t in zip(display_tokens, tokens)]
    heads, layer_rows, patterns, cands = [], [], [], []
    for layer in layers:
        mats = []
        counts: dict[str, int] = {}
        for h in range(num_heads):
            if h == num_heads - 1:
                m = [[1.0 if k == max(q - 1, 0) else 0.0 for k in range(n)] for q in range(n)]
            else:
                m = []
                for q in range(n):
                    visible = q + 1 if causal else n
                    row = _softmax([rng.gauss(0, 1.5) for _ in range(visible)])
                    m.append(row + [0.0] * (n - visible))
            mats.append(m)
            role = "previous_token" if h == num_heads - 1 else ROLES[(layer + h) % len(ROLES)]
            counts[role] = counts.get(role, 0) + 1
            entropy = rng.uniform(0.1, 2.5)
            heads.append(
                {
                    "layer": layer,
                    "head": h,
                    "entropy": entropy,
                    "normalized_entropy": entropy / math.log(max(n, 2)),
                    "role": role,
                    "role_score": rng.uniform(0.3, 1.0),
                    "scores": {
                        "previous_token": rng.random(),
                        "current_token": rng.random(),
                        "first_token": rng.random(),
                        "positional_offset": rng.random(),
                        "best_offset": -rng.randint(1, 3),
                        "broad": rng.random(),
                        "induction": 0.0,
                        "induction_defined": False,
                        "next_token": 0.0,
                    },
                    "mean_attention_distance": rng.uniform(0, n / 2),
                }
            )
            for q in range(n):
                for k in range(n):
                    cands.append((m[q][k], layer, h, q, k))
        layer_rows.append(
            {
                "layer": layer,
                "mean_entropy": rng.uniform(0.5, 2),
                "mean_attention_distance": rng.uniform(0, 3),
                "dominant_role": max(counts, key=counts.get),
                "role_counts": counts,
            }
        )
        patterns.append({"layer": layer, "heads": list(range(num_heads)), "matrices": mats})
    cands.sort(reverse=True)
    hotspots = [
        {
            "layer": layer,
            "head": h,
            "query_position": q,
            "key_position": k,
            "query_token": shown[q],
            "key_token": shown[k],
            "weight": w,
        }
        for w, layer, h, q, k in cands[:5]
    ]
    analysis = {
        "model": "smollm2-135m",
        "text": "The quick brown " + EVIL + " fox " + URL_TOKEN,
        "tokens": tokens,
        "token_ids": list(range(100, 100 + n)),
        "causal": causal,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "heads": heads,
        "layers": layer_rows,
        "hotspots": hotspots,
        "findings": [
            f"Layer {layers[0]}, Head {num_heads - 1}: previous-token head (score 1.00)",
            "Token " + EVIL + " attracts attention",
        ],
        "patterns": patterns if with_patterns else [],
    }
    if display_tokens is not None:
        analysis["display_tokens"] = display_tokens
    return analysis


def make_comparison(analyses: list[dict]) -> dict:
    heads = []
    for h in analyses[0]["heads"]:
        roles = [
            next(x["role"] for x in a["heads"] if (x["layer"], x["head"]) == (h["layer"], h["head"]))
            for a in analyses
        ]
        consensus = max(set(roles), key=roles.count)
        heads.append(
            {
                "layer": h["layer"],
                "head": h["head"],
                "consensus_role": consensus,
                "role_agreement": roles.count(consensus) / len(roles),
                "mean_entropy": h["entropy"],
                "entropy_std": 0.1 * h["head"],
            }
        )
    return {
        "model": analyses[0]["model"],
        "texts": [a["text"] for a in analyses],
        "heads": heads,
        "findings": ["Layer 3, Head 2 is a previous-token head on every input", EVIL],
    }


def embedded(html: str) -> dict:
    m = re.search(
        r'<script type="application/json" id="' + DATA_ELEMENT_ID + r'">(.*?)</script>', html, re.S
    )
    assert m, "no embedded JSON element"

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(m.group(1), parse_constant=no_constants)


def expected_links(analysis: dict, layer: int, heads: list[int], min_w: float = 0.0) -> set:
    """(head, query, key, weight) of every link the head view must draw."""
    p = next(p for p in analysis["patterns"] if p["layer"] == layer)
    out = set()
    for h in heads:
        m = p["matrices"][p["heads"].index(h)]
        for q, row in enumerate(m):
            for k, w in enumerate(row):
                w = round(w, 4)
                if w > 0 and w >= min_w and (not analysis["causal"] or k <= q):
                    out.add((h, q, k, w))
    return out


# ----------------------------------------------------------------------------------------------
# Unit tests of the HTML text
# ----------------------------------------------------------------------------------------------


def test_embedded_json_round_trips():
    a = make_analysis()
    data = embedded(render_attention_report(a))
    assert data["tokens"] == a["tokens"]
    assert data["display_tokens"] == a["display_tokens"]
    assert data["text"] == a["text"]
    assert data["heads"] == a["heads"]
    assert data["hotspots"] == a["hotspots"]
    assert data["findings"] == a["findings"]
    assert data["causal"] is True and data["model"] == "smollm2-135m"
    # Weights: rounded to 4 decimals; a row stops at its last nonzero weight.
    for p_in, p_out in zip(a["patterns"], data["patterns"]):
        assert p_out["layer"] == p_in["layer"] and p_out["heads"] == p_in["heads"]
        for m_in, m_out in zip(p_in["matrices"], p_out["matrices"]):
            assert len(m_out) == len(m_in)
            for row_in, row_out in zip(m_in, m_out):
                full = row_out + [0] * (len(row_in) - len(row_out))
                assert full == [round(w, 4) for w in row_in]
                assert not row_out or row_out[-1] != 0
                for w in row_out:
                    assert abs(w * 1e4 - round(w * 1e4)) < 1e-6


def test_malicious_token_cannot_break_out():
    html = render_attention_report(make_analysis())
    assert EVIL not in html
    assert EVIL_DISPLAY not in html
    assert len(re.findall(r"<svg\b", html, re.I)) == 1  # the head view's own, empty until drawn
    assert "</script><img" not in html
    assert "<img" not in html
    # Exactly the two script elements of the template: the data and the code.
    assert len(re.findall(r"<script\b", html, re.I)) == 2
    assert len(re.findall(r"</script", html, re.I)) == 2
    assert "<!--" not in html
    assert embedded(html)["tokens"][3] == EVIL
    assert embedded(html)["display_tokens"][3] == EVIL_DISPLAY


def test_no_external_resources():
    html = render_attention_report(make_analysis())
    refs = re.findall(r"""(?:src|href|action|srcset)\s*=\s*["']?([^"'\s>]*)""", html, re.I)
    refs += re.findall(r"""url\(\s*["']?([^"')]*)""", html, re.I)
    refs += re.findall(r"""@import\s+["']?([^"';]*)""", html, re.I)
    assert refs, "the test should see at least the in-page links"
    for ref in refs:
        assert not re.match(r"(?i)^(https?:|//|ftp:|ws)", ref), ref
    # Even the URL in the analyzed text is escaped inside the JSON, so no URL appears at all.
    assert "http://" not in html and "https://" not in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    comp = render_comparison_report(make_comparison([make_analysis()]), [make_analysis()], ["a.html"])
    assert "http://" not in comp and "https://" not in comp


def test_non_finite_numbers_become_null():
    a = make_analysis()
    a["heads"][0]["entropy"] = float("nan")
    a["layers"][0]["mean_entropy"] = float("inf")
    a["patterns"][0]["matrices"][0][2][1] = float("nan")
    data = embedded(render_attention_report(a))
    assert data["heads"][0]["entropy"] is None
    assert data["layers"][0]["mean_entropy"] is None
    assert data["patterns"][0]["matrices"][0][2][1] == 0


def test_numpy_input():
    np = pytest.importorskip("numpy")
    a = make_analysis()
    for p in a["patterns"]:
        p["matrices"] = np.array(p["matrices"], dtype=np.float32)
        p["heads"] = np.arange(len(p["heads"]))
    a["heads"][0]["entropy"] = np.float32(1.5)
    data = embedded(render_attention_report(a))
    assert data["patterns"][0]["heads"] == [0, 1, 2]
    assert data["heads"][0]["entropy"] == 1.5
    assert data["patterns"][0]["matrices"][2][3] == [0, 0, 1]


def test_without_patterns():
    a = make_analysis(with_patterns=False)
    data = embedded(render_attention_report(a))
    assert data["patterns"] == []
    assert len(data["heads"]) == 6


def test_large_model_stays_small():
    tokens = ["Ġt%d" % i for i in range(64)]
    a = make_analysis(layers=tuple(range(30)), num_heads=9, tokens=tokens, num_layers=30)
    html = render_attention_report(a)
    size = len(html.encode("utf-8"))
    assert size < 5_000_000, size
    assert len(embedded(html)["patterns"]) == 30


def test_comparison_embedding():
    analyses = [make_analysis(seed=s) for s in range(3)]
    comp = make_comparison(analyses)
    links = ["input_0.html", "javascript:alert(1)", "input_2.html"]
    html = render_comparison_report(comp, analyses, links)
    data = embedded(html)
    assert data["links"] == links
    assert data["comparison"]["heads"] == comp["heads"]
    assert [i["num_tokens"] for i in data["inputs"]] == [6, 6, 6]
    assert "patterns" not in data["inputs"][0] and "matrices" not in html
    assert EVIL not in html and len(re.findall(r"</script", html, re.I)) == 2


# ----------------------------------------------------------------------------------------------
# Real-browser tests (headless Debian Chromium through Playwright)
# ----------------------------------------------------------------------------------------------






def load(browser, tmp_path: Path, name: str, html: str, init_script: str | None = None) -> Loaded:
    path = tmp_path / name
    path.write_text(html, encoding="utf-8")
    return Loaded(browser, path, init_script)


# Records every text drawn on a canvas (the heatmap's token labels) in window.__canvasTexts.
RECORD_CANVAS_TEXT_JS = """
window.__canvasTexts = [];
const fillText = CanvasRenderingContext2D.prototype.fillText;
CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
  window.__canvasTexts.push(String(text));
  return fillText.call(this, text, ...rest);
};
"""


def token_views(page) -> dict:
    """The token texts the attention page shows, per place, and the raw pieces of their tooltips."""
    return page.evaluate(
        """() => {
      const texts = sel => Array.from(document.querySelectorAll(sel)).map(e => e.textContent);
      return {
        query: texts('#headview g.tok.q > text:not(.wlabel)'),
        key: texts('#headview g.tok.k > text:not(.wlabel)'),
        query_titles: texts('#headview g.tok.q > title'),
        hotspot_query: texts('#hotspots-table tbody tr td:nth-child(3) .tok-inline'),
        hotspot_query_titles: Array.from(document.querySelectorAll(
            '#hotspots-table tbody tr td:nth-child(3) .tok-inline')).map(e => e.title),
        canvas: window.__canvasTexts || [],
        legend: document.getElementById('token-legend').textContent,
      };
    }"""
    )


DRAWN_LINKS_JS = """() => Array.from(document.querySelectorAll('#headview line.link')).map(l =>
    [+l.dataset.h, +l.dataset.q, +l.dataset.k, parseFloat(l.dataset.w)])"""


def drawn(page) -> set:
    rows = page.evaluate(DRAWN_LINKS_JS)
    out = {tuple(r) for r in rows}
    assert len(out) == len(rows), "a link was drawn twice"
    return out


def test_browser_attention_report(browser, tmp_path):
    a = make_analysis()
    r = load(browser, tmp_path, "attention_analysis.html", render_attention_report(a))
    page = r.page
    try:
        # Header and findings.
        assert "smollm2-135m" in page.title()
        assert page.text_content("#meta-model") == "smollm2-135m"
        assert page.text_content("#meta-tokens") == "6"
        assert page.text_content("#meta-causal") == "causal"
        assert page.text_content("#input-text") == a["text"]
        assert page.locator("#findings li").count() == 2
        assert page.locator("#findings li").nth(1).text_content() == a["findings"][1]
        # The untrusted token is text everywhere: no element was injected, no script ran.
        assert page.locator("img").count() == 0
        assert page.evaluate("document.scripts.length") == 2
        q3_title = page.text_content('#headview g.tok.q[data-i="3"] title')
        assert EVIL in q3_title  # the tooltip names the raw piece
        assert page.text_content('#headview g.tok.q[data-i="3"] text') == label(EVIL_DISPLAY, 18)
        assert page.text_content('#headview g.tok.q[data-i="1"] text') == "quick"
        assert page.locator("svg").count() == 1 and page.locator("[onload], [onerror]").count() == 0

        # Head view: the first analyzed layer and its first head, one link per nonzero weight.
        assert page.input_value("#layer-select") == "3"
        links = drawn(page)
        assert links == expected_links(a, 3, [0])
        assert len(links) == 21  # causal, 6 tokens, random rows: every k <= q is nonzero
        assert all(k <= q for _, q, k, _ in links)

        # Hovering a query token highlights exactly its links.
        page.hover('#headview g.tok.q[data-i="4"]')
        on = page.evaluate(
            "Array.from(document.querySelectorAll('#headview line.link.on')).map(l => [+l.dataset.q, +l.dataset.k])"
        )
        assert sorted(on) == [[4, k] for k in range(5)]
        assert page.evaluate("document.getElementById('headview').classList.contains('focus')")
        page.mouse.move(5, 5)
        assert page.locator("#headview line.link.on").count() == 0

        # Another head: the sparse previous-token head draws one link per query.
        page.click('#head-chips .chip[data-head="2"]')
        links2 = drawn(page)
        assert links2 == expected_links(a, 3, [2]) and len(links2) == 6
        assert links2 != links
        # Shift-click adds a head.
        page.click('#head-chips .chip[data-head="0"]', modifiers=["Shift"])
        assert drawn(page) == expected_links(a, 3, [0, 2])
        assert page.locator("#head-chips .chip.active").count() == 2

        # Another layer keeps the head selection, with that layer's weights.
        page.select_option("#layer-select", "7")
        links7 = drawn(page)
        assert links7 == expected_links(a, 7, [0, 2])
        assert links7 != expected_links(a, 3, [0, 2])

        # Minimum weight slider.
        page.evaluate(
            "() => { const s = document.getElementById('min-weight'); s.value = '0.2';"
            " s.dispatchEvent(new Event('input')); }"
        )
        assert drawn(page) == expected_links(a, 7, [0, 2], min_w=0.2)
        page.evaluate(
            "() => { const s = document.getElementById('min-weight'); s.value = '0';"
            " s.dispatchEvent(new Event('input')); }"
        )

        # Model view: one cell per analyzed head, each with a thumbnail; a click selects it.
        cells = page.locator("#modelview .mv-cell")
        assert cells.count() == 6
        assert page.locator("#modelview .mv-cell canvas.thumb").count() == 6
        page.click('#modelview .mv-cell[data-layer="3"][data-head="1"]')
        assert page.input_value("#layer-select") == "3"
        assert drawn(page) == expected_links(a, 3, [1])
        assert "Layer 3, head 1" in page.text_content("#heatmap-title")
        assert page.locator('#modelview .mv-cell.selected[data-layer="3"][data-head="1"]').count() == 1
        assert page.locator("#modelview .mv-cell.selected").count() == 1

        # Heatmap of the selected head: the weight on hover.
        heat = page.locator("#heatmap")
        heat.scroll_into_view_if_needed()
        ds = page.evaluate("({...document.getElementById('heatmap').dataset})")
        left, top, cell = float(ds["left"]), float(ds["top"]), float(ds["cell"])
        assert int(ds["n"]) == 6
        box = heat.bounding_box()
        q, k = 4, 2
        page.mouse.move(box["x"] + left + (k + 0.5) * cell, box["y"] + top + (q + 0.5) * cell)
        tip = page.text_content("#tooltip")
        w = round(a["patterns"][0]["matrices"][1][q][k], 4)
        assert f"weight {w:.4f}" in tip and "query 4" in tip and "key 2" in tip
        page.mouse.move(box["x"] + left + 5.5 * cell, box["y"] + top + 1.5 * cell)
        assert "masked (causal)" in page.text_content("#tooltip")

        # Tables.
        assert page.locator("#heads-table tbody tr").count() == 6
        assert page.locator("#hotspots-table tbody tr").count() == 5
        assert page.locator("#layers-table tbody tr").count() == 2
        page.click('#heads-table th:has-text("Entropy") >> nth=0')
        first = page.text_content("#heads-table tbody tr:first-child td:nth-child(5)")
        assert float(first) == pytest.approx(max(h["entropy"] for h in a["heads"]), abs=1e-3)
        page.select_option("#role-filter", "previous_token")
        n_prev = sum(h["role"] == "previous_token" for h in a["heads"])
        assert page.locator("#heads-table tbody tr").count() == n_prev
        # A hotspot row selects its head.
        page.click("#hotspots-table tbody tr:first-child")
        hs = a["hotspots"][0]
        assert page.input_value("#layer-select") == str(hs["layer"])

        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(tmp_path / "attention_report.png"), full_page=True)
        r.check_clean()
    finally:
        r.close()


def test_browser_bidirectional(browser, tmp_path):
    a = make_analysis(
        causal=False,
        tokens=["[CLS]", "the", "quick", "##est", "fox", "[SEP]"],
        display_tokens=["[CLS]", "the", "quick", "est", "fox", "[SEP]"],
    )
    r = load(browser, tmp_path, "bidirectional.html", render_attention_report(a))
    try:
        assert r.page.text_content("#meta-causal") == "bidirectional"
        links = drawn(r.page)
        assert links == expected_links(a, 3, [0]) and len(links) == 36
        assert any(k > q for _, q, k, _ in links)
        assert r.page.text_content('#headview g.tok.k[data-i="3"] text') == "est"
        r.check_clean()
    finally:
        r.close()


# Raw pieces of a byte-level BPE tokenizer and the server's display form of each (decoded, trimmed,
# control characters escaped, a whitespace-only token as ␣).
BPE_TOKENS = ["<|endoftext|>", "Ġnaïve", "Ċ", "ĠĠ", "Ġcafé", "Ġsupercalifragilistic"]
BPE_DISPLAY = ["<|endoftext|>", "naïve", "\\n", "␣␣", "café", "supercalifragilistic"]


def test_browser_display_tokens(browser, tmp_path):
    """Every place that shows a token shows its display form; the tooltips show the raw piece."""
    a = make_analysis(tokens=BPE_TOKENS, display_tokens=BPE_DISPLAY)
    r = load(browser, tmp_path, "display.html", render_attention_report(a), RECORD_CANVAS_TEXT_JS)
    page = r.page
    try:
        v = token_views(page)
        assert v["query"] == v["key"] == [label(t, 18) for t in BPE_DISPLAY]
        assert v["query"][5] == "supercalifragilis…"
        assert v["query_titles"] == [f"query {i}: {json.dumps(t, ensure_ascii=False)}" for i, t in enumerate(BPE_TOKENS)]
        # The heatmap's row and column labels.
        assert {label(t, 14) for t in BPE_DISPLAY} <= set(v["canvas"])
        assert not any("Ġ" in t or "Ċ" in t for t in v["canvas"])
        # Hotspots: the display form in the cell, the raw piece in its tooltip.
        positions = [h["query_position"] for h in a["hotspots"]]
        assert v["hotspot_query"] == [label(BPE_DISPLAY[q], 24) for q in positions]
        assert v["hotspot_query_titles"] == [json.dumps(BPE_TOKENS[q], ensure_ascii=False) for q in positions]
        assert "decodes" in v["legend"]
        # The heatmap tooltip names the raw pieces.
        heat = page.locator("#heatmap")
        heat.scroll_into_view_if_needed()
        ds = page.evaluate("({...document.getElementById('heatmap').dataset})")
        left, top, cell = float(ds["left"]), float(ds["top"]), float(ds["cell"])
        box = heat.bounding_box()
        page.mouse.move(box["x"] + left + 1.5 * cell, box["y"] + top + 4.5 * cell)
        tip = page.text_content("#tooltip")
        assert 'query 4 "Ġcafé"' in tip and 'key 1 "Ġnaïve"' in tip
        r.check_clean()
    finally:
        r.close()


@pytest.mark.parametrize(
    "display_tokens, expected",
    [
        (None, BPE_TOKENS),  # an analysis from before display_tokens
        (BPE_DISPLAY[:-1], BPE_TOKENS),  # one entry short: none of them can be trusted
        (BPE_DISPLAY + ["extra"], BPE_TOKENS),
        ("not a list", BPE_TOKENS),
        # One entry that is not a string: that token alone shows its raw piece.
        (BPE_DISPLAY[:2] + [None] + BPE_DISPLAY[3:], BPE_DISPLAY[:2] + BPE_TOKENS[2:3] + BPE_DISPLAY[3:]),
    ],
    ids=["missing", "short", "long", "not-a-list", "null-entry"],
)
def test_browser_display_tokens_fallback(browser, tmp_path, display_tokens, expected):
    """Without a usable display_tokens list the page shows the raw pieces, as they are."""
    a = make_analysis(tokens=BPE_TOKENS, display_tokens=display_tokens)
    if display_tokens is None:
        assert "display_tokens" not in a
    r = load(browser, tmp_path, "fallback.html", render_attention_report(a), RECORD_CANVAS_TEXT_JS)
    try:
        v = token_views(r.page)
        assert v["query"] == v["key"] == [label(t, 18) for t in expected]
        assert {label(t, 14) for t in expected} <= set(v["canvas"])
        positions = [h["query_position"] for h in a["hotspots"]]
        assert v["hotspot_query"] == [label(expected[q], 24) for q in positions]
        assert v["hotspot_query_titles"] == [json.dumps(BPE_TOKENS[q], ensure_ascii=False) for q in positions]
        decoded = isinstance(display_tokens, list) and len(display_tokens) == len(BPE_TOKENS)
        assert ("decodes" in v["legend"]) == decoded
        assert ("raw tokens are shown" in v["legend"]) == (not decoded)
        r.check_clean()
    finally:
        r.close()


def test_browser_without_patterns(browser, tmp_path):
    a = make_analysis(with_patterns=False)
    r = load(browser, tmp_path, "no_patterns.html", render_attention_report(a))
    page = r.page
    try:
        assert page.is_visible("#no-patterns")
        assert "not included" in page.text_content("#no-patterns")
        assert not page.is_visible("#headview")
        assert page.locator("#headview line").count() == 0
        assert page.locator("#heads-table tbody tr").count() == 6
        assert page.locator("#hotspots-table tbody tr").count() == 5
        assert page.locator("#layers-table tbody tr").count() == 2
        # The model view still maps the roles, one cell per analyzed head, without thumbnails.
        assert page.locator("#modelview .mv-cell").count() == 6
        assert page.locator("#modelview canvas").count() == 0
        page.screenshot(path=str(tmp_path / "no_patterns.png"), full_page=True)
        r.check_clean()
    finally:
        r.close()


def test_browser_large_model(browser, tmp_path):
    tokens = ["<|endoftext|>"] + ["Ġw%d" % i for i in range(63)]
    a = make_analysis(layers=tuple(range(30)), num_heads=9, tokens=tokens, num_layers=30, seed=3)
    r = load(browser, tmp_path, "large.html", render_attention_report(a))
    page = r.page
    try:
        assert page.locator("#modelview .mv-cell").count() == 270
        assert page.locator("#modelview canvas.thumb").count() == 270
        assert page.locator("#layer-select option").count() == 30
        assert len(drawn(page)) == len(expected_links(a, 0, [0])) == 64 * 65 // 2
        page.click("#all-heads")
        assert len(drawn(page)) == len(expected_links(a, 0, list(range(9))))
        # The model view stays compact: 9 thumbnails fit in a normal window.
        assert page.evaluate("document.getElementById('modelview').scrollWidth") < 900
        page.screenshot(path=str(tmp_path / "large_model.png"), full_page=False)
        r.check_clean()
    finally:
        r.close()


def test_browser_comparison_report(browser, tmp_path):
    analyses = [make_analysis(seed=s) for s in range(3)]
    analyses[1]["heads"][0]["role"] = "induction"
    comp = make_comparison(analyses)
    links = ["input_0.html", "javascript:alert(1)", "input_2.html"]
    r = load(browser, tmp_path / "", "comparison.html", render_comparison_report(comp, analyses, links))
    page = r.page
    try:
        assert page.text_content("#meta-inputs") == "3"
        assert page.text_content("#meta-heads") == "6"
        anchors = page.evaluate(
            "Array.from(document.querySelectorAll('a.report-link')).map(a => a.getAttribute('href'))"
        )
        assert anchors == ["input_0.html", "input_2.html"]
        assert page.locator('a[href^="javascript"]').count() == 0
        assert page.locator("#inputs-table tbody tr").count() == 3
        assert page.locator("#findings li").count() == 2
        assert page.locator("img").count() == 0
        # Role agreement heatmap: one cell per compared head.
        assert page.locator("#agreement .ag-cell").count() == 6
        ag = page.get_attribute('#agreement .ag-cell[data-layer="3"][data-head="0"]', "data-agreement")
        assert float(ag) == pytest.approx(comp["heads"][0]["role_agreement"])
        # Per-head table, sortable by clicking a header.
        assert page.locator("#heads-table tbody tr").count() == 6
        page.click('#heads-table th:has-text("Role agreement")')
        col = [
            float(t)
            for t in page.locator("#heads-table tbody tr td:nth-child(4)").all_text_contents()
        ]
        assert col == sorted(col, reverse=True)
        page.click('#heads-table th:has-text("Role agreement")')
        col = [
            float(t)
            for t in page.locator("#heads-table tbody tr td:nth-child(4)").all_text_contents()
        ]
        assert col == sorted(col)
        page.screenshot(path=str(tmp_path / "comparison.png"), full_page=True)
        r.check_clean()
    finally:
        r.close()


def test_browser_minimal_input(browser, tmp_path):
    """A nearly empty analysis still renders, without a script error."""
    a = {"model": "m", "text": "", "tokens": [], "causal": False, "heads": [], "patterns": []}
    r = load(browser, tmp_path, "minimal.html", render_attention_report(a))
    try:
        assert r.page.text_content("#meta-tokens") == "0"
        assert r.page.is_visible("#no-patterns")
        assert r.page.locator("#modelview .mv-cell").count() == 0
        r.check_clean()
    finally:
        r.close()
    r = load(
        browser,
        tmp_path,
        "minimal_comparison.html",
        render_comparison_report({"model": "m", "texts": [], "heads": [], "findings": []}, [], []),
    )
    try:
        assert r.page.text_content("#meta-inputs") == "0"
        r.check_clean()
    finally:
        r.close()
