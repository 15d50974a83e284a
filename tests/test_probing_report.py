"""Tests of the probing service's HTML reports (``render_probe_report`` and
``render_similarity_report`` of ``interpretability.report.probing``).

The data is the CLI's dict form of the result messages (``interpretability.results.message_to_dict``:
int64 fields as strings, enums by name, non-finite doubles as strings).  ``tests/fixtures/probing/``
holds realistic results made by ``make_fixtures.py`` there with the proto classes (a 30-layer
probe analysis of a token-level, a structural and two sentence-level tasks with a bias report;
four languages compared on matched layers; two models compared on a layer grid); the small
synthetic results below carry the malicious strings and the edge cases.  The browser tests load
the pages into headless Debian Chromium (skipped where it is missing, see
``tests/support/browser.py``).
"""

from __future__ import annotations

import html as htmllib
import json
import math
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from interp.v1 import common_pb2 as cpb
from interp.v1 import probing_service_pb2 as ppb
from interp.v1 import tensor_pb2 as tpb
from interpretability.report.page import static_text
from interpretability.report.probing import render_probe_report, render_similarity_report
from interpretability.results import message_to_dict
from tests.fixtures.probing import make_fixtures
from tests.support.pages import assert_injection_free, assert_self_contained, embedded, load, numbers_in

FIXTURES = Path(__file__).parent / "fixtures" / "probing"
EVIL = "<script>alert(1)</script>"
EVIL2 = "</script><img src=x onerror=alert(2)>"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------
# Synthetic results (the CLI's dict form), with hostile strings and edge cases
# ----------------------------------------------------------------------------------------------


def make_probe(*, bias: bool = False, effects: bool = False) -> dict:
    """Three tasks: a token task with hostile names, no MDL, one layer without an interval or a
    control probe; a depth task with one layer and a NaN; a sentence task with no layers."""
    evil_task = ppb.TaskProbes(
        name=EVIL, level=ppb.PROBE_LEVEL_TOKEN, labels=[EVIL, "NOUN", EVIL2], metric="accuracy", examples=12,
        train_items=80, validation_items=20, test_items=30, baseline_score=0.4, baseline="always " + EVIL2,
        control_description="random labels " + EVIL, best_layer=7, skipped_count=5,
        layers=[
            ppb.LayerProbe(layer=3, task=ppb.ProbeScore(score=0.8, score_low=0.7, score_high=0.88, train_score=0.9,
                                                        validation_score=0.79, regularization=0.1),
                           control=ppb.ProbeScore(score=0.6, score_low=0.5, score_high=0.7), selectivity=0.2),
            ppb.LayerProbe(layer=7, task=ppb.ProbeScore(score=0.9, train_score=0.95, validation_score=0.85, regularization=10),
                           selectivity=0.3),
        ],
        directions=tpb.Tensor(dtype=tpb.DATA_TYPE_FLOAT32, shape=[2, 3, 4], dim_names=["layer", "label", "d_model"],
                              raw=b"\x00\x00\x80\x3f" * 24),
        skipped=[cpb.SkippedInput(index=0, reason=EVIL, excerpt=EVIL2)],
    )  # fmt: skip
    depth = ppb.TaskProbes(
        name="depth_probe", level=ppb.PROBE_LEVEL_DEPTH, metric="root accuracy", examples=10, train_items=50,
        validation_items=10, test_items=20, baseline_score=0.3, baseline="the first word", best_layer=5,
        layers=[ppb.LayerProbe(layer=5, task=ppb.ProbeScore(score=0.7, score_low=0.5, score_high=0.85, spearman=float("nan")),
                               control=ppb.ProbeScore(score=0.35), selectivity=0.35)],
    )  # fmt: skip
    empty = ppb.TaskProbes(name="empty_task", level=ppb.PROBE_LEVEL_SENTENCE, metric="accuracy")
    msg = ppb.ProbeAnalysis(
        model="toy " + EVIL2, layers=[3, 5, 7], tasks=[evil_task, depth, empty], findings=[EVIL, "A plain finding."],
        extraction_seconds=1.5, fitting_seconds=0.25, tokens=1234,
    )  # fmt: skip
    if bias:
        alignments = [
            ppb.DirectionAlignment(layer=layer, task=EVIL, label=label, protected_label=p, cosine=c)
            for layer in (3, 7)
            for label, p, c in ((EVIL, "female", 0.5 if layer == 3 else -0.25), ("NOUN", EVIL2, -0.5))
        ]
        eff = [
            ppb.CounterfactualEffect(layer=layer, task=t, flip_rate=f, mean_shift_sd=s, pairs=4)
            for layer in (3, 7)
            for t, f, s in ((EVIL, 0.25, 0.5), ("gender", 1.0, 3.0))
        ]
        msg.bias.CopyFrom(ppb.BiasReport(protected_task="gender", alignments=alignments, effects=eff if effects else []))
    return message_to_dict(msg)


