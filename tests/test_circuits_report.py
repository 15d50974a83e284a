"""Tests of the circuit discovery HTML reports (``render_circuit_report``, ``render_patching_report``
and ``render_tracing_report`` of ``interpretability.report.circuits``).

The results are small hand-made dicts in the shape the circuits service returns, with hostile
strings (model, task, tokens, findings, node names) and edge cases (NaN, parallel q/k/v edges
between the same heads, an edge naming a node the list lacks).  The browser tests load the pages
into headless Debian Chromium (skipped where it is missing, see ``tests/support/browser.py``).
"""

from __future__ import annotations

import html as htmllib
import math
import re

import pytest

from interpretability.report.circuits import render_circuit_report, render_patching_report, render_tracing_report
from tests.support.pages import assert_injection_free, assert_self_contained, embedded, load

EVIL = "<script>alert(1)</script>"
EVIL2 = "</script><img src=x onerror=alert(2)>"
TOKEN = '"<b>&'


def make_circuit() -> dict:
    nodes = [
        {"name": "input", "kind": "input", "layer": -1, "head": -1, "score": 0.0},
        {"name": "a0.h1", "kind": "head", "layer": 0, "head": 1, "score": 0.02},
        {"name": "a0.h3", "kind": "head", "layer": 0, "head": 3, "score": 0.12},
        {"name": "m0", "kind": "mlp", "layer": 0, "head": -1, "score": 0.05},
        {"name": "a1.h0", "kind": "head", "layer": 1, "head": 0, "score": 0.3},
        {"name": "a1.h2", "kind": "head", "layer": 1, "head": 2, "score": -0.1},
        {"name": "m1", "kind": "mlp", "layer": 1, "head": -1, "score": float("nan")},
        {"name": "logits", "kind": "logits", "layer": 2, "head": -1, "score": 0.0},
    ]
    edges = [
        {"sender": "input", "receiver": "a0.h3", "input": "v", "score": 0.05},
        {"sender": "input", "receiver": "a0.h1", "input": "q", "score": -0.02},
        {"sender": "a0.h3", "receiver": "a1.h0", "input": "q", "score": 0.1},
        {"sender": "a0.h3", "receiver": "a1.h0", "input": "k", "score": 0.4},
        {"sender": "a0.h3", "receiver": "a1.h0", "input": "v", "score": -0.25},
        {"sender": "a0.h3", "receiver": "m0", "input": "", "score": 0.08},
        {"sender": "m0", "receiver": "a1.h2", "input": "k", "score": -0.6},
        {"sender": "a1.h0", "receiver": "logits", "input": "", "score": 0.9},
        {"sender": "a1.h2", "receiver": "m1", "input": "", "score": 0.03},
        {"sender": "m1", "receiver": "logits", "input": "", "score": -0.15},
    ]
    return {
        "kind": "circuit", "model": "toy " + EVIL2, "task": "ioi " + TOKEN, "method": "eap_ig", "circuit_types": ["mixed"],
        "nodes": nodes, "edges": edges, "num_layers": 2, "num_heads": 4,
        "threshold": 0.01, "edges_total": 120, "edges_kept": len(edges),
        "clean_metric": 3.1, "corrupted_metric": -0.2, "circuit_metric": 2.9, "metric_recovered": 0.94,
        "ablation": "resample", "findings": [EVIL, "Head a1.h0 writes the answer."],
    }  # fmt: skip


def make_patching() -> dict:
    tokens = ["When", " Mary", " and", " John", TOKEN, " to", " the"]
    resid = [[round(math.sin(i + j) * 0.9, 3) for j in range(len(tokens))] for i in range(3)]
    resid[2][4] = 1.0
    resid[0][0] = float("nan")
    heads = [[0.0, 0.05, -0.3, 0.1], [0.6, -0.05, 0.2, 0.0], [0.02, 0.4, -0.8, 0.15]]
    return {
        "kind": "patching", "model": "toy", "task": "ioi", "method": "activation_patching",
        "clean_metric": 3.1, "corrupted_metric": -0.2,
        "maps": [
            {"component": "resid_pre", "row_label": "layer", "col_label": "position", "rows": ["0", "1", "2"], "cols": tokens,
             "values": resid},
            {"component": "head_result", "row_label": "layer", "col_label": "head", "rows": ["0", "1", "2"],
             "cols": ["0", "1", "2", "3"], "values": heads},
        ],
        "findings": ["Residual stream at" + TOKEN],
    }  # fmt: skip


