"""Tests of the activations service's HTML reports (``render_gradient_report``,
``render_logit_lens_report``, ``render_activation_report`` of ``interpretability.report``).

The data is the CLI's dict form of the result messages (``MessageToDict`` with
``preserving_proto_field_name`` and ``always_print_fields_with_no_presence``: int64 fields as
strings).  ``tests/fixtures/activations/*.json`` are real results of smollm2-135m (the gradients
of " Paris" for two texts, the logit lens of "The capital of France is", the activation statistics
of the emotion examples at layers 0, 5, 10 and 29); the small synthetic results below carry the
malicious tokens and the edge cases.  The browser tests load the pages into headless Debian
Chromium (skipped where it is missing, see ``tests/support/browser.py``).
"""

from __future__ import annotations

import html as htmllib
import json
import re
from pathlib import Path

import pytest

from interpretability.report import (
    render_activation_report,
    render_gradient_report,
    render_logit_lens_report,
)
from interpretability.report.page import render_page, static_text
from tests.support.pages import assert_injection_free, assert_self_contained, embedded, load, numbers_in

FIXTURES = Path(__file__).parent / "fixtures" / "activations"
EVIL = "</script><img src=x onerror=alert(1)>"
EVIL2 = "<svg onload=alert(2)>&amp;"
URL_TOKEN = "https://evil.example/x.png"
SITE_MLP, SITE_RESID = "ACTIVATION_SITE_MLP_POST", "ACTIVATION_SITE_RESID_POST"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def label(text: str, max_len: int) -> str:
    """The pages' shortening of a token to ``max_len`` characters (``tokenLabel``)."""
    return text if len(text) <= max_len else text[: max_len - 1] + "…"


# ----------------------------------------------------------------------------------------------
# Synthetic results (the CLI's dict form)
# ----------------------------------------------------------------------------------------------


def make_gradients(*, attention: bool = True, norms: bool = True, layers=(0, 1, 2), heads: int = 3) -> dict:
    tokens = ["The", EVIL, " Paris", URL_TOKEN]
    n = len(tokens)
    texts = []
    for t in range(2):
        hidden = [
            {
                "layer": layer,
                "norm": 0.5 / (layer + 1) + t,
                "norms": [0.1 * (i + 1) / (layer + 1) + 0.01 * t for i in range(n)] if norms else [],
                "weight_x_gradient": [],
            }
            for layer in layers
        ]
        attn = [
            {
                "layer": layer,
                "norm": 2.0 + layer,
                "norms": [0.2 * (h + 1) for h in range(heads)],
                "weight_x_gradient": [(-1) ** h * 0.05 * (h + 1) * (layer + 1) for h in range(heads)],
            }
            for layer in layers
        ]
        texts.append(
            {
                "text": "The " + EVIL + " Paris " + URL_TOKEN,
                "tokens": tokens,
                "target": "log p(' Paris')",
                "target_value": -1.25 - t,
                "saliency": [0.5, 3.0, 1.25, 0.0],
                "input_x_gradient": [0.25, -1.5, 0.75, 0.0],
                "hidden": hidden,
                "attention": attn if attention else [],
            }
        )
    return {
        "model": "smollm2-135m",
        "texts": texts,
        "flow": {
            "layers": list(layers),
            "hidden_norms": [0.5 / (layer + 1) for layer in layers],
            "attention_norms": [2.0 + layer for layer in layers] if attention else [],
            "first_to_last_ratio": float(len(layers)),
            "verdict": "stable",
        },
        "findings": ["Gradient flow is stable.", "The most salient token is " + EVIL],
    }