def make_similarity() -> dict:
    """A matched pair with a hostile source and metric name and a NaN, a grid with negative values
    and a metric of the wrong length, and a pair with no metrics."""
    matched = ppb.SimilarityResult(
        source_a=EVIL, source_b="de", model_a="m", model_b="m", layers_a=[0, 4, 8], layers_b=[0, 4, 8],
        metrics=[ppb.MetricValues(name="cosine", values=[0.5, float("nan"), 0.7]), ppb.MetricValues(name=EVIL2, values=[0.1, 0.2, 0.3])],
    )  # fmt: skip
    grid = ppb.SimilarityResult(
        source_a="step 1000", source_b=EVIL2, model_a="ckpt-a", model_b="ckpt-b", layers_a=[0, 1], layers_b=[0, 1, 2], grid=True,
        metrics=[ppb.MetricValues(name="rsa", values=[0.25, -0.5, 0.1, 0.0, 0.75, 0.5]),
                 ppb.MetricValues(name="cka", values=[0.1, 0.2, 0.3, 0.4, 0.5])],
    )  # fmt: skip
    none = ppb.SimilarityResult(source_a="fr", source_b="zh", layers_a=[0], layers_b=[0])
    return message_to_dict(ppb.RepresentationSimilarity(pairs=[matched, grid, none], texts=3, findings=[EVIL], seconds=0.5))


# ----------------------------------------------------------------------------------------------
# Unit tests of the HTML text
# ----------------------------------------------------------------------------------------------






def assert_no_injection(page: str) -> None:
    assert EVIL not in page and EVIL2 not in page
    assert "<script>alert" not in page and "<img" not in page
    # Exactly the two script elements of the template: the data and the code.
    assert len(re.findall(r"<script\b", page, re.I)) == 2
    assert len(re.findall(r"</script", page, re.I)) == 2
    assert "<!--" not in page


FIXTURE_RENDERERS = {
    "probe_analysis": render_probe_report,
    "similarity_languages": render_similarity_report,
    "similarity_models": render_similarity_report,
}


def test_fixtures_are_what_the_script_makes():
    made = make_fixtures.fixtures()
    assert sorted(made) == sorted(FIXTURE_RENDERERS)
    for stem, data in made.items():
        assert json.loads(make_fixtures.dumps(data)) == fixture(stem), f"{stem}.json is stale: run make_fixtures.py"


def test_fixtures_follow_the_contract():
    from google.protobuf import json_format

    probe = json_format.ParseDict(fixture("probe_analysis"), ppb.ProbeAnalysis())
    assert list(probe.layers) == list(range(30)) and probe.tokens > 0
    assert [t.name for t in probe.tasks] == ["pos_tagging", "parsing", "sentiment", "gender"]
    assert [t.level for t in probe.tasks] == [ppb.PROBE_LEVEL_TOKEN, ppb.PROBE_LEVEL_DISTANCE, ppb.PROBE_LEVEL_SENTENCE,
                                              ppb.PROBE_LEVEL_SENTENCE]  # fmt: skip
    for t in probe.tasks:
        assert [lp.layer for lp in t.layers] == list(range(30))
        assert t.best_layer == max(t.layers, key=lambda lp: lp.selectivity).layer
        for lp in t.layers:
            assert lp.task.score_low <= lp.task.score <= lp.task.score_high
            assert lp.selectivity == pytest.approx(lp.task.score - lp.control.score, abs=1e-4)
            if lp.task.mdl_bits:
                assert lp.task.compression == pytest.approx(lp.task.uniform_bits / lp.task.mdl_bits, rel=1e-3)
    assert all(lp.task.mdl_bits == 0 and lp.task.spearman > 0 for lp in probe.tasks[1].layers)
    assert probe.bias.protected_task == "gender" and probe.bias.alignments and probe.bias.effects
    langs = json_format.ParseDict(fixture("similarity_languages"), ppb.RepresentationSimilarity())
    assert len(langs.pairs) == 6 and not any(p.grid for p in langs.pairs)
    assert all(len(m.values) == 30 for p in langs.pairs for m in p.metrics)
    models = json_format.ParseDict(fixture("similarity_models"), ppb.RepresentationSimilarity())
    (pair,) = models.pairs
    assert pair.grid and all(len(m.values) == len(pair.layers_a) * len(pair.layers_b) for m in pair.metrics)