def make_tracing() -> dict:
    tokens = ["The", " E", "iff", "el", " Tower", TOKEN, " in", " the", " city", " of"]
    layers = 6

    def grid(peak_token: int, peak_layer: int, top: float) -> list[list[float]]:
        return [[round(0.05 + top * math.exp(-((t - peak_token) ** 2) - 0.3 * (l - peak_layer) ** 2), 4) for t in range(len(tokens))]
                for l in range(layers)]  # fmt: skip

    return {
        "kind": "causal_tracing", "model": "toy " + EVIL, "prompt": "The Eiffel Tower <is> & \"located\" in the city of",
        "tokens": tokens, "subject_positions": [1, 2, 3, 4], "target": " Paris",
        "clean_probability": 0.7, "corrupted_probability": 0.05, "noise_std": 0.12, "samples": 5,
        "maps": [{"state": "hidden", "window": 1, "values": grid(4, 2, 0.6)},
                 {"state": "mlp", "window": 10, "values": grid(4, 1, 0.4)},
                 {"state": "attn", "window": 10, "values": grid(9, 4, 0.3)}],
        "findings": [EVIL2],
    }  # fmt: skip


RENDERERS = {
    "circuit": (render_circuit_report, make_circuit),
    "patching": (render_patching_report, make_patching),
    "causal_tracing": (render_tracing_report, make_tracing),
}


# ----------------------------------------------------------------------------------------------
# The HTML text
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(RENDERERS))
def test_pages_are_self_contained_and_escaped(kind):
    render, make = RENDERERS[kind]
    data = make()
    page = render(data)
    assert page.startswith("<!DOCTYPE html>")
    assert_self_contained(page)
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", page, re.I)
    for s in (EVIL, EVIL2, TOKEN, "<b>"):
        assert s not in page
    assert len(re.findall(r"<script\b", page, re.I)) == 2 and len(re.findall(r"</script", page, re.I)) == 2
    got = embedded(page)
    assert got["page"] == kind
    assert got["result"]["findings"] == data["findings"]
    assert got["result"]["model"] == data["model"]


def test_title_holds_model_and_task_escaped():
    page = render_circuit_report(make_circuit())
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert htmllib.unescape(title) == "Circuit discovery \u2014 ioi " + TOKEN + " \u2014 toy " + EVIL2
    assert "<" not in title and '"' not in title
    page = render_tracing_report(make_tracing(), title="Trace <1>")
    assert htmllib.unescape(re.search(r"<title>(.*?)</title>", page).group(1)) == "Trace <1> \u2014 toy " + EVIL


def test_non_finite_values_become_null():
    got = embedded(render_circuit_report(make_circuit()))["result"]
    assert got["nodes"][6]["score"] is None
    got = embedded(render_patching_report(make_patching()))["result"]
    assert got["maps"][0]["values"][0][0] is None


def test_wrong_input_is_rejected():
    with pytest.raises(ValueError, match="patching"):
        render_patching_report(make_circuit())
    with pytest.raises(ValueError, match="circuit"):
        render_circuit_report(make_tracing())
    with pytest.raises(TypeError):
        render_tracing_report([make_tracing()])
    # No kind at all is accepted.
    data = make_patching()
    del data["kind"]
    assert "report-data" in render_patching_report(data)


# ----------------------------------------------------------------------------------------------
# Real-browser tests (headless Debian Chromium through Playwright)
# ----------------------------------------------------------------------------------------------