def make_lens(*, layers=(0, 5, 11), top_k: int = 3) -> dict:
    tokens = ["The", EVIL, "of", URL_TOKEN]
    targets = [EVIL, "of", URL_TOKEN, " Paris"]
    out_layers = []
    for li, layer in enumerate(layers):
        cells = []
        for pos in range(len(tokens)):
            top = [
                {"token_id": str(100 + k), "token": [EVIL2, " Paris", "the", ","][k % 4], "probability": 0.5 / (k + 1)}
                for k in range(top_k)
            ]
            cells.append(
                {
                    "top": top,
                    "target_probability": round(0.1 * (li + 1) * (pos + 1) / 4, 6),
                    "target_rank": (len(layers) - li - 1) * (pos + 3),
                }
            )
        out_layers.append({"layer": layer, "cells": cells})
    return {
        "model": "smollm2-135m",
        "tokens": tokens,
        "targets": targets,
        "target_ids": ["11", "12", "13", "7042"],
        "layers": out_layers,
        "findings": ["At the last position, " + EVIL + " first becomes the top prediction at layer 11."],
    }


def _summary(layer: int, bins: int = 6) -> dict:
    return {
        "layer": layer,
        "mean": 0.01 * layer,
        "std": 0.5 + layer,
        "fraction_zero": 0.001,
        "fraction_positive": 0.5,
        "median_kurtosis": "NaN" if layer == 3 else 2.5,
        "max": 4.0 + layer,
        "min": -3.0 - layer,
        "dead_neurons": [1, 7] if layer == 0 else [],
        "saturated_neurons": [],
        "outlier_neurons": list(range(100)) if layer == 3 else [5],
        "histogram": {
            "edges": [-3.0 + k for k in range(bins + 1)],
            "counts": [str(10 ** (k % 4) + layer) for k in range(bins)],
            "underflow": str(7 + layer),
            "overflow": "3",
        },
    }


def make_activations(*, neuron_examples: bool = True, skipped_listed: int = 1, skipped_count: int = 3) -> dict:
    tensor = {"dtype": "DATA_TYPE_FLOAT32", "shape": ["2", "8"], "dim_names": ["layer", "neuron"], "raw": "AAAA" * 64}
    sites = [
        {"site": SITE_MLP, "layers": [0, 3], "width": 8, "layer_summaries": [_summary(0), _summary(3)],
         **{k: tensor for k in ("mean", "std", "fraction_zero", "fraction_positive", "kurtosis", "max", "min")}},
        {"site": SITE_RESID, "layers": [0, 3], "width": 4, "layer_summaries": [_summary(0, 4), _summary(3, 4)]},
        {"site": "ACTIVATION_SITE_ATTN_OUT", "layers": [], "width": 4, "layer_summaries": []},
    ]  # fmt: skip
    examples = [
        {
            "neuron": {"site": SITE_MLP, "layer": 3, "index": 5},
            "chosen_as": "requested",
            "mean": 0.25,
            "max": 9.5,
            "examples": [
                {"text_index": 2, "position": 4, "activation": 9.5, "token": EVIL, "left_context": "I was " + EVIL2,
                 "right_context": " today " + URL_TOKEN},
                {"text_index": 0, "position": 0, "activation": 4.75, "token": "My", "left_context": "", "right_context": "heart"},
            ],
        },
        {"neuron": {"site": SITE_RESID, "layer": 0, "index": 1}, "chosen_as": "top of layer", "mean": 1.0, "max": 2.0,
         "examples": []},
    ]  # fmt: skip
    return {
        "model": "smollm2-135m",
        "texts_analyzed": "12",
        "tokens_analyzed": "345",
        "sites": sites,
        "neuron_examples": examples if neuron_examples else [],
        "findings": ["MLP activations: the largest activation, 7.0, is in layer 3.", EVIL],
        "skipped": [{"index": 4 + i, "reason": "empty", "excerpt": EVIL} for i in range(skipped_listed)],
        "skipped_count": skipped_count,
        "seconds": 1.5,
        "zero_threshold": 1e-06,
    }


RENDERERS = {
    "gradients": (render_gradient_report, make_gradients),
    "logit_lens": (render_logit_lens_report, make_lens),
    "activations": (render_activation_report, make_activations),
}


# ----------------------------------------------------------------------------------------------
# Unit tests of the HTML text
# ----------------------------------------------------------------------------------------------