@pytest.mark.parametrize("stem", sorted(FIXTURE_RENDERERS))
def test_fixture_pages_are_self_contained(stem):
    page = FIXTURE_RENDERERS[stem](fixture(stem))
    assert_self_contained(page)
    assert len(re.findall(r"<script\b", page, re.I)) == 2
    assert len(page) < 400_000


def test_probe_page_holds_every_task_and_layer():
    data = fixture("probe_analysis")
    page = render_probe_report(data)
    result = embedded(page)["result"]
    assert embedded(page)["title"] == "Probe analysis" and "<title>Probe analysis</title>" in page
    assert result["tokens"] == 61237 and result["layers"] == list(range(30))
    assert result["extraction_seconds"] == data["extraction_seconds"] and result["fitting_seconds"] == data["fitting_seconds"]
    assert result["findings"] == data["findings"]
    for got, want in zip(result["tasks"], data["tasks"], strict=True):
        assert got["name"] == want["name"] and got["name"] in page
        assert got["level"] == want["level"].removeprefix("PROBE_LEVEL_").lower()
        assert [lp["layer"] for lp in got["layers"]] == list(range(30))
        for g, w in zip(got["layers"], want["layers"], strict=True):
            assert g["task"] == w["task"] and g["control"] == w["control"] and g["selectivity"] == w["selectivity"]
        # The directions (token and sentence tasks) are described, not embedded.
        if want["labels"]:
            assert got["directions"] == {"shape": [30, len(want["labels"]), 576], "dim_names": ["layer", "label", "d_model"],
                                         "where": "object store"}  # fmt: skip
        else:
            assert got["directions"] is None and "directions" not in want
    assert [t["level"] for t in result["tasks"]] == ["token", "distance", "sentence", "sentence"]
    assert "sha256" not in page and "directions.safetensors" not in page
    bias = result["bias"]
    assert bias["protected_task"] == "gender"
    assert bias["alignments"] == data["bias"]["alignments"] and bias["effects"] == data["bias"]["effects"]


def test_similarity_pages_hold_every_pair():
    data = fixture("similarity_languages")
    result = embedded(render_similarity_report(data))["result"]
    assert result == data  # nothing to convert: no int64 and no enum
    assert [(p["source_a"], p["source_b"]) for p in result["pairs"]] == [
        ("en", "de"), ("en", "fr"), ("en", "zh"), ("de", "fr"), ("de", "zh"), ("fr", "zh")]  # fmt: skip
    grid = embedded(render_similarity_report(fixture("similarity_models"), title="Models"))
    assert grid["title"] == "Models" and grid["result"]["pairs"][0]["grid"] is True


def test_numbers_enums_and_absent_messages():
    result = embedded(render_probe_report(make_probe()))["result"]
    assert result["tokens"] == 1234 and result["bias"] is None
    evil, depth, empty = result["tasks"]
    assert evil["level"] == "token" and depth["level"] == "depth" and empty["level"] == "sentence"
    assert evil["layers"][1]["control"] is None  # an unset message field
    assert depth["layers"][0]["task"]["spearman"] is None  # "NaN"
    assert evil["directions"] == {"shape": [2, 3, 4], "dim_names": ["layer", "label", "d_model"], "where": "inline"}
    assert empty["layers"] == [] and empty["directions"] is None
    # Enums as numbers, numbers as strings, and keys the contract does not know.
    d = make_probe()
    d["tasks"][0]["level"] = 4
    d["tasks"][1]["level"] = "distance"
    d["tasks"][0]["layers"][0]["selectivity"] = "0.25"
    d["tasks"][0]["layers"][0]["task"]["score"] = "Infinity"
    d["extra"] = {"note": EVIL}
    result = embedded(render_probe_report(d))["result"]
    assert [t["level"] for t in result["tasks"]][:2] == ["distance", "distance"]
    assert result["tasks"][0]["layers"][0]["selectivity"] == 0.25
    assert result["tasks"][0]["layers"][0]["task"]["score"] is None
    assert result["extra"] == {"note": EVIL}
    sim = embedded(render_similarity_report(make_similarity()))["result"]
    assert sim["pairs"][0]["metrics"][0]["values"] == [0.5, None, 0.7]
    assert sim["pairs"][2]["metrics"] == [] and sim["texts"] == 3