def test_browser_circuit_report(browser, tmp_path):
    data = make_circuit()
    r = load(browser, tmp_path, "circuit.html", render_circuit_report(data), timeout_ms=5_000)
    page = r.page
    try:
        assert page.title() == "Circuit discovery \u2014 ioi " + TOKEN + " \u2014 toy " + EVIL2
        assert page.text_content("#title") == "Circuit discovery"
        assert page.text_content("#meta-model") == "toy " + EVIL2 and page.text_content("#meta-task") == "ioi " + TOKEN
        assert page.locator("#findings li").all_text_contents() == data["findings"]
        assert page.text_content("#meta-edges") == "10 of 120 (8.3%)"
        assert page.text_content("#meta-recovered") == "94.0%"
        assert page.text_content("#meta-threshold") == "0.01"
        assert page.text_content("#meta-ablation") == "resample"
        assert "EAP-IG" in page.text_content("#meta-method")

        svg = page.locator("svg.circuit")
        # One node element per node, one stroke per edge (parallel q/k/v edges are separate strokes).
        assert svg.locator("g.node").count() == len(data["nodes"])
        assert sorted(svg.locator("g.node").evaluate_all("gs => gs.map(g => g.dataset.name)")) == sorted(
            n["name"] for n in data["nodes"]
        )
        edges = svg.locator("path.edge").evaluate_all(
            """ps => ps.map(p => ({sender: p.dataset.sender, receiver: p.dataset.receiver, input: p.dataset.input,
                 score: Number(p.dataset.score), width: Number(p.getAttribute('stroke-width')), stroke: p.getAttribute('stroke'),
                 dash: p.getAttribute('stroke-dasharray'), title: p.querySelector('title').textContent}))"""
        )  # fmt: skip
        assert len(edges) == len(data["edges"])
        assert sorted((e["sender"], e["receiver"], e["input"], e["score"]) for e in edges) == sorted(
            (e["sender"], e["receiver"], e["input"], e["score"]) for e in data["edges"])  # fmt: skip
        # Widths order like |score|, the largest |score| the widest; colour by sign; input in the tooltip.
        by_abs = sorted(edges, key=lambda e: abs(e["score"]))
        widths = [e["width"] for e in by_abs]
        assert widths == sorted(widths) and len(set(widths)) == len(widths)
        assert max(widths) == pytest.approx(6.0) and min(widths) > 0.6
        for e in edges:
            assert e["stroke"] == ("#b2182b" if e["score"] > 0 else "#2166ac")
            tail = f" ({e['input']})" if e["input"] else ""
            assert e["title"] == f"{e['sender']} \u2192 {e['receiver']}{tail}\nscore: {e['score']:g}"
            assert (e["dash"] is None) == (e["input"] not in ("k", "v"))

        # Layout: the logits above everything, the input below everything, layer 1 above layer 0,
        # heads left to right by index, the MLP at the right of its layer.
        def centre(name):
            box = svg.locator(f'g.node[data-name="{name}"]').bounding_box()
            return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

        ys = {n["name"]: centre(n["name"])[1] for n in data["nodes"]}
        xs = {n["name"]: centre(n["name"])[0] for n in data["nodes"]}
        assert ys["logits"] < min(v for k, v in ys.items() if k != "logits")
        assert ys["input"] > max(v for k, v in ys.items() if k != "input")
        assert ys["a1.h0"] < ys["a0.h3"] and ys["a0.h1"] == ys["a0.h3"] and ys["m1"] < ys["a0.h1"]
        assert xs["a0.h1"] < xs["a0.h3"] < xs["m0"] and xs["a1.h0"] < xs["a1.h2"] < xs["m1"]
        # The NaN node score is shown as n/a in its tooltip.
        assert svg.locator('g.node[data-name="m1"] title').text_content().endswith("score: n/a")
        # Hovering a node focuses its edges.
        svg.locator('g.node[data-name="a1.h0"]').hover()
        assert svg.evaluate("s => s.classList.contains('focus')")
        assert svg.locator("path.edge.on").count() == 4
        page.mouse.move(1, 1)
        # The edge table, strongest first.
        rows = page.locator("table.edges tbody tr")
        assert rows.count() == len(data["edges"])
        first = rows.nth(0)
        assert (first.get_attribute("data-sender"), first.get_attribute("data-receiver")) == ("a1.h0", "logits")
        assert first.locator("td").nth(4).text_content() == "0.9"
        assert_injection_free(page)
        assert page.locator("b").count() == 0
        r.check_clean()
    finally:
        r.close()


