"""Tests of ``interpretability.probing_data``: the probe-dataset loaders (suite JSON, plain JSON
lists, JSONL, CSV, CoNLL-U), the parallel-sentence loader, their errors (each naming file and
line), and the example data shipped in ``examples/probing`` with its generator. No server, no
torch."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from interp.v1 import probing_service_pb2 as ppb
from interpretability.datasets import DatasetError, load_texts
from interpretability.probing_data import LEVELS, ProbeDataset, level_name, load_parallel_sentences, load_probe_dataset
from tests.support.files import write

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "probing"
SUITE = EXAMPLES / "linguistic_probing_suite.json"
CONCEPTS = EXAMPLES / "concepts.json"
MULTILINGUAL = EXAMPLES / "multilingual_test_set.json"
COMPARISON = EXAMPLES / "sentences_for_comparison.txt"


def suite_lines(tasks: list[dict], bias: dict | None = None) -> str:
    """A suite file with one example per line (line 1 "{", line 2 '"tasks": [', then per task
    a header line, one line per example and a closing line)."""
    lines = ["{", '"tasks": [']
    for t, task in enumerate(tasks):
        head = {k: v for k, v in task.items() if k != "examples"}
        lines.append(json.dumps(head)[:-1] + ', "examples": [')
        examples = task["examples"]
        lines += [json.dumps(e) + ("," if i < len(examples) - 1 else "") for i, e in enumerate(examples)]
        lines.append("]}" + ("," if t < len(tasks) - 1 else ""))
    lines.append("]" + ("," if bias is not None else ""))
    if bias is not None:
        lines.append('"bias": ' + json.dumps(bias))
    lines.append("}")
    return "\n".join(lines) + "\n"


POS = {
    "name": "pos_tagging",
    "level": "token",
    "examples": [
        {"words": ["The", "cat", "sleeps", "."], "labels": ["DET", "NOUN", "VERB", "PUNCT"], "group": "g1"},
        {"text": "Dogs bark.", "words": ["Dogs", "bark", "."], "labels": ["NOUN", "VERB", "PUNCT"]},
    ],
}
PARSE = {
    "name": "parsing",
    "level": "distance",
    "examples": [
        {"words": ["The", "cat", "sleeps", "."], "heads": [2, 3, 0, 3]},
        {"words": ["Dogs", "bark"], "heads": [2, 0]},
    ],
}
SENT = {
    "name": "sentiment",
    "level": "sentence",
    "examples": [
        {"text": "Great film.", "label": "positive"},
        {"text": "Awful film.", "label": "negative", "group": 7},
    ],
}
GENDER = {
    "name": "gender",
    "level": "sentence",
    "examples": [{"text": "She is a nurse.", "label": "female"}, {"text": "He is a nurse.", "label": "male"}],
}


def error_of(path: Path, **kwargs) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        load_probe_dataset(path, **kwargs)
    return info.value


# -- suite JSON ----------------------------------------------------------------------------------


def test_suite_loads_tasks_levels_sources_and_groups(tmp_path):
    path = write(tmp_path / "suite.json", suite_lines([POS, PARSE, SENT]))
    ds = load_probe_dataset(path)
    assert isinstance(ds, ProbeDataset) and ds.path == str(path) and ds.bias is None
    assert [(t.name, t.level) for t in ds.tasks] == [
        ("pos_tagging", ppb.PROBE_LEVEL_TOKEN),
        ("parsing", ppb.PROBE_LEVEL_DISTANCE),
        ("sentiment", ppb.PROBE_LEVEL_SENTENCE),
    ]
    pos, parse, sent = ds.tasks
    first = pos.examples[0]
    assert list(first.words) == ["The", "cat", "sleeps", "."]
    assert list(first.word_labels) == ["DET", "NOUN", "VERB", "PUNCT"]
    assert (first.text, first.group, first.source) == ("", "g1", "suite.json:4")
    assert (pos.examples[1].text, pos.examples[1].source) == ("Dogs bark.", "suite.json:5")
    assert list(parse.examples[0].heads) == [2, 3, 0, 3] and parse.examples[1].source == "suite.json:9"
    assert [(e.text, e.label, e.group, e.source) for e in sent.examples] == [
        ("Great film.", "positive", "", "suite.json:12"),
        ("Awful film.", "negative", "7", "suite.json:13"),
    ]


def test_suite_lines_of_pretty_printed_json(tmp_path):
    """Each example's source is the line of its opening brace, however the file is laid out."""
    text = json.dumps({"name": "x", "tasks": [SENT, POS]}, indent=2)
    path = write(tmp_path / "pretty.json", text)
    lines = text.split("\n")
    ds = load_probe_dataset(path)
    for task, raw in zip(ds.tasks, (SENT, POS), strict=True):
        for example, original in zip(task.examples, raw["examples"], strict=True):
            line = int(example.source.split(":")[1])
            assert lines[line - 1].strip() == "{"
            # The line after the brace holds the example's first field.
            first_key = next(iter(original))
            assert lines[line].strip().startswith(json.dumps(first_key))