def test_user_strings_are_escaped():
    for page in (render_probe_report(make_probe(bias=True, effects=True)), render_similarity_report(make_similarity())):
        assert_self_contained(page)
        assert_no_injection(page)
        # The strings are there, as JSON data with <, > and / escaped.
        assert "\\u003cscript\\u003ealert(1)\\u003c\\/script\\u003e" in page
        assert EVIL in json.dumps(embedded(page))


@pytest.mark.parametrize("render", [render_probe_report, render_similarity_report])
def test_title_is_escaped(render):
    title = "A & B </title><script>alert(3)</script>"
    page = render({}, title=title)
    assert f"<title>{htmllib.escape(title, quote=True)}</title>" in page
    assert "<script>alert(3)" not in page
    assert embedded(page)["title"] == title


def test_accepts_the_message_and_rejects_others():
    from google.protobuf import json_format

    d = fixture("similarity_models")
    msg = json_format.ParseDict(d, ppb.RepresentationSimilarity())
    assert embedded(render_similarity_report(msg)) == embedded(render_similarity_report(d))
    probe = json_format.ParseDict(fixture("probe_analysis"), ppb.ProbeAnalysis())
    assert embedded(render_probe_report(probe)) == embedded(render_probe_report(fixture("probe_analysis")))
    with pytest.raises(TypeError):
        render_probe_report(msg)
    with pytest.raises(TypeError):
        render_similarity_report([d])
    with pytest.raises(TypeError):
        render_probe_report("{}")


def test_edge_cases_render():
    for page in (
        render_probe_report({}),
        render_probe_report(make_probe()),
        render_probe_report({"tasks": [{"name": "t", "layers": [{"layer": 0}]}], "bias": {}}),
        render_similarity_report({}),
        render_similarity_report({"pairs": [fixture("similarity_languages")["pairs"][0]]}),
        render_similarity_report({"pairs": [{"grid": True, "layers_a": [0], "layers_b": [], "metrics": [{"name": "cka"}]}]}),
    ):
        assert_self_contained(page)
        assert len(re.findall(r"<script\b", page, re.I)) == 2


def test_pages_share_charts_js():
    charts = static_text("charts.js")
    for page, own in ((render_probe_report({}), "probing.js"), (render_similarity_report({}), "similarity.js")):
        assert page.count(charts) == 1 and page.count(static_text(own)) == 1
        assert page.index(static_text("common.js")) < page.index(charts) < page.index(static_text(own))
        assert page.count("function lineChart(") == 1 and page.count("function heatMap(") == 1


# ----------------------------------------------------------------------------------------------
# Real-browser tests (headless Debian Chromium through Playwright)
# ----------------------------------------------------------------------------------------------