def assert_no_injection(page: str) -> None:
    assert EVIL not in page and "</script><img" not in page and "<img" not in page
    assert "<svg onload" not in page
    # Exactly the two script elements of the template: the data and the code.
    assert len(re.findall(r"<script\b", page, re.I)) == 2
    assert len(re.findall(r"</script", page, re.I)) == 2
    assert "<!--" not in page


@pytest.mark.parametrize("kind", sorted(RENDERERS))
def test_synthetic_pages_are_safe(kind):
    render, make = RENDERERS[kind]
    page = render(make())
    assert_self_contained(page)
    assert_no_injection(page)
    assert EVIL in json.dumps(embedded(page))  # the token is there, as JSON data


@pytest.mark.parametrize("kind", sorted(RENDERERS))
def test_fixture_pages_are_self_contained(kind):
    render, _ = RENDERERS[kind]
    page = render(fixture(kind))
    assert_self_contained(page)
    assert len(re.findall(r"</script", page, re.I)) == 2
    assert len(page) < 200_000


@pytest.mark.parametrize("kind", sorted(RENDERERS))
def test_title_is_escaped(kind):
    render, make = RENDERERS[kind]
    title = "A & B </title><script>alert(3)</script>"
    page = render(make(), title=title)
    assert f"<title>{htmllib.escape(title, quote=True)}</title>" in page
    assert "<script>alert(3)" not in page
    assert embedded(page)["title"] == title
    with pytest.raises(TypeError):
        render([make()])


def test_int64_strings_become_numbers():
    lens = embedded(render_logit_lens_report(make_lens()))["result"]
    assert lens["target_ids"] == [11, 12, 13, 7042]
    assert lens["layers"][0]["cells"][0]["top"][0]["token_id"] == 100
    assert lens["tokens"][1] == EVIL and lens["layers"][0]["cells"][0]["top"][0]["token"] == EVIL2
    acts = embedded(render_activation_report(make_activations()))["result"]
    assert acts["texts_analyzed"] == 12 and acts["tokens_analyzed"] == 345
    mlp = acts["sites"][0]
    hist = mlp["layer_summaries"][1]["histogram"]
    assert hist["counts"] == [4, 13, 103, 1003, 4, 13] and hist["underflow"] == 10 and hist["overflow"] == 3
    assert mlp["layer_summaries"][1]["median_kurtosis"] is None  # "NaN"
    # The per-neuron tensors are left out, and the page is told they were there.
    assert mlp["statistics_included"] is True and acts["sites"][1]["statistics_included"] is False
    for k in ("mean", "std", "fraction_zero", "fraction_positive", "kurtosis", "max", "min"):
        assert k not in mlp
    assert "AAAAAAAA" not in render_activation_report(make_activations())
    # A numeric-looking token stays a string.
    g = make_gradients()
    g["texts"][0]["tokens"][0] = "42"
    assert embedded(render_gradient_report(g))["result"]["texts"][0]["tokens"][0] == "42"


def test_pages_share_charts_js():
    charts = static_text("charts.js")
    for kind, (render, make) in RENDERERS.items():
        page = render(make())
        own = static_text(f"{kind}.js")
        # One script: common.js, then charts.js, then the page's own, each once.
        assert page.count(charts) == 1 and page.count(own) == 1
        assert page.index(static_text("common.js")) < page.index(charts) < page.index(own)
        assert page.count("function lineChart(") == 1 and page.count("function short(") == 1
    # A single name still works, and a sequence is concatenated in order.
    one = render_page("t", {}, "logit_lens.html", "logit_lens.js")
    assert charts not in one and static_text("logit_lens.js") in one
    both = render_page("t", {}, "logit_lens.html", ["charts.js", "logit_lens.js"])
    assert charts + "\n" + static_text("logit_lens.js") in both


def test_accepts_the_message():
    from google.protobuf import json_format

    from interp.v1 import activations_service_pb2 as acpb

    d = fixture("logit_lens")
    msg = json_format.ParseDict(d, acpb.LogitLensResponse())
    assert embedded(render_logit_lens_report(msg)) == embedded(render_logit_lens_report(d))