def test_browser_circuit_with_unknown_and_implied_nodes(browser, tmp_path):
    data = make_circuit()
    data["nodes"] = [n for n in data["nodes"] if n["name"] != "m1"]
    data["edges"].append({"sender": EVIL, "receiver": "logits", "input": "", "score": 1.0})
    r = load(browser, tmp_path, "implied.html", render_circuit_report(data), timeout_ms=5_000)
    try:
        svg = r.page.locator("svg.circuit")
        assert svg.locator("g.node").count() == len(data["nodes"]) + 1
        assert svg.locator('g.node.implied[data-name="m1"]').count() == 1
        assert svg.locator("path.edge").count() == len(data["edges"]) - 1
        assert "1 edge(s)" in r.page.text_content("#graph-section .notice")
        assert r.page.locator("table.edges tbody tr").first.locator("td").nth(1).text_content() == EVIL
        assert_injection_free(r.page)
        r.check_clean()
    finally:
        r.close()


def test_browser_patching_report(browser, tmp_path):
    data = make_patching()
    r = load(browser, tmp_path, "patching.html", render_patching_report(data), timeout_ms=5_000)
    page = r.page
    try:
        assert page.title() == "Activation patching \u2014 ioi \u2014 toy"
        assert page.locator("#findings li").all_text_contents() == data["findings"]
        maps = page.locator("table.patch-map")
        assert maps.count() == 2
        for k, m in enumerate(data["maps"]):
            t = page.locator(f"#map-{k} table.patch-map")
            assert t.locator("td.cell").count() == len(m["rows"]) * len(m["cols"])
            assert t.locator("tbody tr").count() == len(m["rows"])
            assert t.locator("thead th.col").count() == len(m["cols"])
            assert page.get_attribute(f"#map-{k}", "data-component") == m["component"]
        t0 = page.locator("#map-0 table.patch-map")
        # The token shows as text, not markup.
        assert t0.locator("thead th.col").nth(4).text_content() == TOKEN
        assert page.locator("b").count() == 0
        assert t0.locator("td.cell.na").count() == 1
        # Diverging, centred on 0: 1 is the deepest red, a negative value blue, the scale +-1 by default.
        legend = page.locator("#map-1 .heat-legend")
        assert (legend.get_attribute("data-lo"), legend.get_attribute("data-hi")) == ("-1", "1")
        full = t0.locator('td.cell[data-row="2"][data-col="4"]')
        assert full.get_attribute("data-value") == "1"
        assert full.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(178, 24, 43)"
        neg = page.locator('#map-1 td.cell[data-row="2"][data-col="2"]')
        red, _, blue = (int(x) for x in re.findall(r"\d+", neg.evaluate("e => getComputedStyle(e).backgroundColor"))[:3])
        assert blue > red
        assert neg.get_attribute("title") == "head_result\nlayer 2 \u00d7 head 2\nnormalised metric: -0.8"
        # Per-map scale: the head map's ends become +-0.8.
        page.select_option("#scale", "map")
        legend = page.locator("#map-1 .heat-legend")
        assert (legend.get_attribute("data-lo"), legend.get_attribute("data-hi")) == ("-0.8", "0.8")
        assert page.locator("#map-1 td.cell").count() == 12
        # The strongest cells.
        top = page.locator("table.top-cells tbody tr")
        assert top.count() == 20
        assert top.nth(0).locator("td").all_text_contents() == ["resid_pre", "layer 2", "position " + TOKEN, "1"]
        assert_injection_free(page)
        r.check_clean()
    finally:
        r.close()