def js_num(v: float) -> str:
    """``String(v)`` in JavaScript (the pages' exact values): ``1.0`` is ``1``."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def js_fixed(v: float, digits: int) -> str:
    """``v.toFixed(digits)`` in JavaScript: the exact binary value, ties away from zero."""
    return str(Decimal(v).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def js_count(v: float) -> str:
    """``Math.round(v).toLocaleString('en-US')``."""
    return f"{math.floor(v + 0.5):,}"


def rgb(page, locator) -> tuple[int, ...]:
    colour = locator.evaluate("e => getComputedStyle(e).backgroundColor")
    return tuple(int(x) for x in re.findall(r"\d+", colour)[:3])




def test_browser_probe_report(browser, tmp_path):
    data = fixture("probe_analysis")
    r = load(browser, tmp_path, "probe.html", render_probe_report(data, title="Probes <of> smollm2"), timeout_ms=5_000)
    page = r.page
    try:
        assert page.title() == "Probes <of> smollm2 \u2014 smollm2-135m"
        assert page.text_content("#title") == "Probes <of> smollm2"
        assert page.locator("#findings li").all_text_contents() == data["findings"]
        assert page.text_content("#meta-tokens") == "61,237"
        assert page.text_content("#meta-extraction") == "21.8 s" and page.text_content("#meta-fitting") == "144 s"
        assert "protected task: gender" == page.text_content("#meta-bias")
        assert page.locator("table.overview tbody tr").count() == len(data["tasks"])
        assert page.locator("section.task").count() == len(data["tasks"])
        for i, t in enumerate(data["tasks"]):
            sec = page.locator(f"#task-{i}")
            assert sec.get_attribute("data-task") == t["name"]
            assert sec.locator(".task-name").text_content() == t["name"]
            best = t["best_layer"]
            assert sec.locator(".t-best").text_content() == str(best)
            assert sec.locator(".t-split").text_content() == " / ".join(
                f"{int(t[k]):,}" for k in ("train_items", "validation_items", "test_items"))  # fmt: skip
            assert sec.locator(".t-baseline").text_content() == f"{js_fixed(t['baseline_score'], 3)} ({t['baseline']})"
            assert sec.locator(".control-desc").text_content() == "Control task: " + t["control_description"]
            structural = t["level"] == "PROBE_LEVEL_DISTANCE"
            # The score chart: score (with its interval), control, selectivity, (Spearman,) the baseline.
            chart = sec.locator("svg.score-chart")
            keys = ["score", "control", "selectivity"] + (["spearman"] if structural else []) + ["baseline"]
            assert chart.locator("path.series").evaluate_all("ps => ps.map(p => p.dataset.series)") == keys
            assert chart.locator('circle.pt[data-series="score"]').count() == 30
            assert chart.locator('circle.pt[data-series="baseline"]').count() == 0
            assert chart.locator('path.series[data-series="baseline"]').get_attribute("stroke-dasharray")
            assert chart.locator('path.band[data-series="score"]').count() == 1
            assert chart.locator(f'line.vline[data-x="{best}"]').count() == 1
            lp = t["layers"][best]
            tip = chart.locator(f'circle.pt[data-series="score"][data-x="{best}"] title').text_content()
            s = lp["task"]
            assert tip == (f"{t['metric']} (test), layer {best}: {js_num(s['score'])} "
                           f"(95% interval {js_num(s['score_low'])} to {js_num(s['score_high'])})")  # fmt: skip
            sel = chart.locator(f'circle.pt[data-series="selectivity"][data-x="{best}"] title').text_content()
            assert numbers_in(sel)[-1] == lp["selectivity"]
            # MDL: drawn when computed (not for the structural task).
            if structural:
                assert sec.locator("svg.mdl-chart").count() == 0 and sec.locator(".mdl-none").count() == 1
            else:
                mdl = sec.locator("svg.mdl-chart")
                assert mdl.locator('circle.pt[data-series="task"]').count() == 30
                assert mdl.locator('circle.pt[data-series="control"]').count() == 30
                c = mdl.locator('circle.pt[data-series="task"][data-x="0"] title').text_content()
                assert numbers_in(c)[-1] == t["layers"][0]["task"]["compression"]
            # The table: one row per layer, the best one marked; Spearman for the structural task, C otherwise.
            table = sec.locator("table.layers")
            assert table.locator("tbody tr").count() == 30
            assert table.locator("tbody tr.best").get_attribute("data-layer") == str(best)
            heads = table.locator("thead th").all_text_contents()
            assert heads[:6] == ["layer", f"{t['metric']} [95%]", "control", "selectivity", "train", "validation"]
            assert ("spearman" in heads) == structural and ("C" in heads) != structural
            assert ("MDL bits" in heads) != structural
            row = table.locator(f'tbody tr[data-layer="{best}"] td')
            assert row.nth(1).text_content() == f"{js_fixed(s['score'], 3)} [{js_fixed(s['score_low'], 3)}, {js_fixed(s['score_high'], 3)}]"
            assert row.nth(2).text_content() == js_fixed(lp["control"]["score"], 3)
            if structural:
                assert row.nth(6).text_content() == js_fixed(s["spearman"], 3)
            else:
                assert row.nth(6).text_content() == js_num(s["regularization"])
                assert row.nth(7).text_content() == js_count(s["mdl_bits"])
                assert row.nth(8).text_content() == js_fixed(s["compression"], 2) + "\u00d7"
        # The labels, the skipped examples.
        assert page.locator("#task-0 .labels .label").count() == 17
        assert page.locator("#task-2 .skipped-summary").text_content() == "3 examples were skipped (the first 2 are listed)."
        assert page.locator("#task-2 table.skipped tbody tr").count() == 2
        assert page.locator("#task-0 .skipped-summary").count() == 0

        # Bias: the alignment heat map, rows task/label/protected label, columns layers.
        bias = data["bias"]
        rows = {(a["task"], a["label"], a["protected_label"]) for a in bias["alignments"]}
        heat = page.locator("table.alignments")
        assert heat.locator("tbody tr").count() == len(rows) == 17 * 2 + 2 * 2
        assert heat.locator("thead th.col").all_text_contents() == [str(x) for x in range(30)]
        assert heat.locator("td.cell").count() == len(rows) * 30
        strongest = max(bias["alignments"], key=lambda a: a["cosine"])
        weakest = min(bias["alignments"], key=lambda a: a["cosine"])
        for a, warm in ((strongest, True), (weakest, False)):
            label = f"{a['task']}: {a['label']} \u2194 {a['protected_label']}"
            cell = heat.locator(f'tbody tr[data-key="{label}"] td.cell[data-col="{a["layer"]}"]')
            assert cell.get_attribute("title") == f"{label}\nlayer {a['layer']}\ncosine: {js_num(a['cosine'])}"
            red, _, blue = rgb(page, cell)
            assert (red > blue) == warm and abs(red - blue) > 100
        assert page.locator("table.top-alignments tbody tr").count() == 12
        # Counterfactual effects: one line per task in each chart, one table row per task and layer.
        tasks = sorted({e["task"] for e in bias["effects"]})
        for cls in ("flip-chart", "shift-chart"):
            assert page.locator(f"svg.{cls} path.series").count() == len(tasks)
            assert page.locator(f"svg.{cls} circle.pt").count() == len(bias["effects"])
        assert page.locator("table.effects tbody tr").count() == len(bias["effects"])
        e = next(e for e in bias["effects"] if e["task"] == "gender" and e["layer"] == 3)
        row = page.locator('table.effects tbody tr[data-task="gender"][data-layer="3"] td')
        assert row.nth(2).text_content() == js_fixed(e["flip_rate"], 3) and row.nth(3).text_content() == js_fixed(e["mean_shift_sd"], 3)
        r.check_clean()
    finally:
        r.close()


def test_browser_probe_edge_cases(browser, tmp_path):
    data = make_probe()
    r = load(browser, tmp_path, "probe_syn.html", render_probe_report(data), timeout_ms=5_000)
    page = r.page
    try:
        assert_injection_free(page)
        assert page.text_content("#title") == "Probe analysis"
        assert page.locator("#findings li").first.text_content() == EVIL
        assert page.locator("#toc a").nth(2).text_content() == EVIL
        sec = page.locator("#task-0")
        assert sec.locator(".task-name").text_content() == EVIL
        assert sec.locator(".labels .label").all_text_contents() == [EVIL, "NOUN", EVIL2]
        assert sec.locator(".t-baseline").text_content() == "0.400 (always " + EVIL2 + ")"
        assert sec.locator(".t-directions").text_content() == "2 \u00d7 3 \u00d7 4"
        assert "returned inline" in sec.locator(".t-directions").get_attribute("title")
        # No MDL; the layer without a control probe or an interval.
        assert sec.locator(".mdl-none").count() == 1 and sec.locator("svg.mdl-chart").count() == 0
        assert sec.locator('svg.score-chart circle.pt[data-series="control"]').count() == 1
        row = sec.locator('table.layers tbody tr[data-layer="7"] td')
        assert row.nth(1).text_content() == "0.900" and row.nth(2).text_content() == "\u2014"
        assert sec.locator('svg.score-chart path.band[data-series="score"]').count() == 1
        assert sec.locator(".skipped-summary").text_content() == "5 examples were skipped (the first 1 are listed)."
        assert sec.locator("table.skipped tbody td").nth(1).text_content() == EVIL
        assert sec.locator("table.skipped .tok-inline").text_content() == EVIL2
        # One layer; a NaN Spearman shown as missing.
        depth = page.locator("#task-1")
        assert depth.locator("svg.score-chart circle.pt").count() == 3  # score, control, selectivity
        assert depth.locator("table.layers tbody td").nth(6).text_content() == "\u2014"
        assert page.locator("#task-2 .notice").text_content() == "No layers were probed for this task."
        assert page.locator(".bias-none").count() == 1
        assert page.text_content("#meta-bias") == "not requested"
        r.check_clean()
    finally:
        r.close()
    # A bias report without counterfactual pairs, with hostile labels.
    r = load(browser, tmp_path, "probe_bias.html", render_probe_report(make_probe(bias=True), title=EVIL), timeout_ms=5_000)
    page = r.page
    try:
        assert_injection_free(page)
        assert page.text_content("#title") == EVIL
        heat = page.locator("table.alignments")
        assert heat.locator("tbody th.row").all_text_contents() == [f"{EVIL}: {EVIL} \u2194 female", f"{EVIL}: NOUN \u2194 {EVIL2}"]
        assert heat.locator("td.cell").count() == 4
        assert page.locator(".heat-legend .hi").text_content() == "0.5"
        assert page.locator(".effects-none").count() == 1 and page.locator("table.effects").count() == 0
        r.check_clean()
    finally:
        r.close()
    # Nothing at all.
    r = load(browser, tmp_path, "probe_empty.html", render_probe_report({}), timeout_ms=5_000)
    try:
        assert r.page.locator("#tasks .notice").count() == 1
        assert r.page.locator(".bias-none").count() == 1
        r.check_clean()
    finally:
        r.close()


def test_browser_similarity_languages(browser, tmp_path):
    data = fixture("similarity_languages")
    r = load(browser, tmp_path, "languages.html", render_similarity_report(data), timeout_ms=5_000)
    page = r.page
    try:
        pairs = data["pairs"]
        assert page.text_content("#meta-sources") == "en, de, fr, zh"
        assert page.text_content("#meta-pairs") == "6" and page.text_content("#meta-texts") == "200"
        assert page.locator("#findings li").all_text_contents() == data["findings"]
        # The summary: one row per pair, last and mean of each metric.
        names = ["cosine", "cosine_unaligned", "retrieval_top1", "cka", "cka_debiased", "rsa"]
        table = page.locator("table.summary")
        assert table.locator("tbody tr").count() == len(pairs)
        assert table.locator("thead th.metric").evaluate_all("ts => ts.map(t => t.dataset.metric)") == names
        for i, p in enumerate(pairs):
            row = table.locator(f'tbody tr[data-pair="{i}"]')
            assert row.locator("td.pair").text_content() == f"{p['source_a']} \u2194 {p['source_b']}"
            for m in p["metrics"]:
                last = row.locator(f'td[data-metric="{m["name"]}"][data-which="last"]')
                mean = row.locator(f'td[data-metric="{m["name"]}"][data-which="mean"]')
                assert float(last.get_attribute("data-value")) == m["values"][-1]
                assert float(mean.get_attribute("data-value")) == pytest.approx(sum(m["values"]) / len(m["values"]), rel=1e-12)
                assert last.text_content() == js_fixed(m["values"][-1], 3)
        # Each pair: one line per metric, 30 points each, and the values table.
        assert page.locator("section.pair").count() == len(pairs)
        for i, p in enumerate(pairs):
            sec = page.locator(f"#pair-{i}")
            assert sec.locator(".pair-name").text_content() == f"{p['source_a']} \u2194 {p['source_b']}"
            chart = sec.locator("svg.pair-chart")
            assert chart.locator("path.series").evaluate_all("ps => ps.map(p => p.dataset.series)") == names
            assert chart.locator("circle.pt").count() == 6 * 30
            assert chart.locator('path.series[data-series="cosine_unaligned"]').get_attribute("stroke-dasharray")
            cka = next(m for m in p["metrics"] if m["name"] == "cka")
            tip = chart.locator('circle.pt[data-series="cka"][data-x="14"] title').text_content()
            assert tip.startswith("linear CKA, layer 14: ") and numbers_in(tip)[-1] == cka["values"][14]
            assert sec.locator("table.pair-values tbody tr").count() == 30
            assert sec.locator("table.heatmap").count() == 0
        r.check_clean()
    finally:
        r.close()


def test_browser_similarity_grid(browser, tmp_path):
    data = fixture("similarity_models")
    (p,) = data["pairs"]
    r = load(browser, tmp_path, "models.html", render_similarity_report(data), timeout_ms=5_000)
    page = r.page
    try:
        assert page.title() == "Representation similarity \u2014 smollm2-135m, smollm2-360m"
        assert page.locator("#summary-section").count() == 0  # one pair: no summary
        sec = page.locator("#pair-0")
        assert sec.get_attribute("data-grid") == "1"
        assert sec.locator("svg.pair-chart").count() == 0
        na, nb = len(p["layers_a"]), len(p["layers_b"])
        assert sec.locator(".grid-metric").evaluate_all("ds => ds.map(d => d.dataset.metric)") == ["cka", "cka_debiased", "rsa"]
        for m in p["metrics"]:
            heat = sec.locator(f'.grid-metric[data-metric="{m["name"]}"] table.grid-map')
            assert heat.get_attribute("data-scale") == "seq"
            assert heat.locator("tbody tr").count() == na and heat.locator("thead th.col").count() == nb
            assert heat.locator("td.cell").count() == na * nb
            # The outlined cell of each row is the row's largest value.
            marked = heat.locator("td.cell.rowmax").evaluate_all("cs => cs.map(c => [+c.dataset.row, +c.dataset.col])")
            grid = [m["values"][i * nb : (i + 1) * nb] for i in range(na)]
            assert marked == [[i, max(range(nb), key=lambda j: (grid[i][j], -j))] for i in range(na)]
            cell = heat.locator('td.cell[data-row="12"][data-col="20"]')
            label = {"cka": "linear CKA", "cka_debiased": "debiased CKA", "rsa": "RSA"}[m["name"]]
            assert cell.get_attribute("title") == f"135m layer 12 \u00d7 360m layer 20\n{label}: {js_num(grid[12][20])}"
            # The darkest cell is the largest value.
            hi = max(m["values"])
            k = m["values"].index(hi)
            darkest = heat.locator(f'td.cell[data-row="{k // nb}"][data-col="{k % nb}"]')
            assert rgb(page, darkest) == (8, 48, 107)
            assert heat.locator("xpath=../..").locator(".heat-legend .hi").text_content() == f"{float(f'{hi:.3g}'):g}"
        r.check_clean()
    finally:
        r.close()


def test_browser_similarity_edge_cases(browser, tmp_path):
    data = make_similarity()
    r = load(browser, tmp_path, "similarity_syn.html", render_similarity_report(data, title=EVIL2), timeout_ms=5_000)
    page = r.page
    try:
        assert_injection_free(page)
        assert page.text_content("#title") == EVIL2
        assert page.locator("#findings li").first.text_content() == EVIL
        assert page.text_content("#meta-sources") == f"{EVIL}, de, step 1000, {EVIL2}, fr, zh"
        assert page.locator("table.summary tbody tr").count() == 3
        assert page.locator("table.summary thead th.metric").all_text_contents() == ["cosine (aligned)", "linear CKA", "RSA", EVIL2]
        # The matched pair: a NaN is a gap; an unknown metric is drawn under its own name.
        sec = page.locator("#pair-0")
        assert sec.locator(".pair-name").text_content() == f"{EVIL} \u2194 de"
        assert sec.locator('svg.pair-chart circle.pt[data-series="cosine"]').count() == 2
        assert sec.locator(".series-legend span[data-series]").all_text_contents() == ["cosine (aligned)", EVIL2]
        assert sec.locator("table.pair-values tbody tr").nth(1).locator("td").nth(1).text_content() == "\u2014"
        # The grid: negative values on the diverging scale; a metric of the wrong length is a notice.
        grid = page.locator("#pair-1")
        rsa = grid.locator('.grid-metric[data-metric="rsa"] table.grid-map')
        assert rsa.get_attribute("data-scale") == "div"
        red, _, blue = rgb(page, rsa.locator('td.cell[data-row="0"][data-col="1"]'))
        assert blue > red  # -0.5
        assert rsa.locator("td.cell.rowmax").evaluate_all("cs => cs.map(c => c.dataset.col)") == ["0", "1"]
        assert rsa.locator("thead th.corner").text_content() == f"step 1000 \\ {EVIL2}"
        assert grid.locator('.grid-metric[data-metric="cka"] .notice').text_content() == "Not a 2 \u00d7 3 grid: 5 values."
        assert page.locator("#pair-2 .notice").text_content() == "No metric values for this pair."
        r.check_clean()
    finally:
        r.close()
    r = load(browser, tmp_path, "similarity_empty.html", render_similarity_report({}), timeout_ms=5_000)
    try:
        assert r.page.locator("#pairs .notice").count() == 1
        assert r.page.locator("#summary-section").count() == 0
        r.check_clean()
    finally:
        r.close()
    # A single matched pair: no summary, one chart.
    one = fixture("similarity_languages")
    one["pairs"] = one["pairs"][:1]
    r = load(browser, tmp_path, "similarity_one.html", render_similarity_report(one), timeout_ms=5_000)
    try:
        assert r.page.locator("#summary-section").count() == 0
        assert r.page.locator("svg.pair-chart").count() == 1
        r.check_clean()
    finally:
        r.close()