# ----------------------------------------------------------------------------------------------
# Real-browser tests (headless Debian Chromium through Playwright)
# ----------------------------------------------------------------------------------------------








def test_browser_gradient_report(browser, tmp_path):
    data = fixture("gradients")
    r = load(browser, tmp_path, "gradients.html", render_gradient_report(data, title="Gradients <of> Paris"))
    page = r.page
    try:
        assert page.title() == "Gradients <of> Paris \u2014 smollm2-135m"
        assert page.text_content("#title") == "Gradients <of> Paris"
        assert page.locator("#findings li").count() == len(data["findings"])
        flow = data["flow"]
        n_layers = len(flow["layers"])
        # The flow chart: one line per series, one point per layer, on a log axis.
        assert page.locator("svg.flow-chart").get_attribute("data-scale") == "log"
        assert page.locator("svg.flow-chart path.series").count() == 2
        assert page.locator('svg.flow-chart circle.pt[data-series="hidden"]').count() == n_layers
        assert page.locator('svg.flow-chart circle.pt[data-series="attention"]').count() == n_layers
        tip = page.text_content('svg.flow-chart circle.pt[data-series="hidden"][data-x="3"] title')
        assert tip.startswith("residual stream, layer 3: ") and numbers_in(tip)[-1] == flow["hidden_norms"][3]
        assert page.text_content("#flow-verdict-value") == flow["verdict"]
        assert page.get_attribute("#flow-ratio", "title") == f"first / last = {flow['first_to_last_ratio']!r}"
        assert page.text_content("#flow-ratio") == f"{flow['first_to_last_ratio']:.3g}\u00d7"

        for i, t in enumerate(data["texts"]):
            sec = page.locator(f"#text-{i + 1}")
            n = len(t["tokens"])
            heads = len(t["attention"][0]["weight_x_gradient"])
            assert sec.locator('.tokens[data-kind="saliency"] .tok').count() == n
            assert sec.locator('.tokens[data-kind="input_x_gradient"] .tok').count() == n
            assert sec.locator("table.hidden-map tbody tr").count() == len(t["hidden"])
            assert sec.locator("table.hidden-map td.cell").count() == len(t["hidden"]) * n
            assert sec.locator("table.attn-map td.cell").count() == len(t["attention"]) * heads
            # Exact values in the tooltips.
            k = max(range(n), key=lambda j: t["saliency"][j])
            tok = sec.locator(f'.tokens[data-kind="saliency"] .tok[data-i="{k}"]')
            assert tok.text_content() == t["tokens"][k]
            assert numbers_in(tok.get_attribute("title"))[-1] == t["saliency"][k]
            g = sec.locator(f'.tokens[data-kind="input_x_gradient"] .tok[data-i="{k}"]').get_attribute("title")
            assert numbers_in(g)[-1] == t["input_x_gradient"][k]
            cell = sec.locator('table.hidden-map td.cell[data-layer="5"][data-i="1"]').get_attribute("title")
            assert numbers_in(cell.split("\n")[-1])[-1] == t["hidden"][5]["norms"][1]
            a = t["attention"][2]
            cell = sec.locator('table.attn-map td.cell[data-layer="2"][data-head="4"]').get_attribute("title")
            assert "head 4\nweight \u00d7 gradient: " in cell
            lines = cell.split("\n")
            assert numbers_in(lines[1])[-1] == a["weight_x_gradient"][4] and numbers_in(lines[2])[-1] == a["norms"][4]
        # Signed colours: a negative weight x gradient is red, a positive one green.
        wxg = data["texts"][0]["attention"][0]["weight_x_gradient"]
        neg, pos = wxg.index(min(wxg)), wxg.index(max(wxg))

        def bg(h):
            cell = page.locator(f'#text-1 table.attn-map td.cell[data-layer="0"][data-head="{h}"]')
            return cell.evaluate("e => getComputedStyle(e).backgroundColor")

        assert bg(neg) == "rgb(200, 40, 45)" and bg(pos).startswith("rgb(") and bg(pos) != bg(neg)
        # The hidden map's colour scale: whole map or per layer.
        hm = page.locator("#text-1 table.hidden-map")
        before = hm.locator('td.cell[data-layer="29"]').last.evaluate("e => e.style.backgroundColor")
        page.locator("#text-1 select.hidden-scale").select_option("row")
        assert hm.get_attribute("data-scale") == "row"
        assert hm.locator('td.cell[data-layer="29"]').last.evaluate("e => e.style.backgroundColor") != before
        r.check_clean()
    finally:
        r.close()