def test_suite_selects_tasks_in_order_and_lists_names_on_unknown(tmp_path):
    path = write(tmp_path / "suite.json", suite_lines([POS, PARSE, SENT]))
    ds = load_probe_dataset(path, tasks=["sentiment", "pos_tagging"])
    assert [t.name for t in ds.tasks] == ["sentiment", "pos_tagging"]
    assert [t.name for t in load_probe_dataset(path, tasks="parsing").tasks] == ["parsing"]
    err = error_of(path, tasks=["pos_tagging", "ner"])
    assert "'ner'" in str(err) and "pos_tagging, parsing, sentiment" in str(err)
    assert "selected twice" in str(error_of(path, tasks=["parsing", "parsing"]))


def test_suite_task_without_level_takes_the_level_argument(tmp_path):
    task = {"name": "s", "examples": SENT["examples"]}
    path = write(tmp_path / "suite.json", suite_lines([task]))
    err = error_of(path)
    assert err.line == 3 and "missing 'level'" in str(err)
    assert load_probe_dataset(path, level="sentence").tasks[0].level == ppb.PROBE_LEVEL_SENTENCE


def test_suite_bias(tmp_path):
    bias = {"protected_task": "gender", "pairs": [{"original": "He is a nurse.", "counterfactual": "She is a nurse."}]}
    path = write(tmp_path / "c.json", suite_lines([GENDER, SENT], bias))
    ds = load_probe_dataset(path)
    assert ds.bias.protected_task == "gender"
    [pair] = ds.bias.pairs
    assert (pair.original, pair.counterfactual, pair.source) == ("He is a nurse.", "She is a nurse.", "c.json:12")
    # Without its protected task the bias analysis is dropped, not an error.
    assert load_probe_dataset(path, tasks=["sentiment"]).bias is None
    assert load_probe_dataset(path, tasks=["sentiment", "gender"]).bias is not None


@pytest.mark.parametrize(
    ("bias", "message"),
    [
        ({"protected_task": "gender", "pairs": [{"original": "He is a nurse."}]}, "bias pair 1: missing 'counterfactual'"),
        (
            {"protected_task": "gender", "pairs": [{"counterfactual": "x", "original": " "}]},
            "bias pair 1: 'original' must be a non-empty",
        ),
        ({"protected_task": "age", "pairs": []}, "protected task 'age' is not a task of the file (tasks: gender, sentiment)"),
        ({"pairs": []}, "missing 'protected_task'"),
        ({"protected_task": "gender", "pairs": {}}, "'pairs' must be a list"),
        ([], "'bias' must be an object"),
    ],
)
def test_suite_bias_errors(tmp_path, bias, message):
    path = write(tmp_path / "c.json", suite_lines([GENDER, SENT], bias))
    err = error_of(path)
    assert message in str(err)
    assert err.path == str(path) and (err.line == 12 or "'bias' must be" in message)


def test_suite_bias_protected_task_must_be_sentence_level(tmp_path):
    path = write(tmp_path / "c.json", suite_lines([POS, GENDER], {"protected_task": "pos_tagging", "pairs": []}))
    assert "'pos_tagging' is token-level; it must be sentence-level" in str(error_of(path))


def with_example(task: dict, example: dict, index: int = 2) -> dict:
    """``task`` with ``example`` inserted as its ``index``-th (1-based) example."""
    examples = list(task["examples"])
    examples.insert(index - 1, example)
    return dict(task, examples=examples)


@pytest.mark.parametrize(
    ("task", "example", "message"),
    [
        (POS, {"words": ["a", "b", "c", "d", "e"], "labels": ["X", "Y", "Z", "W"]}, "5 words but 4 labels"),
        (POS, {"words": ["a"]}, "missing 'labels' (one per word)"),
        (POS, {"text": "a b", "labels": ["X", "Y"]}, "missing 'words'"),
        (POS, {"words": [], "labels": []}, "'words' is empty"),
        (POS, {"words": ["a", ""], "labels": ["X", "Y"]}, "word 2 must be a non-empty string, got empty"),
        (POS, {"words": ["a", 3], "labels": ["X", "Y"]}, "word 2 must be a non-empty string, got a number"),
        (POS, {"words": "a b", "labels": ["X", "Y"]}, "'words' must be a list, got a string"),
        (POS, {"text": "b a", "words": ["a", "b"], "labels": ["X", "Y"]}, "word 2 ('b') does not occur in the text after word 1"),
        (POS, {"words": ["a", "b"], "labels": ["X", None]}, "label 2 must be a string, got null"),
        (PARSE, {"words": ["a", "b"], "heads": [0]}, "2 words but 1 heads"),
        (PARSE, {"words": ["a", "b"], "heads": [0, "1"]}, "head 2 is '1', not an integer"),
        (PARSE, {"words": ["a", "b"], "heads": [0, 1.0]}, "head 2 is 1.0, not an integer"),
        (PARSE, {"words": ["a", "b"], "heads": [0, True]}, "head 2 is True, not an integer"),
        (PARSE, {"words": ["a", "b"], "heads": [0, 0]}, "2 roots: words 1, 2 have head 0"),
        (PARSE, {"words": ["a", "b", "c"], "heads": [2, 1, 2]}, "no root"),
        (PARSE, {"words": ["a", "b", "c"], "heads": [0, 3, 2]}, "cycle: words 2, 3"),
        (PARSE, {"words": ["a", "b"], "heads": [0, 5]}, "head of word 2 is 5, outside 0..2"),
        (PARSE, {"words": ["a", "b"], "heads": [0, 2]}, "word 2 is its own head"),
        (PARSE, {"words": ["a", "b"]}, "missing 'heads'"),
        (SENT, {"text": "   ", "label": "positive"}, "'text' is empty"),
        (SENT, {"text": 5, "label": "positive"}, "'text' must be a string, got a number"),
        (SENT, {"label": "positive"}, "missing 'text'"),
        (SENT, {"text": "Fine."}, "missing 'label'"),
        (SENT, {"text": "Fine.", "label": ""}, "'label' is empty"),
        (SENT, {"text": "Fine.", "label": ["a"]}, "'label' must be a string, got an array"),
        (SENT, {"text": "Fine.", "label": "positive", "group": [1]}, "'group' must be a string"),
    ],
)
def test_suite_example_errors_name_file_line_task_and_example(tmp_path, task, example, message):
    path = write(tmp_path / "suite.json", suite_lines([with_example(task, example, 2)]))
    err = error_of(path)
    assert err.path == str(path) and err.line == 5, str(err)
    assert str(err).startswith(f"{path}:5: example 2 of task {task['name']!r}: ")
    assert message in str(err)