def test_browser_tracing_report(browser, tmp_path):
    data = make_tracing()
    r = load(browser, tmp_path, "tracing.html", render_tracing_report(data), timeout_ms=5_000)
    page = r.page
    try:
        assert page.title() == "Causal tracing \u2014 toy " + EVIL
        assert page.text_content("#meta-model") == "toy " + EVIL
        assert page.text_content("#prompt") == data["prompt"]
        assert page.locator("#findings li").all_text_contents() == data["findings"]
        assert page.text_content("#meta-target") == " Paris"
        assert page.text_content("#meta-subject") == " Eiffel Tower"
        tokens, layers = data["tokens"], len(data["maps"][0]["values"])
        maps = page.locator("table.trace-map")
        assert maps.count() == 3
        states = page.locator(".map").evaluate_all("ds => ds.map(d => d.dataset.state)")
        assert states == ["hidden", "mlp", "attn"]
        for k in range(3):
            t = page.locator(f"#trace-{k} table.trace-map")
            assert t.locator("td.cell").count() == len(tokens) * layers
            labels = t.locator("tbody th.row").all_text_contents()
            assert len(labels) == len(tokens)
            for i, (lab, tok) in enumerate(zip(labels, tokens)):
                assert lab == tok + ("*" if i in data["subject_positions"] else "")
            assert t.locator("tr.subject").count() == len(data["subject_positions"])
            assert t.locator("thead th.col").all_text_contents() == [str(j) for j in range(layers)]
            # Sequential from the corrupted to the clean probability.
            legend = page.locator(f"#trace-{k} .heat-legend")
            assert (legend.get_attribute("data-lo"), legend.get_attribute("data-hi")) == ("0.05", "0.7")
        # values[layer][token]: the cell of token 4 at layer 2 of the hidden map.
        cell = page.locator('#trace-0 td.cell[data-row="4"][data-col="2"]')
        assert float(cell.get_attribute("data-value")) == data["maps"][0]["values"][2][4]
        assert cell.get_attribute("title").startswith('" Tower" (subject), position 4\nrestoring the hidden state at layer 2')
        # The hostile token is text, in the row header and the tooltip.
        assert page.locator("#trace-0 tbody th.row").nth(5).text_content() == TOKEN
        assert page.locator("b").count() == 0
        assert 'Highest: 0.65 at " Tower"* (position 4), layer 2' in page.text_content("#trace-0 .strongest")

        # Colours: the hidden map is purple, the MLP green, attention red.
        def rgb(sel):
            return tuple(
                int(x) for x in re.findall(r"\d+", page.locator(sel).evaluate("e => getComputedStyle(e).backgroundColor"))[:3]
            )

        hr, hg, hb = rgb('#trace-0 td.cell[data-row="4"][data-col="2"]')
        assert hb > hg and hr > hg
        mr, mg, mb = rgb('#trace-1 td.cell[data-row="4"][data-col="1"]')
        assert mg > mr and mg > mb
        ar, ag, ab = rgb('#trace-2 td.cell[data-row="9"][data-col="4"]')
        assert ar > ag and ar > ab
        assert_injection_free(page)
        r.check_clean()
    finally:
        r.close()


def test_proto_shapes_are_read():
    """Enum names become short names; flat row-major maps become rows (the dict of a proto message)."""
    data = make_circuit()
    data["method"], data["ablation"], data["circuit_types"] = "CIRCUIT_METHOD_EAP_IG", "ABLATION_MEAN", ["CIRCUIT_TYPE_MIXED"]
    data["nodes"][2]["kind"] = "NODE_KIND_HEAD"
    got = embedded(render_circuit_report(data))["result"]
    assert (got["method"], got["ablation"], got["circuit_types"]) == ("eap_ig", "mean", ["mixed"])
    assert got["nodes"][2]["kind"] == "head" and got["nodes"][0]["kind"] == "input"
    patching = make_patching()
    patching["maps"][1]["values"] = [v for row in patching["maps"][1]["values"] for v in row]
    patching["maps"][1]["component"] = "COMPONENT_HEAD_RESULT"
    got = embedded(render_patching_report(patching))["result"]
    assert got["maps"][1]["values"] == make_patching()["maps"][1]["values"]
    assert got["maps"][1]["component"] == "head_result"
    tracing = make_tracing()
    tracing["maps"][2] = {
        "state": "TRACE_STATE_ATTN",
        "window": 10,
        "values": [v for row in tracing["maps"][2]["values"] for v in row],
    }
    got = embedded(render_tracing_report(tracing))["result"]
    assert got["maps"][2] == make_tracing()["maps"][2]
    assert "method" not in embedded(render_tracing_report(tracing))["result"]


def test_browser_edge_minimality_column(browser, tmp_path):
    data = make_circuit()
    for i, e in enumerate(data["edges"]):
        e["minimality"] = i / 10
    r = load(browser, tmp_path, "minimality.html", render_circuit_report(data), timeout_ms=5_000)
    try:
        heads = r.page.locator("table.edges thead th").all_text_contents()
        assert heads == ["#", "sender", "receiver", "input", "score", "|score|", "minimality"]
        first = r.page.locator("table.edges tbody tr").first.locator("td")
        assert first.nth(6).text_content() == "0.7"  # the edge a1.h0 -> logits, the 8th
        r.page.locator("table.edges tbody tr").first.click()
        assert r.page.locator("svg.circuit path.edge.on").count() == 1
        r.check_clean()
    finally:
        r.close()