def test_browser_gradient_report_edge_cases(browser, tmp_path):
    data = make_gradients(attention=False, norms=False, layers=(4,))
    r = load(browser, tmp_path, "gradients_min.html", render_gradient_report(data))
    page = r.page
    try:
        assert_injection_free(page)
        assert page.text_content("#title") == "Gradient analysis"
        assert page.locator("#findings li").nth(1).text_content() == data["findings"][1]
        # One layer and no attention gradients: one line, one point.
        assert page.locator("svg.flow-chart path.series").count() == 1
        assert page.locator("svg.flow-chart circle.pt").count() == 1
        sec = page.locator("#text-1")
        assert sec.locator('.tokens[data-kind="saliency"] .tok[data-i="1"]').text_content() == EVIL
        assert sec.locator(".attn-none").count() == 1 and sec.locator("table.attn-map").count() == 0
        assert sec.locator(".hidden-no-tokens").count() == 1
        assert sec.locator("table.hidden-map td.cell").count() == 0
        assert sec.locator("table.hidden-map tbody tr").count() == 1
        assert page.locator("section.text").count() == 2
        r.check_clean()
    finally:
        r.close()
    # Nothing at all.
    r = load(browser, tmp_path, "gradients_empty.html", render_gradient_report({}))
    try:
        assert r.page.locator("#flow-chart .notice").count() == 1
        assert r.page.locator("#texts .notice").count() == 1
        r.check_clean()
    finally:
        r.close()


def test_browser_logit_lens_report(browser, tmp_path):
    data = fixture("logit_lens")
    r = load(browser, tmp_path, "lens.html", render_logit_lens_report(data))
    page = r.page
    try:
        n, layers = len(data["tokens"]), data["layers"]
        assert page.title() == "Logit lens \u2014 smollm2-135m"
        assert page.locator("#findings li").count() == len(data["findings"])
        assert page.locator("table.lens-map td.cell").count() == len(layers) * n
        assert page.locator("table.lens-map thead tr.tokens th.col").all_text_contents() == data["tokens"]
        assert page.locator("table.lens-map thead tr.targets th.target").all_text_contents() == data["targets"]
        assert page.locator("table.lens-map td.cell.hit").count() == sum(
            c["target_rank"] == 0 for layer in layers for c in layer["cells"]
        )
        # The last layer, last position: the top token in the cell, the top-k and the target in the tooltip.
        last = layers[-1]
        c = last["cells"][n - 1]
        cell = page.locator(f'table.lens-map td.cell[data-layer="{last["layer"]}"][data-i="{n - 1}"]')
        assert cell.text_content() == c["top"][0]["token"]
        tip = cell.get_attribute("title").split("\n")
        assert tip[0] == f"layer {last['layer']}, position {n - 1} (\u2018{data['tokens'][-1]}\u2019)"
        assert tip[1] == f"top {len(c['top'])}:"
        for k, p in enumerate(c["top"]):
            line = tip[2 + k]
            assert f"\u2018{p['token']}\u2019" in line and f"(id {p['token_id']})" in line
            assert numbers_in(line.split("\u2019")[-1])[0] == p["probability"]
        assert tip[-1].startswith(
            f"tracked \u2018{data['targets'][-1]}\u2019 (id {data['target_ids'][-1]}): rank {c['target_rank']},"
        )
        assert numbers_in(tip[-1].split("probability")[-1])[-1] == c["target_probability"]
        # The toggle: probability -> log-rank changes the colours (and the legend).
        table = page.locator("table.lens-map")

        def colours():
            return page.evaluate(
                "Array.from(document.querySelectorAll('table.lens-map td.cell')).map(e => e.style.backgroundColor)"
            )

        assert table.get_attribute("data-colour") == "probability"
        by_prob = colours()
        assert page.text_content("#legend-hi") == "p = 1"
        page.select_option("#lens-colour", "rank")
        assert table.get_attribute("data-colour") == "rank"
        by_rank = colours()
        assert by_rank != by_prob and len(by_rank) == len(by_prob)
        assert page.text_content("#legend-hi") == "rank 0 (top)"
        # A rank-0 cell is the darkest colour by rank.
        assert cell.evaluate("e => e.style.backgroundColor") == "rgb(8, 48, 107)"
        page.select_option("#lens-colour", "probability")
        assert colours() == by_prob
        # The plain table: one row per layer and position.
        assert page.locator("table.lens-rows tbody tr").count() == len(layers) * n
        row = page.locator(f'table.lens-rows tbody tr[data-layer="{last["layer"]}"][data-i="{n - 1}"]')
        assert row.locator(".top-list .tok-inline").all_text_contents() == [p["token"] for p in c["top"]]
        r.check_clean()
    finally:
        r.close()