def test_suite_example_that_is_not_an_object(tmp_path):
    """Only objects know their line: a string example is reported at its task's line."""
    path = write(tmp_path / "suite.json", suite_lines([with_example(SENT, "just a string", 2)]))
    err = error_of(path)
    assert str(err) == f"{path}:3: example 2 of task 'sentiment': expected a JSON object, got a string"


def test_suite_error_message_format(tmp_path):
    bad = {"words": ["a", "b", "c", "d", "e"], "labels": ["X", "Y", "Z", "W"]}
    path = write(tmp_path / "suite.json", suite_lines([with_example(POS, bad, 3)]))
    assert str(error_of(path)) == f"{path}:6: example 3 of task 'pos_tagging': 5 words but 4 labels"


def test_suite_task_errors(tmp_path):
    cases = [
        ([dict(POS, level="phrase")], "task 'pos_tagging': unknown level 'phrase' (levels: token, sentence, depth, distance)"),
        ([dict(POS, level=3)], "unknown level a number"),
        ([dict(SENT, examples=[])], "task 'sentiment' has no examples"),
        (
            [dict(SENT, examples=[{"text": "a", "label": "x"}, {"text": "b", "label": "x"}])],
            "task 'sentiment' has a single class ('x')",
        ),
        ([dict(POS, examples=[{"words": ["a"], "labels": ["X"]}])], "single class ('X')"),
        ([SENT, SENT], "duplicate task name 'sentiment'"),
        ([{"level": "token", "examples": []}], "task 1: missing 'name'"),
    ]
    for tasks, message in cases:
        path = write(tmp_path / "suite.json", suite_lines(tasks))
        err = error_of(path)
        assert message in str(err), (message, str(err))
        assert err.line >= 3, str(err)  # the task's line


def test_single_class_is_checked_on_selected_tasks_only(tmp_path):
    one_class = dict(SENT, name="one", examples=[{"text": "a", "label": "x"}])
    path = write(tmp_path / "suite.json", suite_lines([one_class, GENDER]))
    assert load_probe_dataset(path, tasks=["gender"]).tasks[0].name == "gender"
    assert "single class" in str(error_of(path))


def test_suite_document_errors(tmp_path):
    bad_json = write(tmp_path / "bad.json", '{"tasks": [\n  {"name": "x",\n   "level": "token" "examples": []}\n]}\n')
    err = error_of(bad_json)
    assert err.line == 3 and "invalid JSON: Expecting ',' delimiter" in str(err)
    err = error_of(write(tmp_path / "notasks.json", '{"name": "x"}'))
    assert "expected a suite object with a 'tasks' list (keys: 'name')" in str(err)
    assert "'tasks' must be a non-empty list" in str(error_of(write(tmp_path / "empty.json", '{"tasks": []}')))
    assert "got a number" in str(error_of(write(tmp_path / "num.json", "42")))
    err = error_of(write(tmp_path / "utf.json", b'{"tasks": [\n\xff]}'))
    assert err.line == 2 and "invalid UTF-8" in str(err)
    err = error_of(write(tmp_path / "noexamples.json", '{"tasks": [\n{"name": "s", "level": "sentence", "examples": {}}]}'))
    assert err.line == 2 and "task 's': missing 'examples' (a list), got an object" in str(err)
    suite = write(tmp_path / "suite.json", suite_lines([SENT]))
    assert "task_name applies to a single-task file" in str(error_of(suite, task_name="x"))
    assert "unknown level 'paragraph'" in str(error_of(suite, level="paragraph"))


def test_missing_file_and_unsupported_suffix(tmp_path):
    err = error_of(tmp_path / "nope.json")
    assert "cannot read" in str(err)
    err = error_of(write(tmp_path / "data.txt", "a\n"))
    assert "unsupported probe dataset 'data.txt'" in str(err) and ".conllu" in str(err)


