"""Tests of ``interpretability.datasets``: reading the datasets of the activation commands
(``load_texts``), splitting them into concept and control texts (``split_concept``), and the
example datasets shipped in ``examples/activations``. No server, no torch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interpretability.datasets import Dataset, DatasetError, DatasetProblem, load_texts, split_concept
from tests.support.files import write

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "activations"


# -- problems and errors -------------------------------------------------------------------------


def test_problem_and_error_name_file_and_line():
    assert str(DatasetProblem("a.jsonl", 4, "invalid JSON")) == "a.jsonl:4: invalid JSON"
    err = DatasetError("invalid JSON", "a.jsonl", 4)
    assert isinstance(err, ValueError)
    assert (err.path, err.line, err.message) == ("a.jsonl", 4, "invalid JSON")
    assert str(err) == "a.jsonl:4: invalid JSON"
    assert str(DatasetError("cannot read it", "a.jsonl")) == "a.jsonl: cannot read it"
    assert str(DatasetError("no texts in a.jsonl", "a.jsonl")) == "no texts in a.jsonl"


def test_problem_summary():
    ds = Dataset(path="a.jsonl", texts=["x"], labels=[None], lines=[1])
    assert ds.problem_summary() == ""
    ds.problems = [DatasetProblem("a.jsonl", n, "bad") for n in (2, 3, 4)]
    ds.problem_count = 3
    assert ds.problem_summary() == "3 lines skipped: a.jsonl:2: bad; a.jsonl:3: bad; a.jsonl:4: bad"
    assert ds.problem_summary(limit=1) == "3 lines skipped: a.jsonl:2: bad; and 2 more"
    ds.problems, ds.problem_count = ds.problems[:1], 1
    assert ds.problem_summary() == "1 line skipped: a.jsonl:2: bad"


# -- JSONL ---------------------------------------------------------------------------------------


def test_jsonl_malformed_line_is_recorded_and_skipped(tmp_path):
    path = write(
        tmp_path / "d.jsonl",
        '{"text": "first", "label": "concept"}\n'
        "\n"
        "{not json}\n"
        '{"text": "second"}\n'
        '["a list"]\n'
        '{"label": "concept"}\n'
        '{"text": "   "}\n'
        '{"text": 42}\n'
        '{"text": "third", "label": 1}\n'
        '{"text": "fourth", "label": true}\n',
    )
    ds = load_texts(path)
    assert ds.path == str(path)
    assert ds.texts == ["first", "second", "third", "fourth"]
    assert ds.labels == ["concept", None, "1", "True"]
    assert ds.lines == [1, 4, 9, 10]
    assert len(ds) == 4
    assert ds.problem_count == 5
    assert [p.line for p in ds.problems] == [3, 5, 6, 7, 8]
    assert all(p.path == str(path) for p in ds.problems)
    assert "invalid JSON" in ds.problems[0].message
    assert "object" in ds.problems[1].message
    assert "missing text field 'text'" in ds.problems[2].message
    assert "empty" in ds.problems[3].message
    assert "string" in ds.problems[4].message
    assert str(ds.problems[0]).startswith(f"{path}:3: invalid JSON")
    assert ds.problem_summary().startswith(f"5 lines skipped: {path}:3: invalid JSON")


def test_jsonl_strict_raises_with_line_number(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"text": "ok"}\n{"text": "fine"}\n{"text": oops}\n{"text": "later"}\n')
    with pytest.raises(DatasetError) as info:
        load_texts(path, strict=True)
    assert info.value.line == 3
    assert info.value.path == str(path)
    assert str(info.value).startswith(f"{path}:3: invalid JSON")


def test_jsonl_custom_fields_and_ndjson(tmp_path):
    path = write(tmp_path / "d.ndjson", '{"sentence": "hello", "kind": "concept"}\n{"sentence": "bye", "kind": "control"}\n')
    ds = load_texts(path, text_field="sentence", label_field="kind")
    assert ds.texts == ["hello", "bye"]
    assert ds.labels == ["concept", "control"]
    # The default field is missing on every line: nothing usable.
    with pytest.raises(DatasetError, match="no texts in .*missing text field 'text'"):
        load_texts(path)


def test_bad_label_type_is_a_problem(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"text": "a", "label": [1]}\n{"text": "b", "label": null}\n')
    ds = load_texts(path)
    assert ds.texts == ["b"] and ds.labels == [None]
    assert ds.problems[0].line == 1 and "label" in ds.problems[0].message


def test_bad_utf8_line_is_recorded(tmp_path):
    path = write(tmp_path / "d.jsonl", b'{"text": "good"}\n{"text": "caf\xe9"}\n{"text": "also good"}\n')
    ds = load_texts(path)
    assert ds.texts == ["good", "also good"]
    assert ds.lines == [1, 3]
    assert [(p.line, "UTF-8" in p.message) for p in ds.problems] == [(2, True)]

    txt = write(tmp_path / "d.txt", b"fine\n\xff\xfe broken\nstill fine\n")
    ds = load_texts(txt)
    assert ds.texts == ["fine", "still fine"]
    assert ds.problems[0].line == 2 and "UTF-8" in ds.problems[0].message
    with pytest.raises(DatasetError, match=r":2: invalid UTF-8"):
        load_texts(txt, strict=True)


def test_problems_kept_are_capped_but_all_counted(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"text": "ok"}\n' + "bad\n" * 30)
    ds = load_texts(path, max_problems_kept=5)
    assert ds.texts == ["ok"]
    assert len(ds.problems) == 5
    assert ds.problem_count == 30
    assert ds.problem_summary(limit=2).startswith("30 lines skipped: ")
    assert ds.problem_summary(limit=2).endswith("; and 28 more")


# -- plain text ----------------------------------------------------------------------------------


def test_txt_blank_and_comment_lines_are_skipped_silently(tmp_path):
    path = write(tmp_path / "d.txt", "# a header\n\nfirst line   \n   \n  # indented comment\nsecond line\r\n")
    ds = load_texts(path)
    assert ds.texts == ["first line", "second line"]
    assert ds.labels == [None, None]
    assert ds.lines == [3, 6]
    assert ds.problems == [] and ds.problem_count == 0


def test_txt_tab_labelled_lines(tmp_path):
    path = write(
        tmp_path / "d.tsv",
        "concept\tI am so happy today.\n"
        "control\tThe bus leaves at nine.\n"
        "no label here\n"
        "two words\tnot a label because of the space\n"
        "concept\t\n",
    )
    ds = load_texts(path)
    assert ds.texts == [
        "I am so happy today.",
        "The bus leaves at nine.",
        "no label here",
        "two words\tnot a label because of the space",
    ]
    assert ds.labels == ["concept", "control", None, None]
    assert ds.lines == [1, 2, 3, 4]
    assert [p.line for p in ds.problems] == [5]


def test_no_extension_is_plain_text(tmp_path):
    ds = load_texts(write(tmp_path / "samples", "one\ntwo\n"))
    assert ds.texts == ["one", "two"]


# -- JSON ----------------------------------------------------------------------------------------


def test_json_list_of_strings_and_objects(tmp_path):
    items = ["plain string", {"text": "an object", "label": "concept"}, "", 7, {"text": "last", "label": 0}]
    path = write(tmp_path / "d.json", json.dumps(items, indent=2))
    ds = load_texts(path)
    assert ds.texts == ["plain string", "an object", "last"]
    assert ds.labels == [None, "concept", "0"]
    assert ds.lines == [1, 2, 5]  # element index + 1
    assert [p.line for p in ds.problems] == [3, 4]


def test_json_not_a_list_or_invalid(tmp_path):
    with pytest.raises(DatasetError, match="JSON list"):
        load_texts(write(tmp_path / "d.json", '{"text": "x"}'))
    with pytest.raises(DatasetError) as info:
        load_texts(write(tmp_path / "e.json", '[\n  "a",\n  oops\n]'))
    assert info.value.line == 3 and "invalid JSON" in str(info.value)


# -- unusable files ------------------------------------------------------------------------------


def test_empty_dataset_error(tmp_path):
    path = write(tmp_path / "d.txt", "# only a comment\n\n")
    with pytest.raises(DatasetError) as info:
        load_texts(path)
    assert info.value.line == 0
    assert str(info.value) == f"no texts in {path}"

    bad = write(tmp_path / "d.jsonl", "nope\n")
    with pytest.raises(DatasetError, match=r"no texts in .*d\.jsonl.*1 line skipped: .*d\.jsonl:1: invalid JSON"):
        load_texts(bad)


def test_missing_file_error(tmp_path):
    path = tmp_path / "absent.jsonl"
    with pytest.raises(DatasetError) as info:
        load_texts(path)
    assert info.value.line == 0
    assert info.value.path == str(path)
    assert "No such file or directory" in str(info.value)
    assert str(path) in str(info.value)

    with pytest.raises(DatasetError, match="Is a directory"):
        load_texts(tmp_path)


# -- split_concept -------------------------------------------------------------------------------


def test_split_concept_with_labels(tmp_path):
    path = write(
        tmp_path / "d.txt",
        "concept\tjoy\ncontrol\ttable\nCONTROL\tchair\nneutral\tlamp\n0\tdoor\nfalse\twall\nnegative\tfloor\nemotion\tgrief\n",
    )
    concept, control = split_concept(load_texts(path), None)
    assert concept == ["joy", "grief"]
    assert control == ["table", "chair", "lamp", "door", "wall", "floor"]


def test_split_concept_with_control_dataset_ignores_labels(tmp_path):
    probe = load_texts(write(tmp_path / "probe.txt", "joy\ncontrol\tnot a control here\n"))
    control = load_texts(write(tmp_path / "control.jsonl", '{"text": "table", "label": "concept"}\n'))
    assert split_concept(probe, control) == (["joy", "not a control here"], ["table"])


def test_split_concept_unlabelled_without_controls_names_the_line(tmp_path):
    path = write(tmp_path / "d.txt", "# header\nconcept\tjoy\ncontrol\ttable\nan unlabelled line\n")
    with pytest.raises(DatasetError) as info:
        split_concept(load_texts(path), None)
    assert info.value.line == 4
    assert str(info.value).startswith(f"{path}:4: ")
    assert "concept examples need explicit controls" in str(info.value)
    assert "--control-dataset" in str(info.value)


def test_split_concept_missing_side(tmp_path):
    only_concept = load_texts(write(tmp_path / "a.txt", "concept\tjoy\nconcept\tgrief\n"))
    with pytest.raises(DatasetError, match="no control examples"):
        split_concept(only_concept, None)
    only_control = load_texts(write(tmp_path / "b.txt", "control\ttable\n"))
    with pytest.raises(DatasetError, match="no concept examples"):
        split_concept(only_control, None)
    empty = Dataset(path="c.txt")
    with pytest.raises(DatasetError, match="no control examples in c.txt"):
        split_concept(only_concept, empty)


def test_split_concept_label_mismatch(tmp_path):
    path = write(tmp_path / "d.txt", "emotion\tjoy\ncontrol\ttable\nsport\tfootball\n")
    ds = load_texts(path)
    with pytest.raises(DatasetError) as info:
        split_concept(ds, None, concept_label="emotion")
    assert info.value.line == 3
    assert "'sport'" in str(info.value) and "'emotion'" in str(info.value)
    # Without concept_label every non-control label is a concept example.
    assert split_concept(ds, None) == (["joy", "football"], ["table"])
    ok = load_texts(write(tmp_path / "e.txt", "emotion\tjoy\nneutral\ttable\n"))
    assert split_concept(ok, None, concept_label="emotion") == (["joy"], ["table"])
    with pytest.raises(DatasetError, match="no concept examples"):
        split_concept(load_texts(write(tmp_path / "f.txt", "control\ttable\n")), None, concept_label="emotion")


# -- shipped examples ----------------------------------------------------------------------------


def test_emotion_examples_split():
    ds = load_texts(EXAMPLES / "emotion_examples.txt")
    assert ds.problems == [] and ds.problem_count == 0
    concept, control = split_concept(ds, None, concept_label="concept")
    assert len(concept) >= 50 and len(control) >= 50
    assert len(set(concept)) == len(concept) and len(set(control)) == len(control)
    assert not any("!" in t for t in concept + control)
    mean = lambda texts: sum(len(t.split()) for t in texts) / len(texts)  # noqa: E731
    assert abs(mean(concept) - mean(control)) < 2


def test_analysis_samples_have_exactly_one_problem():
    path = EXAMPLES / "analysis_samples.jsonl"
    ds = load_texts(path)
    assert ds.problem_count == 1 and len(ds.problems) == 1
    assert "invalid JSON" in ds.problems[0].message
    assert len(ds.texts) >= 75
    assert all(10 <= len(t.split()) <= 40 for t in ds.texts)
    with pytest.raises(DatasetError, match=rf":{ds.problems[0].line}: invalid JSON"):
        load_texts(path, strict=True)