def test_browser_logit_lens_edge_cases(browser, tmp_path):
    data = make_lens(layers=(7,), top_k=2)
    r = load(browser, tmp_path, "lens_one.html", render_logit_lens_report(data, title=EVIL))
    page = r.page
    try:
        assert_injection_free(page)
        assert page.text_content("#title") == EVIL
        assert page.locator("table.lens-map tbody tr").count() == 1
        assert page.locator("table.lens-map td.cell").count() == 4
        assert page.locator("table.lens-map thead th.col").nth(1).text_content() == label(EVIL, 12)
        assert page.locator("table.lens-map thead th.target").nth(0).text_content() == label(EVIL, 12)
        assert EVIL in page.locator("table.lens-map thead th.col").nth(1).get_attribute("title")
        assert page.locator("table.lens-map td.cell").first.text_content() == label(EVIL2, 10)
        assert EVIL2 in page.locator("table.lens-map td.cell").first.get_attribute("title")
        assert page.locator("#findings li").first.text_content() == data["findings"][0]
        r.check_clean()
    finally:
        r.close()
    r = load(browser, tmp_path, "lens_empty.html", render_logit_lens_report({"model": "m", "tokens": ["a"], "layers": []}))
    try:
        assert r.page.locator("#lens-map .notice").count() == 1
        assert r.page.locator("#lens-colour").is_disabled()
        r.check_clean()
    finally:
        r.close()