def test_bom_is_accepted(tmp_path):
    path = write(tmp_path / "suite.json", b"\xef\xbb\xbf" + suite_lines([SENT]).encode())
    assert load_probe_dataset(path).tasks[0].examples[0].source == "suite.json:4"


# -- a plain JSON list ---------------------------------------------------------------------------


def test_json_list_is_one_task(tmp_path):
    path = write(tmp_path / "reviews.json", "[\n" + ",\n".join(json.dumps(e) for e in SENT["examples"]) + "\n]\n")
    [task] = load_probe_dataset(path).tasks
    assert (task.name, task.level) == ("reviews", ppb.PROBE_LEVEL_SENTENCE)
    assert [e.source for e in task.examples] == ["reviews.json:2", "reviews.json:3"]
    [task] = load_probe_dataset(path, task_name="sentiment").tasks
    assert task.name == "sentiment"
    pos = write(tmp_path / "pos.json", json.dumps(POS["examples"]))
    [task] = load_probe_dataset(pos, level="token", task_name="pos").tasks
    assert (task.name, task.level, len(task.examples)) == ("pos", ppb.PROBE_LEVEL_TOKEN, 2)
    err = error_of(pos)  # sentence-level by default: these have no label
    assert str(err) == f"{pos}:1: example 1: missing 'label' (the label)"


def test_sentence_example_with_words_only_joins_them(tmp_path):
    path = write(tmp_path / "s.json", json.dumps([{"words": ["Good", "film"], "label": "p"}, {"text": "Bad.", "label": "n"}]))
    first = load_probe_dataset(path).tasks[0].examples[0]
    assert (first.text, list(first.words), first.label) == ("Good film", ["Good", "film"], "p")


def test_json_list_custom_fields(tmp_path):
    path = write(tmp_path / "r.json", json.dumps([{"review": "Good.", "stars": 5}, {"review": "Bad.", "stars": 1}]))
    [task] = load_probe_dataset(path, text_field="review", label_field="stars").tasks
    assert [(e.text, e.label) for e in task.examples] == [("Good.", "5"), ("Bad.", "1")]


# -- JSONL ---------------------------------------------------------------------------------------


def test_jsonl_tasks_levels_and_lines(tmp_path):
    lines = [
        json.dumps({"task": "pos", "level": "token", "words": ["Dogs", "bark"], "labels": ["NOUN", "VERB"]}),
        "",
        json.dumps({"text": "Good.", "label": "pos"}),
        json.dumps({"task": "pos", "words": ["Cats", "sleep"], "labels": ["NOUN", "VERB"], "group": "s2"}),
        "   ",
        json.dumps({"text": "Bad.", "label": "neg"}),
        json.dumps({"task": "tree", "level": "depth", "words": ["Cats", "sleep"], "heads": [2, 0]}),
    ]
    path = write(tmp_path / "mixed.jsonl", "\n".join(lines) + "\n")
    ds = load_probe_dataset(path)
    assert [(t.name, level_name(t.level)) for t in ds.tasks] == [("pos", "token"), ("mixed", "sentence"), ("tree", "depth")]
    assert [e.source for e in ds.tasks[0].examples] == ["mixed.jsonl:1", "mixed.jsonl:4"]
    assert ds.tasks[0].examples[1].group == "s2"
    assert [e.source for e in ds.tasks[1].examples] == ["mixed.jsonl:3", "mixed.jsonl:6"]
    assert load_probe_dataset(path, task_name="reviews").tasks[1].name == "reviews"
    assert [t.name for t in load_probe_dataset(path, tasks=["tree"]).tasks] == ["tree"]


def test_jsonl_default_level_from_argument(tmp_path):
    path = write(tmp_path / "pos.ndjson", "\n".join(json.dumps(e) for e in POS["examples"]) + "\n")
    [task] = load_probe_dataset(path, level="token").tasks
    assert (task.name, task.level) == ("pos", ppb.PROBE_LEVEL_TOKEN)


def test_jsonl_errors(tmp_path):
    ok = json.dumps({"text": "Good.", "label": "pos"})
    cases = [
        ([ok, "{not json"], 2, "invalid JSON: Expecting property name"),
        ([ok, "[1, 2]"], 2, "expected a JSON object, got an array"),
        ([ok, json.dumps({"text": "Bad."})], 2, "example 2 of task 'e': missing 'label'"),
        (
            [ok, json.dumps({"text": "Bad.", "label": "n", "level": "token"})],
            2,
            "task 'e' is sentence-level (line 1) but this line says 'token'",
        ),
        ([ok, json.dumps({"text": "Bad.", "label": "n", "level": "x"})], 2, "unknown level 'x'"),
        ([ok, json.dumps({"text": "Bad.", "label": "n", "task": ""})], 2, "'task' must be a non-empty string"),
        ([ok, "", json.dumps({"words": ["a", "b"], "heads": [0, 0], "task": "t", "level": "distance"})], 3, "2 roots"),
    ]
    for lines, line, message in cases:
        path = write(tmp_path / "e.jsonl", "\n".join(lines) + "\n")
        err = error_of(path)
        assert (err.line, err.path) == (line, str(path)) and message in str(err), str(err)
    assert "no examples" in str(error_of(write(tmp_path / "blank.jsonl", "\n\n")))


