"""Tests of ``interpretability.circuit_tasks`` (the circuit-task loader and its errors, each
naming file, line and pair), of the tasks shipped in ``examples/circuits`` and inside the client
package, and -- with the packaged SmolLM2-135M -- that the shipped pairs still do what they
claim and that ``make_tasks.py`` still writes them."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from interpretability.circuit_tasks import (
    BUILTIN_TASKS,
    METRICS,
    CircuitTask,
    PromptPair,
    builtin_task_path,
    load_circuit_task,
)
from interpretability.datasets import DatasetError
from tests.support.files import write

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "circuits"
SDK_MODULE = ROOT / "clients" / "python" / "interpretability" / "circuit_tasks.py"

GOOD_PAIR = {
    "clean": "When Mary and John went to the store, John gave a drink to",
    "corrupted": "When Alice and Bob went to the store, Tom gave a drink to",
    "answer": " Mary",
    "wrong_answer": " John",
}
FACT_PAIR = {
    "clean": "The Eiffel Tower is located in the city of",
    "corrupted": "The Colosseum is located in the city of",
    "answer": " Paris",
    "wrong_answer": " Rome",
    "subject": "Eiffel Tower",
}


def task_lines(pairs: list, *, metric: object = "logit_difference", **head) -> str:
    """A task file with one pair per line: line 1 "{", line 2 the header, line 3 '"pairs": [',
    pair k (1-based) on line 3 + k."""
    header = {"name": "t", "description": "d", "metric": metric, **head}
    header = {k: v for k, v in header.items() if v is not None}
    lines = ["{", json.dumps(header)[1:-1] + ",", '"pairs": [']
    lines += [json.dumps(p) + ("," if i < len(pairs) - 1 else "") for i, p in enumerate(pairs)]
    return "\n".join(lines + ["]", "}"]) + "\n"


# -- the loader ----------------------------------------------------------------------------------


def test_loads_a_good_file(tmp_path):
    path = write(tmp_path / "t.json", task_lines([GOOD_PAIR, FACT_PAIR]))
    task = load_circuit_task(path)
    assert task == CircuitTask(
        name="t",
        metric="logit_difference",
        description="d",
        pairs=(
            PromptPair(GOOD_PAIR["clean"], GOOD_PAIR["corrupted"], " Mary", " John"),
            PromptPair(FACT_PAIR["clean"], FACT_PAIR["corrupted"], " Paris", " Rome", "Eiffel Tower"),
        ),
    )
    assert load_circuit_task(str(path)) == task


@pytest.mark.parametrize("metric", METRICS)
def test_every_metric_loads_and_only_logit_difference_needs_a_wrong_answer(tmp_path, metric):
    pair = {k: v for k, v in GOOD_PAIR.items() if k != "wrong_answer"}
    path = write(tmp_path / "t.json", task_lines([pair], metric=metric))
    if metric == "logit_difference":
        with pytest.raises(DatasetError, match=r"pair 1: missing 'wrong_answer'"):
            load_circuit_task(path)
    else:
        task = load_circuit_task(path)
        assert task.metric == metric and task.pairs[0].wrong_answer == "" and task.pairs[0].subject == ""


def test_description_is_optional_and_other_top_level_keys_are_ignored(tmp_path):
    path = write(tmp_path / "t.json", task_lines([GOOD_PAIR], description=None, provenance="somewhere", version=2))
    task = load_circuit_task(path)
    assert task.description == "" and len(task.pairs) == 1


def _without(pair: dict, key: str) -> dict:
    return {k: v for k, v in pair.items() if k != key}


# (pairs, expected message): the bad pair is the second one, on line 5.
BAD_PAIRS = {
    "missing clean": ([GOOD_PAIR, _without(GOOD_PAIR, "clean")], "pair 2: missing 'clean'"),
    "missing corrupted": ([GOOD_PAIR, _without(GOOD_PAIR, "corrupted")], "pair 2: missing 'corrupted'"),
    "missing answer": ([GOOD_PAIR, _without(GOOD_PAIR, "answer")], "pair 2: missing 'answer'"),
    "empty clean": ([GOOD_PAIR, {**GOOD_PAIR, "clean": ""}], "pair 2: 'clean' is empty"),
    "blank answer": ([GOOD_PAIR, {**GOOD_PAIR, "answer": "  "}], "pair 2: 'answer' is empty"),
    "empty wrong answer": ([GOOD_PAIR, {**GOOD_PAIR, "wrong_answer": ""}], "pair 2: 'wrong_answer' is empty"),
    "number answer": ([GOOD_PAIR, {**GOOD_PAIR, "answer": 7}], "pair 2: 'answer' must be a string, got a number"),
    "null corrupted": ([GOOD_PAIR, {**GOOD_PAIR, "corrupted": None}], "pair 2: 'corrupted' must be a string, got null"),
    "list subject": ([GOOD_PAIR, {**FACT_PAIR, "subject": ["Eiffel"]}], "pair 2: 'subject' must be a string, got an array"),
    "no wrong answer": (
        [GOOD_PAIR, _without(GOOD_PAIR, "wrong_answer")],
        "pair 2: missing 'wrong_answer' (metric 'logit_difference'",
    ),
    "wrong answer is the answer": ([GOOD_PAIR, {**GOOD_PAIR, "wrong_answer": " Mary"}], "pair 2: 'wrong_answer' is the answer"),
    "subject not in clean": (
        [GOOD_PAIR, {**FACT_PAIR, "subject": "Colosseum"}],
        "pair 2: subject 'Colosseum' does not occur in the clean prompt",
    ),
    "corrupted is clean": ([GOOD_PAIR, {**GOOD_PAIR, "corrupted": GOOD_PAIR["clean"]}], "pair 2: 'corrupted' is the same text"),
    "misspelt key": ([GOOD_PAIR, {**GOOD_PAIR, "subjet": "Mary"}], "pair 2: unknown key 'subjet'"),
    "not an object": ([GOOD_PAIR, "When Mary and John"], "pair 2: expected an object, got a string"),
}


@pytest.mark.parametrize("case", list(BAD_PAIRS))
def test_a_bad_pair_names_the_file_the_line_and_the_pair(tmp_path, case):
    pairs, message = BAD_PAIRS[case]
    path = write(tmp_path / "bad.json", task_lines(pairs))
    with pytest.raises(DatasetError) as info:
        load_circuit_task(path)
    err = info.value
    assert message in str(err)
    assert (err.path, err.line) == (str(path), 5)
    assert str(err).startswith(f"{path}:5: pair 2: ")


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        (
            task_lines([GOOD_PAIR], metric="logit_diff"),
            "unknown metric 'logit_diff' (metrics: logit_difference, probability, log_probability)",
            1,
        ),
        (task_lines([GOOD_PAIR], metric=None), "unknown metric null", 1),
        (task_lines([GOOD_PAIR], metric=3), "unknown metric a number", 1),
        (task_lines([]), "'pairs' must be a non-empty array of pair objects, got an empty array", 1),
        ('{"name": "t", "metric": "probability"}\n', "'pairs' must be a non-empty array of pair objects, got null", 1),
        (
            '{"name": "t", "metric": "probability", "pairs": {"clean": "x"}}\n',
            "'pairs' must be a non-empty array of pair objects, got an object",
            1,
        ),
        (task_lines([GOOD_PAIR], name=""), "'name' must be a non-empty string, got ''", 1),
        (task_lines([GOOD_PAIR], name=None), "'name' must be a non-empty string, got null", 1),
        (task_lines([GOOD_PAIR], description=5), "'description' must be a string, got a number", 1),
        ("[1, 2]\n", "expected a task object with 'name', 'metric' and 'pairs', got an array", 1),
        (task_lines([GOOD_PAIR]).replace('"pairs": [', '"pairs": [,'), "invalid JSON: Expecting value", 3),
        ('{"name": "t",\n "metric": "probability"\n "pairs": []}\n', "invalid JSON: Expecting ',' delimiter", 3),
        ("", "invalid JSON: Expecting value", 1),
    ],
)
def test_a_bad_file_names_the_problem(tmp_path, content, message, line):
    path = write(tmp_path / "bad.json", content)
    with pytest.raises(DatasetError) as info:
        load_circuit_task(path)
    assert message in str(info.value)
    assert (info.value.path, info.value.line) == (str(path), line)


def test_invalid_utf8_names_the_line(tmp_path):
    path = write(tmp_path / "bad.json", task_lines([GOOD_PAIR]).encode("utf-8").replace(b"Mary", b"M\xffry", 1))
    with pytest.raises(DatasetError, match="invalid UTF-8") as info:
        load_circuit_task(path)
    assert info.value.line == 4


def test_a_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="cannot read .*nothing.json"):
        load_circuit_task(tmp_path / "nothing.json")
    with pytest.raises(DatasetError, match=r"cannot read iou: .*not a built-in task either \(built-in: ioi, factual_recall\)"):
        load_circuit_task("iou")
    with pytest.raises(DatasetError, match="unknown built-in circuit task 'iou'"):
        builtin_task_path("iou")


def test_the_sdk_module_uses_the_standard_library_and_the_package_only():
    tree = ast.parse(SDK_MODULE.read_text(encoding="utf-8"))
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert modules <= set(sys.stdlib_module_names) | {"__future__", "interpretability"}


# -- the shipped tasks ---------------------------------------------------------------------------


def test_builtin_tasks_are_the_example_files():
    assert BUILTIN_TASKS == ("ioi", "factual_recall")
    for name in BUILTIN_TASKS:
        assert builtin_task_path(name).read_bytes() == (EXAMPLES / f"{name}.json").read_bytes(), (
            f"{name}.json differs: run python examples/circuits/make_tasks.py"
        )
        assert load_circuit_task(name) == load_circuit_task(EXAMPLES / f"{name}.json")


def test_shipped_tasks_load():
    ioi = load_circuit_task("ioi")
    assert (ioi.name, ioi.metric, len(ioi.pairs)) == ("ioi", "logit_difference", 32)
    assert ioi.pairs[0] == PromptPair(
        "When Mary and John went to the store, John gave a drink to",
        "When Alice and Bob went to the store, Tom gave a drink to",
        " Mary",
        " John",
    )
    for pair in ioi.pairs:
        # The subject name is repeated in the clean prompt, the answer name occurs once, and
        # neither occurs in the corrupted prompt (the ABC corruption).
        io, s = (rf"\b{re.escape(name.strip())}\b" for name in (pair.answer, pair.wrong_answer))
        assert (len(re.findall(io, pair.clean)), len(re.findall(s, pair.clean))) == (1, 2), pair
        assert not re.search(io, pair.corrupted) and not re.search(s, pair.corrupted), pair
    facts = load_circuit_task("factual_recall")
    assert (facts.name, facts.metric, len(facts.pairs)) == ("factual_recall", "logit_difference", 18)
    assert all(p.subject and not p.clean.startswith(p.subject) for p in facts.pairs)
    # The corrupted prompt is the clean prompt of another fact: its answer is the wrong answer.
    answers = {p.clean: p.answer for p in facts.pairs}
    assert sum(answers.get(p.corrupted) == p.wrong_answer for p in facts.pairs) >= len(facts.pairs) // 2


# -- with SmolLM2-135M ---------------------------------------------------------------------------


def _next_tokens(loaded, texts: list[str]):
    """Token ids as the services tokenize, and the top-5 next tokens after each text."""
    from interp_services.core.run import run_model, tokenize

    ids = tokenize(loaded, texts, max_tokens=loaded.info.max_tokens)
    return ids, run_model(loaded, ids, top_k=5).top_next


def test_the_ioi_headline_example(smollm):
    _, (top,) = _next_tokens(smollm, ["When Mary and John went to the store, John gave a drink to"])
    assert smollm.tokenizer.decode([top[0].token_id]) == " Mary"
    assert top[0].probability > 0.8  # 0.92 on CPU, float32


@pytest.mark.parametrize("name", BUILTIN_TASKS)
def test_shipped_pairs_still_work_on_smollm2(smollm, name):
    """Every third pair (and the first): equal token counts, one-token answers, the answer is
    the clean run's top-1 (for factual recall, the wrong answer is the corrupted run's top-1)."""
    task = load_circuit_task(name)
    pairs = task.pairs[::3]
    ids, tops = _next_tokens(smollm, [t for p in pairs for t in (p.clean, p.corrupted)])
    for k, pair in enumerate(pairs):
        clean_ids, corrupted_ids = ids[2 * k], ids[2 * k + 1]
        assert len(clean_ids) == len(corrupted_ids), pair
        for piece in (pair.answer, pair.wrong_answer):
            assert len(smollm.tokenizer(piece, add_special_tokens=False)["input_ids"]) == 1, (pair, piece)
        assert smollm.tokenizer.decode([tops[2 * k][0].token_id]) == pair.answer, (pair, tops[2 * k][:2])
        if pair.subject:
            assert smollm.tokenizer.decode([tops[2 * k + 1][0].token_id]) == pair.wrong_answer, (pair, tops[2 * k + 1][:2])
            # The subject starts after token 0 (the attention sink).
            offsets = smollm.tokenizer(pair.clean, return_offsets_mapping=True)["offset_mapping"]
            assert offsets[0][1] <= pair.clean.index(pair.subject), pair


def _load_generator():
    spec = importlib.util.spec_from_file_location("circuits_make_tasks", EXAMPLES / "make_tasks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_generator_writes_the_committed_files(smollm, tmp_path):
    """make_tasks.py, run on the model, selects exactly the committed pairs (so the files and
    the script cannot drift apart, and every shipped pair still passes its checks)."""
    generator = _load_generator()
    written = generator.write_all(smollm, tmp_path)
    assert sorted(p.name for p in written) == sorted(generator.FILES)
    for path in written:
        assert path.read_bytes() == (EXAMPLES / path.name).read_bytes(), (
            f"{path.name} differs: run python examples/circuits/make_tasks.py"
        )