def test_browser_activation_report(browser, tmp_path):
    data = fixture("activations")
    r = load(browser, tmp_path, "activations.html", render_activation_report(data))
    page = r.page
    try:
        assert page.text_content("#meta-texts") == data["texts_analyzed"]
        assert page.text_content("#meta-tokens") == data["tokens_analyzed"]
        assert page.locator("#findings li").count() == len(data["findings"])
        assert page.locator("section.site").count() == len(data["sites"])
        for i, s in enumerate(data["sites"]):
            sec = page.locator(f"#site-{i}")
            sums = s["layer_summaries"]
            assert sec.get_attribute("data-site") == s["site"]
            assert sec.locator("table.summaries tbody tr").count() == len(sums)
            assert sec.locator("svg.stats-chart path.series").count() == 2
            assert sec.locator("svg.stats-chart circle.pt").count() == 2 * len(sums)
            assert sec.locator("div.hist").count() == len(sums)
            for summ in sums:
                h = sec.locator(f'div.hist[data-layer="{summ["layer"]}"]')
                counts = summ["histogram"]["counts"]
                assert h.locator("rect.bar").count() == len(counts)
                note = h.locator(".hist-note").text_content()
                assert f"underflow {summ['histogram']['underflow']} " in note
                assert f"overflow {summ['histogram']['overflow']} " in note
                k = max(range(len(counts)), key=lambda j: int(counts[j]))
                bar_tip = h.locator(f'rect.bar[data-i="{k}"] title').text_content()
                assert bar_tip.endswith("): " + counts[k])
                lo, hi = numbers_in(bar_tip)[:2]
                assert (lo, hi) == (summ["histogram"]["edges"][k], summ["histogram"]["edges"][k + 1])
            # Exact values in the titles of the summary table.
            row = sec.locator(f'table.summaries tbody tr[data-layer="{sums[-1]["layer"]}"]')
            assert float(row.locator("td").nth(2).locator("span").get_attribute("title")) == sums[-1]["std"]
            assert row.locator("td").nth(10).text_content() == str(len(sums[-1]["outlier_neurons"]))
        # Log / linear histogram heights.
        rect = page.locator("#site-0 div.hist rect.bar").first
        h_log = float(rect.get_attribute("height"))
        page.locator("#site-0 input.hist-log").uncheck()
        assert page.locator("#site-0 .hists").get_attribute("data-scale") == "linear"
        assert float(rect.get_attribute("height")) < h_log
        # Neuron examples.
        ne = data["neuron_examples"]
        assert page.locator(".neuron").count() == len(ne)
        assert page.locator("tr.example").count() == sum(len(n["examples"]) for n in ne)
        first = ne[0]
        blk = page.locator("#neuron-0")
        assert blk.get_attribute("data-index") == str(first["neuron"]["index"])
        assert blk.locator(".chosen").text_content() == first["chosen_as"]
        assert blk.locator("tr.example").first.locator("mark.focus").text_content() == first["examples"][0]["token"]
        assert float(blk.locator("tr.example td.act").first.get_attribute("title").split()[-1]) == pytest.approx(
            first["examples"][0]["activation"], rel=1e-6
        )
        # Skipped.
        assert page.text_content("#skipped-summary") == "1 text was skipped."
        assert page.locator("table.skipped tbody tr").count() == len(data["skipped"])
        r.check_clean()
    finally:
        r.close()


def test_browser_activation_report_edge_cases(browser, tmp_path):
    data = make_activations(neuron_examples=True, skipped_listed=1, skipped_count=3)
    r = load(browser, tmp_path, "activations_syn.html", render_activation_report(data))
    page = r.page
    try:
        assert_injection_free(page)
        assert page.text_content("#meta-texts") == "12"
        assert page.locator("#findings li").nth(1).text_content() == EVIL
        assert "not shown here" in page.text_content("#site-0 .caption")
        assert page.locator("#site-2 .notice").count() == 1  # no layer summaries
        assert page.locator("#site-0 div.hist").count() == 2
        assert page.locator('#site-1 div.hist[data-layer="0"] rect.bar').count() == 4
        # A NaN median kurtosis is shown as missing.
        assert page.locator('#site-0 table.summaries tr[data-layer="3"] td').nth(5).text_content() == "\u2014"
        assert page.locator('#site-0 table.summaries tr[data-layer="3"] td').nth(10).text_content() == "100"
        tip = page.locator('#site-0 table.summaries tr[data-layer="0"] td').nth(8).locator("span").get_attribute("title")
        assert tip == "neurons 1, 7"
        ex = page.locator("#neuron-0 tr.example").first
        assert ex.locator("mark.focus").text_content() == EVIL
        assert ex.locator(".left").text_content() == "I was " + EVIL2
        assert ex.locator(".right").text_content() == " today " + URL_TOKEN
        assert page.locator("#neuron-0 tr.example").nth(1).locator(".left").count() == 0  # empty left context
        assert page.locator("#neuron-1 tr.example").count() == 0
        assert page.text_content("#skipped-summary") == "3 texts were skipped (the first 1 are listed)."
        assert page.locator("table.skipped tbody tr .tok-inline").first.text_content() == EVIL
        r.check_clean()
    finally:
        r.close()
    data = make_activations(neuron_examples=False, skipped_listed=0, skipped_count=0)
    r = load(browser, tmp_path, "activations_min.html", render_activation_report(data))
    try:
        assert r.page.locator(".neurons-none").count() == 1
        assert r.page.text_content("#skipped-summary") == "No text was skipped."
        r.check_clean()
    finally:
        r.close()