# -- CSV -----------------------------------------------------------------------------------------


def test_csv_rows_tasks_groups_and_lines(tmp_path):
    text = 'text,label,task,group\nGood film.,positive,,a\n\n"Bad,\nvery bad.",negative,,\nShe sings.,female,gender,\nHe sings.,male,gender,g\n'
    path = write(tmp_path / "reviews.csv", text)
    ds = load_probe_dataset(path)
    assert [t.name for t in ds.tasks] == ["reviews", "gender"]
    reviews, gender = ds.tasks
    assert [(e.text, e.label, e.group, e.source) for e in reviews.examples] == [
        ("Good film.", "positive", "a", "reviews.csv:2"),
        ("Bad,\nvery bad.", "negative", "", "reviews.csv:4"),
    ]
    assert [e.source for e in gender.examples] == ["reviews.csv:6", "reviews.csv:7"]
    assert all(t.level == ppb.PROBE_LEVEL_SENTENCE for t in ds.tasks)
    assert load_probe_dataset(path, task_name="films").tasks[0].name == "films"


def test_csv_custom_columns(tmp_path):
    path = write(tmp_path / "r.csv", "id,review,stars\n1,Good.,5\n2,Bad.,1\n")
    [task] = load_probe_dataset(path, text_field="review", label_field="stars").tasks
    assert [(e.text, e.label) for e in task.examples] == [("Good.", "5"), ("Bad.", "1")]


def test_csv_errors(tmp_path):
    cases = [
        ("sentence,label\na,b\n", 1, "no column 'text' in the header (columns: sentence, label)"),
        ("text,label\nGood.,positive\nBad.\n", 3, "1 fields, but the header has 2"),
        ("text,label\nGood.,positive\nBad.,\n", 3, "example 2 of task 'e': 'label' is empty"),
        ("text,label\nGood.,positive\n ,negative\n", 3, "'text' is empty"),
        ("text,label\nGood.,positive\nBad.,positive\n", 0, "single class"),
    ]
    for text, line, message in cases:
        path = write(tmp_path / "e.csv", text)
        err = error_of(path)
        assert message in str(err), str(err)
        assert err.line == line or (line == 0 and err.line == 2)
    assert "empty CSV file" in str(error_of(write(tmp_path / "empty.csv", "\n")))
    ok = write(tmp_path / "ok.csv", "text,label\na,x\nb,y\n")
    assert "sentence-level tasks only" in str(error_of(ok, level="token"))
    assert load_probe_dataset(ok, level="sentence").tasks[0].name == "ok"


# -- CoNLL-U -------------------------------------------------------------------------------------

CONLLU = """\
# newdoc id = d1
# sent_id = s1
# text = The cat sleeps.
1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_
2\tcat\tcat\tNOUN\tNN\t_\t3\tnsubj\t_\t_
3\tsleeps\tsleep\tVERB\tVBZ\t_\t0\troot\t_\tSpaceAfter=No
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

# sent_id = s2
# text = Il va au marché.
1\tIl\til\tPRON\t_\t_\t2\tnsubj\t_\t_
2\tva\taller\tVERB\t_\t_\t0\troot\t_\t_
3-4\tau\t_\t_\t_\t_\t_\t_\t_\t_
3\tà\tà\tADP\t_\t_\t5\tcase\t_\t_
4\tle\tle\tDET\t_\t_\t5\tdet\t_\t_
5\tmarché\tmarché\tNOUN\t_\t_\t2\tobl\t_\tSpaceAfter=No
6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t_\t_

# sent_id = s3
1\tDogs\tdog\tNOUN\t_\t_\t2\tnsubj\t_\t_
1.1\tdo\tdo\tAUX\t_\t_\t_\t_\t2:aux\t_
2\tbark\tbark\tVERB\t_\t_\t0\troot\t_\t_
"""


def test_conllu_tasks(tmp_path):
    path = write(tmp_path / "tb.conllu", CONLLU)
    ds = load_probe_dataset(path)
    assert [(t.name, level_name(t.level)) for t in ds.tasks] == [
        ("pos_tagging", "token"),
        ("parsing", "distance"),
        ("depth", "depth"),
    ]
    pos, parsing, depth = ds.tasks
    assert [list(e.words) for e in pos.examples] == [
        ["The", "cat", "sleeps", "."],
        ["Il", "va", "à", "le", "marché", "."],
        ["Dogs", "bark"],
    ]
    assert list(pos.examples[0].word_labels) == ["DET", "NOUN", "VERB", "PUNCT"]
    assert list(parsing.examples[1].heads) == [2, 0, 5, 5, 2, 2] and list(depth.examples[2].heads) == [2, 0]
    # The text when the words occur in it; a multiword token ("au" = "à le") keeps only the words.
    assert [e.text for e in pos.examples] == ["The cat sleeps.", "", ""]
    assert [e.group for e in parsing.examples] == ["s1", "s2", "s3"]
    assert [e.source for e in depth.examples] == ["tb.conllu:1", "tb.conllu:9", "tb.conllu:19"]


