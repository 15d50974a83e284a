"""Tests of the attribution commands of the CLI (``feature-attribution``, ``explain-prediction``),
their JSON (``results.attribution_to_dict``) and their HTML report
(``report.render_attribution_report``).

The unit tests need no server; the browser tests load a report built from a hand-made result
into headless Debian Chromium (as ``test_report.py`` does); the end-to-end tests run the CLI
against the in-process fleet (``local_fleet``) with the packaged smollm2-135m.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from interp.v1 import attribution_service_pb2 as pb
from interpretability.cli import UsageError, build_parser, main, parse_label_words, parse_labels, read_samples
from interpretability.report import DATA_ELEMENT_ID, render_attribution_report
from interpretability.results import attribution_to_dict, format_attribution_summary
from tests.conftest import run_cli
from tests.support.browser import Loaded

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "attribution"
EVIL = "</script><img src=x onerror=alert(1)>"

POSITIVE_RGB = (24, 128, 64)  # the report's hue of a score that pushes the target up ...
NEGATIVE_RGB = (200, 40, 45)  # ... and of one that pushes it down
NEUTRAL_RGB = (228, 228, 228)  # a token that is not attributed


# ----------------------------------------------------------------------------------------------
# A hand-built result
# ----------------------------------------------------------------------------------------------

TOKENS = ["<s>", "The", "Ġmovie", EVIL, "Ġgreat", "Ġboring"]
DISPLAY = ["<s>", "The", "movie", EVIL, "great", "boring"]
IG = pb.ATTRIBUTION_METHOD_INTEGRATED_GRADIENTS
SAL = pb.ATTRIBUTION_METHOD_SALIENCY
LIME = pb.ATTRIBUTION_METHOD_LIME
FA = pb.ATTRIBUTION_METHOD_FEATURE_ABLATION


def faithfulness(deletion_auc: float, insertion_auc: float, *, sensitivity: float | None = None) -> pb.Faithfulness:
    f = pb.Faithfulness(
        fractions=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
        deletion=[-0.1, -0.9, -1.4, -1.8, -2.0, -2.2],
        insertion=[-2.2, -1.2, -0.8, -0.4, -0.2, -0.1],
        deletion_auc=deletion_auc,
        insertion_auc=insertion_auc,
        random_deletion_auc=0.5,
        random_insertion_auc=0.45,
        has_infidelity=True,
        infidelity=0.0625,
    )
    if sensitivity is not None:
        f.has_sensitivity, f.sensitivity_max = True, sensitivity
    return f


def make_result(*, generation: bool = False) -> pb.AttributionResult:
    """Three methods with known scores: in integrated gradients, "great" (index 4) is the most
    positive token and "boring" (5) the most negative; "<s>" (0) is not attributed."""
    methods = [
        pb.MethodAttribution(
            method=IG, scores=[0.0, 0.1, 0.05, 0.02, 0.8, -0.4], has_delta=True, delta=0.0123, relative_delta=0.0059,
            faithfulness=faithfulness(0.21, 0.74, sensitivity=0.031), seconds=1.5, evaluations=1234567890123,
            parameters=["n_steps=50", "internal_batch_size=16"],
        ),
        pb.MethodAttribution(method=SAL, scores=[0.0, 0.2, 0.1, 0.05, 0.6, 0.3], faithfulness=faithfulness(0.33, 0.61, sensitivity=0.02),
                             seconds=0.2, evaluations=40),
        pb.MethodAttribution(method=LIME, scores=[0.0, -0.1, 0.0, 0.3, 0.5, -0.6], faithfulness=faithfulness(0.4, 0.5),
                             seconds=3.0, evaluations=300, parameters=["n_samples=200"]),
    ]
    result = pb.AttributionResult(
        model="toy-sentiment",
        text=f"The movie {EVIL} great boring",
        tokens=TOKENS,
        token_ids=[1, 2, 3, 4, 5, 6],
        display_tokens=DISPLAY,
        attributed=[False, True, True, True, True, True],
        target="class positive (log-probability)",
        target_score=-0.1,
        baseline_score=-2.2,
        target_probability=0.905,
        prediction="positive (p = 0.905)",
        baseline="pad token '<pad>' in place of each attributed token; kept: the first token",
        methods=methods,
        agreement=[
            pb.MethodAgreement(first=IG, second=SAL, spearman=0.6, top_k_overlap=0.667),
            pb.MethodAgreement(first=IG, second=LIME, spearman=0.3, top_k_overlap=0.333),
            pb.MethodAgreement(first=SAL, second=LIME, spearman=-0.2, top_k_overlap=0.333),
        ],
        findings=["The model predicts positive.", f"Integrated gradients: tokens pushing the target up: '{EVIL}'."],
    )
    if generation:
        m = pb.MethodAttribution(method=FA, scores=[0.0, 0.5, 1.0, -0.25, 2.0, 0.0], seconds=2.0, evaluations=12)
        m.generated.extend([
            pb.GeneratedTokenAttribution(token="Paris", token_id=7, log_prob=-0.25, scores=[0.0, 0.5, 1.0, -0.5, 2.0, 0.0]),
            pb.GeneratedTokenAttribution(token=".", token_id=8, log_prob=-0.5, scores=[0.0, 0.1, 0.2, 0.0, -1.0, 0.0]),
        ])
        del result.methods[:]
        result.methods.append(m)
        del result.agreement[:]
        result.target = "log-probability of the continuation 'Paris.'"
        result.generated_text = "Paris."
        result.attributed[:] = [False, True, True, True, True, False]
    return result


# ----------------------------------------------------------------------------------------------
# Input files and flags
# ----------------------------------------------------------------------------------------------


def test_example_files_parse():
    csv_samples = read_samples(EXAMPLES / "test_samples.csv")
    assert len(csv_samples) == 6
    assert {s.label for s in csv_samples} == {"positive", "negative"}
    assert csv_samples[1].text == "A dull, predictable plot and wooden acting."  # a quoted comma stays in the text
    txt = read_samples(EXAMPLES / "samples.txt")
    assert [s.text for s in txt][:2] == ["This movie was absolutely fantastic!", "A dull, predictable plot and wooden acting."]
    assert all(s.label is None for s in txt) and len(txt) == 4  # the comment and the blank line are skipped
    jsonl = read_samples(EXAMPLES / "samples.jsonl")
    assert [(s.text, s.label) for s in jsonl][:2] == [("This movie was absolutely fantastic!", "positive"),
                                                       ("A dull, predictable plot and wooden acting.", "negative")]
    prompts = read_samples(EXAMPLES / "prompts.txt")
    assert [s.text for s in prompts][0] == "The capital of France is" and len(prompts) == 3


def test_csv_columns_labels_and_sources(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("\ufeffid,review,sentiment\n1,Great film,positive\n2,,negative\n3,\"Bad, bad\",\n4,Meh,1\n", encoding="utf-8")
    samples = read_samples(p, text_column="review", label_column="sentiment")
    assert [(s.text, s.label) for s in samples] == [("Great film", "positive"), ("Bad, bad", None), ("Meh", "1")]
    assert samples[0].source == "s.csv:2"
    # Without the label column, no sample has a label (the predicted class is attributed).
    assert all(s.label is None for s in read_samples(p, text_column="review"))


def test_txt_skips_comments_and_blank_lines(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("# a comment\n\n  first sample  \n   # indented comment\nsecond sample\n", encoding="utf-8")
    samples = read_samples(p)
    assert [s.text for s in samples] == ["first sample", "second sample"]
    assert [s.source for s in samples] == ["s.txt:3", "s.txt:5"]


def test_jsonl_fields_and_errors(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"sentence": "one", "y": 0}\n\n{"sentence": "two"}\n', encoding="utf-8")
    samples = read_samples(p, text_column="sentence", label_column="y")
    assert [(s.text, s.label) for s in samples] == [("one", "0"), ("two", None)]
    with pytest.raises(UsageError, match=r"s.jsonl:1 has no text field 'text'; found: 'sentence', 'y'"):
        read_samples(p)
    p.write_text('{"text": "ok"}\nnot json\n', encoding="utf-8")
    with pytest.raises(UsageError, match=r"s.jsonl:2 is not JSON"):
        read_samples(p)


def test_bad_input_files(tmp_path):
    with pytest.raises(UsageError, match="is not a file"):
        read_samples(tmp_path / "missing.csv")
    (tmp_path / "s.tsv").write_text("text\nx\n")
    with pytest.raises(UsageError, match="unknown format"):
        read_samples(tmp_path / "s.tsv")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(UsageError, match="holds no sample"):
        read_samples(tmp_path / "empty.txt")


def test_csv_without_the_text_column_is_bad_usage(tmp_path, capsys):
    p = tmp_path / "reviews.csv"
    p.write_text("review,label\nGreat,positive\n", encoding="utf-8")
    # No server is needed: the file is read before any connection.
    rc = main(["feature-attribution", "--model-name", "m", "--input-samples", str(p), "--endpoint", "127.0.0.1:9"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "no column 'text'" in err and "columns found: 'review', 'label'" in err


def test_label_words_keep_their_leading_space():
    assert parse_label_words(" negative, positive") == [" negative", " positive"]
    assert parse_label_words("negative,positive") == ["negative", "positive"]
    assert parse_label_words(" yes , no ") == [" yes", " no"]  # trailing space dropped, leading kept
    with pytest.raises(UsageError):
        parse_label_words(" negative")
    with pytest.raises(UsageError):
        parse_label_words(" a,,b")
    assert parse_labels(" negative , positive ") == ["negative", "positive"]
    # The default goes through argparse untouched.
    args = build_parser().parse_args(["explain-prediction", "--model-name", "m", "--input-text", "x"])
    assert args.label_words == " negative, positive"
    assert parse_label_words(args.label_words) == [" negative", " positive"]
    args = build_parser().parse_args(["explain-prediction", "--model-name", "m", "--input-text", "x", "--label-words", " bad, good"])
    assert parse_label_words(args.label_words) == [" bad", " good"]


def test_a_numeric_class_is_sent_as_a_name_for_the_server_to_resolve():
    """"3" may be the name of a class (a rating model's "1".."5"): the CLI cannot tell, so it
    sends the label and the server prefers the name over the index (test_attribution.py)."""
    from interpretability.cli import _class_target

    target = _class_target("3", None).class_target
    assert (target.label, target.use_index) == ("3", False)
    assert not _class_target(None, None).class_target.label


def test_the_n_steps_help_describes_the_automatic_default(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["explain-prediction", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "0: automatic, 50 then 200 then 800 until the convergence delta is within 1% of f(x) - f(baseline)" in help_text
    assert "server's 50" not in help_text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["explain-prediction", "--model-name", "m", "--input-text", "x", "--methods", "gradient,bogus"],
         "unknown attribution method 'bogus'; known: "),
        (["feature-attribution", "--model-name", "m", "--input-samples", str(EXAMPLES / "samples.txt"),
          "--attribution-methods", "lime,nope"], "unknown attribution method 'nope'"),
        (["feature-attribution", "--model-name", "m", "--input-samples", str(EXAMPLES / "samples.txt"), "--output", "out.txt"],
         "the suffix picks the format"),
        (["explain-prediction", "--model-name", "m", "--input-text", "x", "--labels", "a,b,c"], "3 labels"),
        (["explain-prediction", "--model-name", "m", "--input-text", "x", "--prompt-template", "no placeholder"],
         "exactly once"),
        (["feature-attribution", "--model-name", "m", "--input-samples", str(EXAMPLES / "samples.txt"),
          "--target", " Paris"], "--target"),
    ],
)
def test_bad_flags_are_usage_errors(argv, message, capsys):
    assert main([*argv, "--endpoint", "127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert message in err
    if "known:" in message:
        assert "integrated_gradients" in err and "gradient" in err  # names and aliases are listed


# ----------------------------------------------------------------------------------------------
# attribution_to_dict and the summary
# ----------------------------------------------------------------------------------------------


def test_attribution_to_dict_of_a_hand_built_message():
    msg = make_result()
    msg.methods[1].relative_delta = float("inf")  # non-finite numbers become None
    msg.methods[2].ClearField("faithfulness")
    d = attribution_to_dict(msg)
    assert d["model"] == "toy-sentiment" and d["tokens"] == TOKENS and d["display_tokens"] == DISPLAY
    assert d["token_ids"] == [1, 2, 3, 4, 5, 6] and all(type(i) is int for i in d["token_ids"])
    assert d["attributed"] == [False, True, True, True, True, True]
    assert d["generated_text"] == ""  # default values are included
    assert [m["method"] for m in d["methods"]] == ["integrated_gradients", "saliency", "lime"]
    ig = d["methods"][0]
    assert ig["scores"] == pytest.approx([0.0, 0.1, 0.05, 0.02, 0.8, -0.4])
    assert ig["has_delta"] is True and ig["delta"] == pytest.approx(0.0123)
    assert ig["evaluations"] == 1234567890123  # int64, not a string
    assert ig["parameters"] == ["n_steps=50", "internal_batch_size=16"]
    assert ig["faithfulness"]["deletion"] == pytest.approx([-0.1, -0.9, -1.4, -1.8, -2.0, -2.2])
    assert ig["faithfulness"]["has_sensitivity"] is True and ig["faithfulness"]["sensitivity_max"] == pytest.approx(0.031)
    assert ig["generated"] == []
    assert d["methods"][1]["has_delta"] is False and d["methods"][1]["relative_delta"] is None
    assert d["methods"][2]["faithfulness"] is None  # not computed
    assert d["agreement"][0] == {"first": "integrated_gradients", "second": "saliency", "spearman": pytest.approx(0.6),
                                 "top_k_overlap": pytest.approx(0.667)}
    assert d["findings"][1].endswith(f"'{EVIL}'.")
    json.dumps(d, allow_nan=False)  # standard JSON
    # Float32 values come back in their shortest form, and rounding is optional.
    assert d["target_probability"] == 0.905
    rounded = attribution_to_dict(msg, decimals=2)
    assert rounded["methods"][0]["delta"] == 0.01 and rounded["methods"][0]["scores"][2] == 0.05

    gen = attribution_to_dict(make_result(generation=True))
    rows = gen["methods"][0]["generated"]
    assert [(r["token"], r["token_id"]) for r in rows] == [("Paris", 7), (".", 8)]
    assert rows[0]["scores"] == pytest.approx([0.0, 0.5, 1.0, -0.5, 2.0, 0.0])


def test_summary_names_tokens_deltas_faithfulness_and_findings():
    text = format_attribution_summary(attribution_to_dict(make_result()))
    assert "Prediction: positive (p = 0.905)" in text
    assert "Target: class positive (log-probability) = -0.1" in text
    assert 'up: "great" (+0.8)' in text and 'down: "boring" (-0.4)' in text
    assert "convergence delta +0.0123" in text
    assert "deletion AUC 0.210 (random 0.500" in text and "infidelity 0.0625" in text
    assert "integrated_gradients ~ saliency: +0.60" in text
    assert "The model predicts positive." in text
    # Saliency has no sign: no "down" list.
    sal = text.split("  saliency")[1].split("\n")[1]
    assert "down:" not in sal
    assert "Findings" not in format_attribution_summary(attribution_to_dict(make_result()), findings=False)


# ----------------------------------------------------------------------------------------------
# The report as text
# ----------------------------------------------------------------------------------------------


def embedded(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="' + DATA_ELEMENT_ID + r'">(.*?)</script>', html, re.S)
    assert m, "no embedded JSON element"
    return json.loads(m.group(1))


def test_report_embeds_the_samples_safely():
    samples = [attribution_to_dict(make_result()), attribution_to_dict(make_result(generation=True))]
    samples[0]["methods"][0]["relative_delta"] = float("nan")
    html = render_attribution_report(samples, title="Attributions <b>x</b>")
    assert EVIL not in html and "<img" not in html
    assert len(re.findall(r"<script\b", html, re.I)) == 2 and len(re.findall(r"</script", html, re.I)) == 2
    assert "http://" not in html and "https://" not in html
    assert "default-src 'none'" in html
    assert "<title>Attributions &lt;b&gt;x&lt;/b&gt;</title>" in html
    data = embedded(html)
    assert data["title"] == "Attributions <b>x</b>"
    assert data["samples"][0]["tokens"] == TOKENS
    assert data["samples"][0]["methods"][0]["relative_delta"] is None
    assert data["samples"][1]["methods"][0]["generated"][0]["token"] == "Paris"
    with pytest.raises(TypeError):
        render_attribution_report(["not a dict"])  # type: ignore[list-item]


# ----------------------------------------------------------------------------------------------
# The report in a browser
# ----------------------------------------------------------------------------------------------






def rgb(css: str) -> tuple[int, ...]:
    m = re.fullmatch(r"rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*[\d.]+)?\)", css.strip())
    assert m, css
    return tuple(int(x) for x in m.groups())


def background(page, method: str, i: int) -> tuple[int, ...]:
    return rgb(page.evaluate(
        "([m, i]) => getComputedStyle(document.querySelector("
        "`#sample-1 .tokens[data-method='${m}'] .tok[data-i='${i}']`)).backgroundColor",
        [method, i],
    ))


def test_browser_report(browser, tmp_path):
    data = attribution_to_dict(make_result())
    path = tmp_path / "feature_attributions.html"
    path.write_text(render_attribution_report([data, attribution_to_dict(make_result(generation=True))]), encoding="utf-8")
    r = Loaded(browser, path)
    page = r.page
    try:
        assert page.text_content("#meta-samples") == "2"
        assert page.text_content("#sample-1 .m-prediction") == "positive (p = 0.905)"
        # One row per method, side by side with the same tokens.
        rows = page.locator("#sample-1 .attr-grid .tokens")
        assert rows.count() == 3
        assert page.eval_on_selector_all("#sample-1 .attr-grid .tokens", "rs => rs.map(r => r.dataset.method)") == [
            "integrated_gradients", "saliency", "lime"]
        assert page.locator("#sample-1 .tokens[data-method='integrated_gradients'] .tok").count() == len(TOKENS)

        # Integrated gradients: "great" is the most positive token (full positive hue), "boring"
        # the most negative one (the negative hue at |-0.4| / 0.8 = half intensity).
        great, boring = background(page, "integrated_gradients", 4), background(page, "integrated_gradients", 5)
        assert great == POSITIVE_RGB
        assert great[1] > great[0] and great[1] > great[2]
        assert boring[0] > boring[1] and boring[0] > boring[2]
        assert boring == tuple(round(255 + (c - 255) * 0.5) for c in NEGATIVE_RGB)
        # LIME's largest |score| is negative: "boring" gets the full negative hue.
        assert background(page, "lime", 5) == NEGATIVE_RGB
        # A score of 0 is white; a token that is not attributed is neutral grey in every row.
        assert background(page, "lime", 2) == (255, 255, 255)
        for method in ("integrated_gradients", "saliency", "lime"):
            assert background(page, method, 0) == NEUTRAL_RGB
        assert "not attributed" in page.get_attribute(
            "#sample-1 .tokens[data-method='saliency'] .tok[data-i='0']", "title")
        # Hovering a token shows its exact score.
        title = page.get_attribute("#sample-1 .tokens[data-method='integrated_gradients'] .tok[data-i='4']", "title")
        assert "great" in title and "0.8" in title
        assert page.get_attribute("#sample-1 .tokens[data-method='integrated_gradients'] .tok[data-i='4']", "data-score") == "0.8"

        # The delta of the method that has one, and none for the others.
        assert "+0.0123" in page.text_content("#sample-1 .method-name[data-method='integrated_gradients'] .delta")
        assert page.locator("#sample-1 .method-name[data-method='saliency'] .delta").count() == 0
        delta_cells = page.eval_on_selector_all(
            "#sample-1 table.faithfulness tbody tr", "rs => rs.map(r => [r.dataset.method, r.children[7].textContent])")
        assert dict(delta_cells) == {"integrated_gradients": "0.0123", "saliency": "\u2014", "lime": "\u2014"}
        faith = page.eval_on_selector_all(
            "#sample-1 table.faithfulness tbody tr", "rs => rs.map(r => [r.dataset.method, r.children[1].textContent, "
            "r.children[5].textContent, r.children[6].textContent])")
        assert ["integrated_gradients", "0.210", "0.0625", "0.0310"] in faith

        # Curves: one deletion and one insertion polyline per method, plus the random reference.
        for kind in ("deletion", "insertion"):
            lines = page.eval_on_selector_all(f"#sample-1 svg.curve-chart[data-kind='{kind}'] polyline.curve",
                                              "ls => ls.map(l => [l.dataset.method, l.getAttribute('points').split(' ').length])")
            assert lines == [["integrated_gradients", 6], ["saliency", 6], ["lime", 6]]
            assert page.locator(f"#sample-1 svg.curve-chart[data-kind='{kind}'] line.random").count() == 1

        # The agreement matrix: every pair, both ways.
        cells = page.eval_on_selector_all("#sample-1 table.agreement td[data-first]",
                                          "cs => cs.map(c => [c.dataset.first, c.dataset.second, c.textContent])")
        assert ["integrated_gradients", "saliency", "0.60"] in cells and ["saliency", "integrated_gradients", "0.60"] in cells
        assert ["saliency", "lime", "-0.20"] in cells and len(cells) == 6

        # Findings; the malicious token is text everywhere.
        assert page.locator("#sample-1 ul.findings li").count() == 2
        assert page.text_content("#sample-1 ul.findings li:nth-child(2)").endswith(f"'{EVIL}'.")
        assert page.text_content("#sample-1 .tokens[data-method='lime'] .tok[data-i='3']") == EVIL
        assert page.locator("img").count() == 0 and page.evaluate("document.scripts.length") == 2
        assert page.locator("[onerror], [onload]").count() == 0

        # The generation sample: one heat-map row per generated token, one column per attributed token.
        table = "#sample-2 table.genmap[data-method='feature_ablation']"
        assert page.eval_on_selector_all(f"{table} tbody th", "ts => ts.map(t => t.textContent)") == ["Paris", "."]
        assert page.eval_on_selector_all(f"{table} thead th", "ts => ts.map(t => t.textContent)") == [
            "generated", "log p", "The", "movie", label14(EVIL), "great"]
        first = page.eval_on_selector_all(f"{table} tbody tr:first-child td", "ts => ts.map(t => [t.textContent, t.title, "
                                          "getComputedStyle(t).backgroundColor])")
        assert [c[0] for c in first] == ["-0.250", "0.50", "1.00", "-0.50", "2.00"]
        assert rgb(first[4][2]) == POSITIVE_RGB and "2" in first[4][1]  # the table's largest |score|
        neg = rgb(first[3][2])
        assert neg[0] > neg[1] and neg[0] > neg[2]
        assert page.text_content("#sample-2 .generated-text") == "Paris."
        # Without faithfulness figures there are no curves, and the page says why.
        assert page.locator("#sample-2 svg.curve-chart").count() == 0
        assert "depth detailed" in page.text_content("#sample-2 .faith-none")
        r.check_clean()
    finally:
        r.close()


def label14(text: str) -> str:
    return text if len(text) <= 14 else text[:13] + "\u2026"


def test_browser_minimal_sample(browser, tmp_path):
    """A sample with nothing but a text (an older or partial JSON) still renders cleanly."""
    path = tmp_path / "minimal.html"
    path.write_text(render_attribution_report([{"text": "hello"}, {"model": "m", "tokens": ["a"], "methods": [{}]}]),
                    encoding="utf-8")
    r = Loaded(browser, path)
    try:
        assert r.page.locator("section.sample").count() == 2
        r.check_clean()
    finally:
        r.close()


# ----------------------------------------------------------------------------------------------
# End to end against the in-process fleet
# ----------------------------------------------------------------------------------------------


def test_explain_prediction_of_a_causal_lm(local_fleet, tmp_path):
    out = tmp_path / "prediction_explanation.html"
    r = run_cli(local_fleet.endpoint, "explain-prediction", "--model-name", "smollm2-135m", "--input-text",
                "The capital of France is", "--explanation-depth", "basic", "--n-steps", "8", "--output", str(out))
    assert r.returncode == 0, r.stderr
    # No class named: a causal LM's most likely next token is attributed.
    assert "Prediction: next token" in r.stdout and "Findings:" in r.stdout
    assert f"wrote {out}" in r.stdout
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["model"] == "smollm2-135m" and data["text"] == "The capital of France is"
    assert data["target"].startswith("log-probability of ") and data["prediction"].startswith("next token")
    assert [m["method"] for m in data["methods"]] == ["integrated_gradients"]
    ig = data["methods"][0]
    n = len(data["tokens"])
    assert len(ig["scores"]) == len(data["display_tokens"]) == len(data["attributed"]) == n
    assert data["attributed"][0] is False and all(data["attributed"][1:])  # the first token is kept
    assert ig["has_delta"] is True and "n_steps=8" in ig["parameters"]
    assert ig["faithfulness"] is None  # depth basic
    assert data["findings"] and data["request"]["depth"] == "basic"
    html = out.read_text()
    assert embedded(html)["samples"][0]["tokens"] == data["tokens"]
    assert "https://" not in html and "http://" not in html


@pytest.mark.slow
def test_feature_attribution_next_token_detailed(local_fleet, tmp_path):
    out = tmp_path / "attributions.json"
    r = run_cli(local_fleet.endpoint, "feature-attribution", "--model-name", "smollm2-135m", "--task-type", "next-token",
                "--input-samples", str(EXAMPLES / "prompts.txt"), "--attribution-methods", "gradient,feature_ablation",
                "--depth", "detailed", "--limit", "2", "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert "attributing" in r.stderr  # the progress bar
    assert "[1/2] 'The capital of France is'" in r.stdout and "[2/2]" in r.stdout
    data = json.loads(out.read_text())
    assert isinstance(data, list) and len(data) == 2
    for i, sample in enumerate(data, start=1):
        assert sample["sample"]["index"] == i and sample["sample"]["source"].startswith("prompts.txt:")
        assert [m["method"] for m in sample["methods"]] == ["saliency", "feature_ablation"]  # "gradient" is saliency
        for m in sample["methods"]:
            f = m["faithfulness"]
            assert f is not None
            assert len(f["fractions"]) == len(f["deletion"]) == len(f["insertion"]) >= 2
            assert f["fractions"][0] == 0 and f["fractions"][-1] == 1
            assert f["deletion_auc"] is not None and f["random_deletion_auc"] is not None
        assert [(a["first"], a["second"]) for a in sample["agreement"]] == [("saliency", "feature_ablation")]
        assert sample["request"]["task_type"] == "next-token"


@pytest.mark.slow
@pytest.mark.parametrize("forced", [None, "positive"], ids=["labels from the csv", "--prediction-class"])
def test_feature_attribution_of_a_classifier_over_the_example_csv(local_fleet, tmp_path, forced):
    """The seed's headline command: the sentiment classifier over examples/attribution/test_samples.csv,
    each sample attributed to its own label (or to --prediction-class for all), and integrated
    gradients' scores add up to the class score's change (completeness)."""
    rows = list(csv.DictReader((EXAMPLES / "test_samples.csv").open()))[:4]
    out = tmp_path / "attributions.json"
    extra = ["--prediction-class", forced] if forced else []
    r = run_cli(local_fleet.endpoint, "feature-attribution", "--model-name", "minilm-sentiment", "--task-type", "classification",
                "--input-samples", str(EXAMPLES / "test_samples.csv"), "--attribution-methods", "ig", "--depth", "basic",
                "--limit", "4", *extra, "--output", str(out))
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert [d["text"] for d in data] == [row["text"] for row in rows]
    for d, row in zip(data, rows, strict=True):
        want = forced or row["label"]
        assert d["request"]["target"]["class_target"]["label"] == want
        assert want in d["target"], d["target"]
        (ig,) = d["methods"]
        assert ig["method"] == "integrated_gradients" and ig["has_delta"]
        assert abs(ig["delta"]) <= 0.01 * abs(sum(ig["scores"])) + 1e-6