def test_conllu_selection_by_name_and_level(tmp_path):
    path = write(tmp_path / "tb.conll", CONLLU)
    assert [t.name for t in load_probe_dataset(path, level="distance").tasks] == ["parsing"]
    assert [t.name for t in load_probe_dataset(path, tasks=["depth", "pos_tagging"]).tasks] == ["depth", "pos_tagging"]
    assert "no CoNLL-U task is sentence-level" in str(error_of(path, level="sentence"))
    assert "task_name does not apply to CoNLL-U" in str(error_of(path, task_name="x"))
    assert "no task 'ner' in tb.conll (its tasks: pos_tagging, parsing, depth)" in str(error_of(path, tasks=["ner"]))


def test_conllu_errors(tmp_path):
    good = "1\tA\ta\tDET\t_\t_\t2\tdet\t_\t_\n2\tb\tb\tNOUN\t_\t_\t0\troot\t_\t_\n"
    cases = [
        (good + "\n1\tA\ta\tDET\t_\t_\t2\tdet\t_\n", 4, "needs 10 TAB-separated columns, found 9"),
        (good + "\nx\tA\ta\tDET\t_\t_\t2\tdet\t_\t_\n", 4, "ID 'x' is not an integer"),
        (good + "\n1\tA\ta\tDET\t_\t_\t_\tdet\t_\t_\n", 4, "HEAD '_' of word 1 is not an integer"),
        (good + "\n2\tA\ta\tDET\t_\t_\t0\tdet\t_\t_\n", 4, "ID 2 out of sequence: expected 1"),
        (good + "\n1\tA\ta\tDET\t_\t_\t2\tdet\t_\t_\n2\tb\tb\tNOUN\t_\t_\t1\troot\t_\t_\n", 4, "no root"),
        (
            good + "\n# text = A c\n1\tA\ta\tDET\t_\t_\t2\tdet\t_\t_\n2\tb\tb\tNOUN\t_\t_\t0\troot\t_\t_\n",
            4,
            "word 2 ('b') does not occur",
        ),
        (good + "\n1\tA\ta\t_\t_\t_\t2\tdet\t_\t_\n2\tb\tb\tNOUN\t_\t_\t0\troot\t_\t_\n", 4, "word 1 has no UPOS"),
    ]
    for text, line, message in cases:
        path = write(tmp_path / "e.conllu", text)
        err = error_of(path)
        assert message in str(err), str(err)
        assert err.line == line, str(err)
    assert "no sentences" in str(error_of(write(tmp_path / "empty.conllu", "# just a comment\n\n")))
    # An unannotated UPOS column only matters to the pos_tagging task.
    path = write(tmp_path / "noupos.conllu", good + "\n1\tA\ta\t_\t_\t_\t2\tdet\t_\t_\n2\tb\tb\t_\t_\t_\t0\troot\t_\t_\n")
    assert [t.name for t in load_probe_dataset(path, tasks=["parsing"]).tasks] == ["parsing"]


# -- parallel sentences --------------------------------------------------------------------------

PARALLEL = [
    {"en": "The cat sleeps.", "fr": "Le chat dort.", "de": "Die Katze schläft."},
    {"en": "I eat bread.", "fr": "Je mange du pain.", "de": "Ich esse Brot."},
    {"en": "It rains.", "fr": "Il pleut.", "de": "Es regnet."},
    {"en": "We sing.", "fr": "Nous chantons.", "de": "Wir singen."},
]


def parallel_file(tmp_path: Path, entries: list, languages: list | None = None, name: str = "par.json") -> Path:
    lines = ["{"]
    if languages is not None:
        lines.append(f'"languages": {json.dumps(languages)},')
    lines.append('"sentences": [')
    lines += [json.dumps(e, ensure_ascii=False) + ("," if i < len(entries) - 1 else "") for i, e in enumerate(entries)]
    lines += ["]", "}"]
    return write(tmp_path / name, "\n".join(lines) + "\n")


def test_parallel_formats(tmp_path):
    expected = {lang: [e[lang] for e in PARALLEL] for lang in ("en", "fr", "de")}
    assert load_parallel_sentences(parallel_file(tmp_path, PARALLEL, ["en", "fr", "de"])) == expected
    assert load_parallel_sentences(parallel_file(tmp_path, PARALLEL)) == expected
    assert load_parallel_sentences(write(tmp_path / "cols.json", json.dumps(expected))) == expected
    assert load_parallel_sentences(write(tmp_path / "list.json", json.dumps(PARALLEL))) == expected
    jsonl = write(
        tmp_path / "par.jsonl",
        "\n".join(json.dumps(e) for e in PARALLEL[:2]) + "\n\n" + "\n".join(json.dumps(e) for e in PARALLEL[2:]),
    )
    assert load_parallel_sentences(jsonl) == expected
    selected = load_parallel_sentences(jsonl, languages=["de", "en"])
    assert list(selected) == ["de", "en"] and selected["de"][0] == "Die Katze schläft."


def test_parallel_errors(tmp_path):
    missing = [dict(e) for e in PARALLEL]
    del missing[2]["fr"]
    err = pytest.raises(DatasetError, load_parallel_sentences, parallel_file(tmp_path, missing, ["en", "fr", "de"])).value
    assert err.line == 6 and "sentence 3: missing language 'fr' (languages: en, fr, de)" in str(err)
    err = pytest.raises(DatasetError, load_parallel_sentences, parallel_file(tmp_path, missing)).value
    assert err.line == 5 and "sentence 3: missing language 'fr'" in str(err)
    jsonl = write(tmp_path / "p.jsonl", "\n".join(json.dumps(e) for e in missing) + "\n")
    err = pytest.raises(DatasetError, load_parallel_sentences, jsonl).value
    assert err.line == 3 and "missing language 'fr'" in str(err)
    extra = [dict(e) for e in PARALLEL]
    extra[1]["it"] = "Mangio pane."
    err = pytest.raises(DatasetError, load_parallel_sentences, parallel_file(tmp_path, extra, ["en", "fr", "de"])).value
    assert "language 'it' is not among the declared languages" in str(err)
    empty = [dict(e) for e in PARALLEL]
    empty[0]["de"] = " "
    assert "the 'de' text must be a non-empty string, got empty" in str(
        pytest.raises(DatasetError, load_parallel_sentences, parallel_file(tmp_path, empty)).value
    )
    ok = parallel_file(tmp_path, PARALLEL)
    err = pytest.raises(DatasetError, load_parallel_sentences, ok, languages=["en", "es"]).value
    assert "no language 'es' in par.json (languages: en, fr, de)" in str(err)
    assert "at least 2 languages" in str(pytest.raises(DatasetError, load_parallel_sentences, ok, languages=["en"]).value)
    few = parallel_file(tmp_path, PARALLEL[:3], name="few.json")
    assert "at least 4 parallel sentences, got 3" in str(pytest.raises(DatasetError, load_parallel_sentences, few).value)
    uneven = write(tmp_path / "cols.json", json.dumps({"en": ["a", "b", "c", "d"], "fr": ["a", "b", "c"]}))
    assert "different numbers of sentences (en: 4, fr: 3)" in str(
        pytest.raises(DatasetError, load_parallel_sentences, uneven).value
    )
    bad = write(tmp_path / "bad.json", '{"sentences": [\n{"en": "a",}\n]}')
    err = pytest.raises(DatasetError, load_parallel_sentences, bad).value
    assert err.line == 2 and "invalid JSON" in str(err)
    assert "unsupported" in str(pytest.raises(DatasetError, load_parallel_sentences, write(tmp_path / "p.txt", "a")).value)


# -- the shipped example data --------------------------------------------------------------------


def load_generator():
    spec = importlib.util.spec_from_file_location("probing_make_datasets", EXAMPLES / "make_datasets.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator():
    return load_generator()


def test_shipped_suite_loads():
    ds = load_probe_dataset(SUITE)
    assert [(t.name, level_name(t.level), len(t.examples)) for t in ds.tasks] == [
        ("pos_tagging", "token", 400),
        ("parsing", "distance", 400),
        ("sentiment", "sentence", 300),
    ]
    pos, parsing, sentiment = ds.tasks
    assert [list(e.words) for e in pos.examples] == [list(e.words) for e in parsing.examples]
    assert len({e.group for e in pos.examples}) == 400  # one group per sentence
    lines = SUITE.read_text(encoding="utf-8").split("\n")
    for task in ds.tasks:
        for example in task.examples[::37]:
            name, line = example.source.split(":")
            assert name == SUITE.name and json.loads(lines[int(line) - 1].strip().rstrip(","))["group"] == example.group
    labels = [e.label for e in sentiment.examples]
    assert labels.count("positive") == labels.count("negative") == 150
    negation = re.compile(r"\b(not|no|never|nothing|none|nobody|neither|nor|hardly|without)\b|n't", re.IGNORECASE)
    assert not [e.text for e in sentiment.examples if negation.search(e.text)]


def tree_is_valid(heads: list[int]) -> bool:
    if heads.count(0) != 1:
        return False
    for start in range(1, len(heads) + 1):
        seen, node = set(), start
        while node != 0:
            if node in seen or not 1 <= node <= len(heads):
                return False
            seen.add(node)
            node = heads[node - 1]
    return True


def test_shipped_trees_are_valid():
    parsing = load_probe_dataset(SUITE, tasks=["parsing"]).tasks[0]
    for example in parsing.examples:
        heads = list(example.heads)
        assert len(heads) == len(example.words) and tree_is_valid(heads), example.source
    assert not tree_is_valid([0, 0]) and not tree_is_valid([2, 1, 0]) and tree_is_valid([2, 0, 2])


def test_shipped_pos_has_ambiguous_word_forms():
    pos = load_probe_dataset(SUITE, tasks=["pos_tagging"]).tasks[0]
    tags: dict[str, set[str]] = {}
    for example in pos.examples:
        for word, tag in zip(example.words, example.word_labels, strict=True):
            tags.setdefault(word, set()).add(tag)
    ambiguous = {word for word, seen in tags.items() if len(seen) > 1}
    assert len(ambiguous) >= 20
    assert {"book", "watch", "light", "play", "walk"} <= ambiguous
    assert tags["light"] >= {"NOUN", "VERB", "ADJ"} and tags["to"] == {"ADP", "PART"}
    universal = {
        "ADJ",
        "ADP",
        "ADV",
        "AUX",
        "CCONJ",
        "DET",
        "INTJ",
        "NOUN",
        "NUM",
        "PART",
        "PRON",
        "PROPN",
        "PUNCT",
        "SCONJ",
        "SYM",
        "VERB",
        "X",
    }
    assert set().union(*tags.values()) <= universal
    with_ambiguous = sum(any(w in ambiguous for w in e.words) for e in pos.examples)
    assert with_ambiguous > len(pos.examples) // 2


def test_shipped_concepts_and_counterfactual_pairs(generator):
    ds = load_probe_dataset(CONCEPTS)
    counts = {t.name: {} for t in ds.tasks}
    for task in ds.tasks:
        for example in task.examples:
            counts[task.name][example.label] = counts[task.name].get(example.label, 0) + 1
    assert counts["gender"] == {"female": 100, "male": 100}
    assert counts["profession"] == dict.fromkeys(
        ["chef", "doctor", "engineer", "farmer", "lawyer", "nurse", "pilot", "teacher"], 25
    )
    assert counts["emotion"] == dict.fromkeys(["joy", "anger", "sadness", "fear"], 50)
    assert ds.bias.protected_task == "gender" and len(ds.bias.pairs) == 80
    swaps = {frozenset(pair) for pair in generator.gendered_word_pairs()}
    for pair in ds.bias.pairs:
        original, counterfactual = pair.original.split(), pair.counterfactual.split()
        assert len(original) == len(counterfactual), pair
        changed = [(a, b) for a, b in zip(original, counterfactual, strict=True) if a != b]
        assert changed, pair
        for a, b in changed:  # "Mr."/"Ms." keep their full stop; "he."/"she." lose it
            assert {a, b} in swaps or {a.rstrip(".,"), b.rstrip(".,")} in swaps, (pair.source, changed)
    # Every profession has 10 pairs, half of them with a male original.
    male = {w for m, _ in generator.gendered_word_pairs() for w in [m]}
    for profession in counts["profession"]:
        pairs = [p for p in ds.bias.pairs if profession in p.original]
        assert len(pairs) == 10
        assert sum(any(w in male or w.rstrip(".,") in male for w in p.original.split()) for p in pairs) == 5


def test_shipped_parallel_and_comparison_sentences():
    parallel = load_parallel_sentences(MULTILINGUAL)
    assert list(parallel) == ["en", "fr", "es", "de"] and all(len(texts) == 44 for texts in parallel.values())
    assert parallel["fr"][0] == "Le chat dort sur le canapé."
    comparison = load_texts(COMPARISON, strict=True)
    assert len(comparison) == 150 and len(set(comparison.texts)) == 150 and all(label is None for label in comparison.labels)


def test_generator_is_deterministic_and_matches_the_shipped_files(tmp_path, generator):
    written = generator.write_all(tmp_path)
    assert sorted(p.name for p in written) == sorted(generator.FILES)
    for path in written:
        assert path.read_bytes() == (EXAMPLES / path.name).read_bytes(), (
            f"{path.name} differs: run python examples/probing/make_datasets.py"
        )
    again = load_generator().write_all(tmp_path / "again")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]


def test_generator_uses_the_standard_library_only():
    tree = ast.parse((EXAMPLES / "make_datasets.py").read_text(encoding="utf-8"))
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}


def test_levels_table():
    assert LEVELS == {"token": 1, "sentence": 2, "depth": 3, "distance": 4}
    assert [level_name(v) for v in (0, 1, 2, 3, 4)] == ["unspecified", "token", "sentence", "depth", "distance"]


def test_the_packaged_suite_is_the_example_file_and_found_by_name(tmp_path, monkeypatch):
    """probe-linguistic's ``--probe-dataset linguistic_probing_suite.json`` works from any
    directory: the packaged copy, byte for byte the example file; a file of that name in the
    working directory still wins."""
    from interpretability.probing_commands import BUILTIN_SUITE, _suite_path

    root = Path(__file__).resolve().parents[1]
    assert BUILTIN_SUITE.read_bytes() == (root / "examples" / "probing" / "linguistic_probing_suite.json").read_bytes()
    monkeypatch.chdir(tmp_path)
    assert _suite_path("linguistic_probing_suite.json") == str(BUILTIN_SUITE)
    assert _suite_path("other.json") == "other.json"
    (tmp_path / "linguistic_probing_suite.json").write_text("[]")
    assert _suite_path("linguistic_probing_suite.json") == "linguistic_probing_suite.json"


def test_the_packaged_concept_set_is_the_example_file():
    """probe-concepts' built-in data (inside the client package) is examples/probing/concepts.json."""
    from interpretability.probing_commands import BUILTIN_CONCEPTS

    root = Path(__file__).resolve().parents[1]
    assert BUILTIN_CONCEPTS.read_bytes() == (root / "examples" / "probing" / "concepts.json").read_bytes()
