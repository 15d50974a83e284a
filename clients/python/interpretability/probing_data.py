"""Datasets of the probing commands: labelled tasks for ``ProbeRepresentations``
(:func:`load_probe_dataset`) and parallel sentences for ``CompareRepresentations``
(:func:`load_parallel_sentences`). Plain lists of sentences (e.g. for comparing two models) are
read by :func:`interpretability.datasets.load_texts`.

Probe datasets (the format is chosen by the file's extension):

- ``.json``, the SUITE FORMAT: a JSON object

  .. code-block:: text

      {"tasks": [{"name": str, "level": "token" | "sentence" | "depth" | "distance",
                  "examples": [example, ...]}, ...],
       "bias": {"protected_task": str,
                "pairs": [{"original": str, "counterfactual": str}, ...]}}   # optional

  Other top-level keys ("name", "description", "provenance", ...) are ignored. An example has
  ``"text"`` (a string) and/or ``"words"`` (a list of strings), and by level:

  - sentence: ``"label"`` (a string; integers and booleans are converted) and ``"text"`` (or
    ``"words"``, then joined by spaces);
  - token: ``"words"`` and ``"labels"``, one label per word (e.g. UPOS tags);
  - depth / distance: ``"words"`` and ``"heads"``, one integer per word, 1-based, 0 for the root
    (CoNLL-U HEAD); they must form a tree (one root, no cycle);

  and optionally ``"group"`` (examples of one group never straddle the train/test split). When
  an example has both text and words, each word must occur in the text, in order. A task without
  ``"level"`` takes the ``level`` argument (an error without it).

  A ``.json`` file may instead be a plain list of examples: one task, named ``task_name`` (default:
  the file's stem) at level ``level`` (default "sentence").
- ``.jsonl`` / ``.ndjson``: one example object per line (blank lines skipped), fields as above,
  plus an optional ``"task"`` (default ``task_name`` or the file's stem) and ``"level"``. A task's
  level is the ``"level"`` of its first line (else ``level``, else "sentence"); a later line
  giving another level is an error. Tasks come in the order of their first line.
- ``.csv``: a header row, then one sentence-level example per row: columns ``text_field`` and
  ``label_field`` (required), ``task`` and ``group`` (optional).
- ``.conllu`` / ``.conll``: CoNLL-U. Each sentence becomes one example, in three tasks:
  "pos_tagging" (token; UPOS), "parsing" (distance; HEAD) and "depth" (depth; HEAD). The words are
  the FORMs; the ``# text =`` comment is the text when every word occurs in it in order (a
  sentence whose multiword tokens, e.g. French "au" = "à le", break that keeps only its words);
  ``# sent_id =`` is the group. Multiword-token lines ("3-4") and empty nodes ("5.1") are
  skipped. Every token line needs 10 TAB-separated columns and integer ID and HEAD, and every
  tree must be valid; an empty UPOS ("_") is an error only when "pos_tagging" is selected.

``tasks`` selects tasks by name, in the given order; ``level`` with a CoNLL-U file keeps the tasks
of that level. When the bias analysis's protected task is not selected the bias analysis is
dropped (``ProbeDataset.bias`` is ``None``).

Every example and counterfactual pair gets ``source = "<file name>:<line>"``, the 1-based line
where it starts (for ``.json``, the line of its opening ``{``; for CoNLL-U, the sentence's first
line). Anything malformed raises :class:`~interpretability.datasets.DatasetError` naming the
file and line, e.g. ``suite.json:57: example 3 of task 'pos_tagging': 5 words but 4 labels``:
invalid JSON or UTF-8, missing or mistyped fields, an empty text or word list, labels or heads
not one per word, a head that is not an integer or not a tree, an unknown level, a task with no
examples or a single class, duplicate task names, an unknown selected task (listing those the
file has), a bias pair missing a side, or a protected task that is not a sentence-level task of
the file.

Parallel sentences (:func:`load_parallel_sentences`):

- ``.json``: ``{"languages": ["en", "fr", ...], "sentences": [{"en": ..., "fr": ...}, ...]}``
  (``"languages"`` optional: then the languages are those of the entries, in first-seen order),
  a plain list of such entries, or ``{"en": [...], "fr": [...]}``: lists of equal length;
- ``.jsonl`` / ``.ndjson``: one ``{"en": ..., "fr": ...}`` object per line.

Every entry needs a non-empty text in every language; at least 2 languages and 4 sentences.

Example:
    >>> from interpretability.probing_data import load_probe_dataset
    >>> ds = load_probe_dataset("examples/probing/linguistic_probing_suite.json", tasks=["sentiment"])
    >>> [t.name for t in ds.tasks], ds.tasks[0].examples[0].source
    (['sentiment'], 'linguistic_probing_suite.json:822')

Standard library and the generated ``interp.v1`` classes only (no torch, no numpy).
"""

from __future__ import annotations

import csv
import io
import json
import json.scanner
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from interp.v1 import probing_service_pb2 as ppb
from interpretability.datasets import DatasetError, decode_text, json_type, line_of, parse_located_json, read_bytes

__all__ = [
    "LEVELS",
    "ProbeDataset",
    "level_name",
    "load_parallel_sentences",
    "load_probe_dataset",
]

#: Level names of the suite format -> ``ProbeLevel`` values.
LEVELS: dict[str, int] = {
    "token": ppb.PROBE_LEVEL_TOKEN,
    "sentence": ppb.PROBE_LEVEL_SENTENCE,
    "depth": ppb.PROBE_LEVEL_DEPTH,
    "distance": ppb.PROBE_LEVEL_DISTANCE,
}
_LEVEL_NAMES = {value: name for name, value in LEVELS.items()}
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_PROBE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".conllu", ".conll")
_CONLLU_TASKS = (("pos_tagging", "token"), ("parsing", "distance"), ("depth", "depth"))
MIN_LANGUAGES = 2
MIN_PARALLEL_SENTENCES = 4


def level_name(level: int) -> str:
    """The suite-format name of a ``ProbeLevel`` ("token", ...); "unspecified" for 0."""
    return _LEVEL_NAMES.get(level, "unspecified")


@dataclass
class ProbeDataset:
    """The tasks (and bias analysis) of a probe dataset file.

    Attributes:
        tasks: the tasks, in file order or in the order of the ``tasks`` selection.
        bias: the bias analysis, or ``None`` (none in the file, or its protected task not
            selected).
        path: the file, as given.
    """

    tasks: list[ppb.ProbeTask]
    bias: ppb.BiasAnalysis | None
    path: str


# -- examples ------------------------------------------------------------------------------------


@dataclass
class _Task:
    name: str
    level: int
    line: int
    examples: list
    error: DatasetError | None = None  # raised only if the task is selected


class _Context:
    """Where an example comes from: raises errors naming file, line and example."""

    def __init__(self, path: str, line: int, what: str) -> None:
        self.path = path
        self.line = line
        self.what = what

    def error(self, message: str) -> DatasetError:
        return DatasetError(f"{self.what}: {message}" if self.what else message, self.path, self.line)


def _parse_level(value: object, path: str, line: int, what: str = "") -> int:
    if not isinstance(value, str) or value.strip().lower() not in LEVELS:
        prefix = f"{what}: " if what else ""
        shown = repr(value) if isinstance(value, str) else json_type(value)
        raise DatasetError(f"{prefix}unknown level {shown} (levels: {', '.join(LEVELS)})", path, line)
    return LEVELS[value.strip().lower()]


def _label_text(value: object, field: str, ctx: _Context) -> str:
    if isinstance(value, bool | int) or (isinstance(value, str) and value.strip()):
        return str(value).strip()
    if isinstance(value, str):
        raise ctx.error(f"{field} is empty")
    raise ctx.error(f"{field} must be a string, got {json_type(value)}")


def _check_words_in_text(words: Sequence[str], text: str, ctx: _Context) -> None:
    position = 0
    for index, word in enumerate(words, start=1):
        found = text.find(word, position)
        if found < 0:
            where = "the text" if index == 1 else f"the text after word {index - 1} ({words[index - 2]!r})"
            raise ctx.error(f"word {index} ({word!r}) does not occur in {where}: {text!r}")
        position = found + len(word)


def _check_tree(heads: Sequence[int], ctx: _Context) -> None:
    """One root, heads in range, no cycles (1-based heads, 0 = root)."""
    n = len(heads)
    for index, head in enumerate(heads, start=1):
        if not 0 <= head <= n:
            raise ctx.error(f"head of word {index} is {head}, outside 0..{n}")
        if head == index:
            raise ctx.error(f"word {index} is its own head")
    roots = [i for i, h in enumerate(heads, start=1) if h == 0]
    if not roots:
        raise ctx.error("no root: no word has head 0")
    if len(roots) > 1:
        raise ctx.error(f"{len(roots)} roots: words {', '.join(map(str, roots))} have head 0")
    state = [0] * (n + 1)  # 0 unseen, 1 on the current path, 2 reaches the root
    state[0] = 2
    for start in range(1, n + 1):
        path = []
        node = start
        while state[node] == 0:
            state[node] = 1
            path.append(node)
            node = heads[node - 1]
        if state[node] == 1:
            cycle = path[path.index(node) :]
            raise ctx.error(f"the heads form a cycle: words {', '.join(map(str, cycle))}")
        for visited in path:
            state[visited] = 2


def _string_list(value: object, field: str, ctx: _Context) -> list[str]:
    if not isinstance(value, list):
        raise ctx.error(f"{field!r} must be a list, got {json_type(value)}")
    if not value:
        raise ctx.error(f"{field!r} is empty")
    return value


def _make_example(obj: object, level: int, ctx: _Context, source: str, text_field: str, label_field: str) -> ppb.ProbeExample:
    """A validated ``ProbeExample`` from a decoded JSON object (or CSV row as a dict)."""
    if not isinstance(obj, dict):
        raise ctx.error(f"expected a JSON object, got {json_type(obj)}")
    example = ppb.ProbeExample(source=source)
    text = None
    if text_field in obj and obj[text_field] is not None:
        text = obj[text_field]
        if not isinstance(text, str):
            raise ctx.error(f"{text_field!r} must be a string, got {json_type(text)}")
        text = text.strip()
        if not text:
            raise ctx.error(f"{text_field!r} is empty")
    words: list[str] | None = None
    if "words" in obj:
        words = _string_list(obj["words"], "words", ctx)
        for index, word in enumerate(words, start=1):
            if not isinstance(word, str) or not word.strip():
                shown = "empty" if isinstance(word, str) else json_type(word)
                raise ctx.error(f"word {index} must be a non-empty string, got {shown}")
    if text is not None and words is not None:
        _check_words_in_text(words, text, ctx)
    if level == ppb.PROBE_LEVEL_SENTENCE:
        if text is None and words is None:
            raise ctx.error(f"missing {text_field!r} (the text)")
        if label_field not in obj or obj[label_field] is None:
            raise ctx.error(f"missing {label_field!r} (the label)")
        example.label = _label_text(obj[label_field], repr(label_field), ctx)
        example.text = text if text is not None else " ".join(words or [])
    else:
        if words is None:
            raise ctx.error(f"missing 'words' (a {level_name(level)}-level example needs them)")
        if level == ppb.PROBE_LEVEL_TOKEN:
            if "labels" not in obj:
                raise ctx.error("missing 'labels' (one per word)")
            labels = _string_list(obj["labels"], "labels", ctx)
            if len(labels) != len(words):
                raise ctx.error(f"{len(words)} words but {len(labels)} labels")
            example.word_labels.extend(_label_text(label, f"label {i}", ctx) for i, label in enumerate(labels, start=1))
        else:
            if "heads" not in obj:
                raise ctx.error("missing 'heads' (one per word, 1-based, 0 for the root)")
            heads = _string_list(obj["heads"], "heads", ctx)
            if len(heads) != len(words):
                raise ctx.error(f"{len(words)} words but {len(heads)} heads")
            for index, head in enumerate(heads, start=1):
                if isinstance(head, bool) or not isinstance(head, int):
                    raise ctx.error(f"head {index} is {head!r}, not an integer")
            _check_tree(heads, ctx)
            example.heads.extend(heads)
        if text is not None:
            example.text = text
        example.words.extend(words)
    if level == ppb.PROBE_LEVEL_SENTENCE and words is not None:
        example.words.extend(words)
    group = obj.get("group")
    if group is not None:
        if isinstance(group, bool) or not isinstance(group, str | int):
            raise ctx.error(f"'group' must be a string, got {json_type(group)}")
        example.group = str(group)
    return example


# -- the formats ---------------------------------------------------------------------------------


def _load_suite(document: dict, path: str, name: str, level: int | None, text_field: str, label_field: str):
    raw_tasks = document.get("tasks")
    if raw_tasks is None:
        keys = ", ".join(repr(k) for k in list(document)[:8]) or "none"
        message = f"expected a suite object with a 'tasks' list (keys: {keys}) or a list of examples"
        raise DatasetError(message, path, line_of(document, 1))
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise DatasetError(f"'tasks' must be a non-empty list, got {json_type(raw_tasks)}", path, line_of(document, 1))
    tasks: list[_Task] = []
    for t, raw in enumerate(raw_tasks, start=1):
        line = line_of(raw, line_of(document, 1))
        if not isinstance(raw, dict):
            raise DatasetError(f"task {t}: expected an object, got {json_type(raw)}", path, line)
        task_name = raw.get("name")
        if not isinstance(task_name, str) or not task_name.strip():
            raise DatasetError(f"task {t}: missing 'name' (a non-empty string)", path, line)
        task_name = task_name.strip()
        what = f"task {task_name!r}"
        if "level" in raw:
            task_level = _parse_level(raw["level"], path, line, what)
        elif level is not None:
            task_level = level
        else:
            raise DatasetError(f"{what}: missing 'level' (one of {', '.join(LEVELS)})", path, line)
        examples = raw.get("examples")
        if not isinstance(examples, list):
            raise DatasetError(f"{what}: missing 'examples' (a list), got {json_type(examples)}", path, line)
        task = _Task(task_name, task_level, line, [])
        for e, obj in enumerate(examples, start=1):
            example_line = line_of(obj, line)
            ctx = _Context(path, example_line, f"example {e} of task {task_name!r}")
            task.examples.append(_make_example(obj, task_level, ctx, f"{name}:{example_line}", text_field, label_field))
        tasks.append(task)
    bias = None
    if document.get("bias") is not None:
        bias = _load_bias(document["bias"], path, name, line_of(document, 1))
    return tasks, bias


def _load_bias(raw: object, path: str, name: str, default_line: int) -> tuple[ppb.BiasAnalysis, int]:
    line = line_of(raw, default_line)
    if not isinstance(raw, dict):
        raise DatasetError(f"'bias' must be an object, got {json_type(raw)}", path, line)
    protected = raw.get("protected_task")
    if not isinstance(protected, str) or not protected.strip():
        raise DatasetError("bias: missing 'protected_task' (the name of a sentence-level task)", path, line)
    bias = ppb.BiasAnalysis(protected_task=protected.strip())
    pairs = raw.get("pairs", [])
    if not isinstance(pairs, list):
        raise DatasetError(f"bias: 'pairs' must be a list, got {json_type(pairs)}", path, line)
    for p, pair in enumerate(pairs, start=1):
        pair_line = line_of(pair, line)
        if not isinstance(pair, dict):
            raise DatasetError(f"bias pair {p}: expected an object, got {json_type(pair)}", path, pair_line)
        sides = {}
        for side in ("original", "counterfactual"):
            value = pair.get(side)
            if value is None:
                raise DatasetError(f"bias pair {p}: missing {side!r}", path, pair_line)
            if not isinstance(value, str) or not value.strip():
                shown = "empty" if isinstance(value, str) else json_type(value)
                raise DatasetError(f"bias pair {p}: {side!r} must be a non-empty string, got {shown}", path, pair_line)
            sides[side] = value.strip()
        bias.pairs.add(original=sides["original"], counterfactual=sides["counterfactual"], source=f"{name}:{pair_line}")
    return bias, line


def _load_json(data: bytes, path: str, name: str, level, task_name, text_field, label_field):
    document = parse_located_json(decode_text(data, path), path)
    if isinstance(document, list):
        task = _Task(task_name or Path(path).stem, level if level is not None else ppb.PROBE_LEVEL_SENTENCE, 1, [])
        for e, obj in enumerate(document, start=1):
            line = line_of(obj, 1)
            ctx = _Context(path, line, f"example {e}")
            task.examples.append(_make_example(obj, task.level, ctx, f"{name}:{line}", text_field, label_field))
        return [task], None
    if not isinstance(document, dict):
        raise DatasetError(f"expected a suite object or a list of examples, got {json_type(document)}", path, 1)
    if task_name is not None:
        message = "task_name applies to a single-task file (a list of examples, JSONL, CSV); a suite names its tasks"
        raise DatasetError(message, path, 0)
    return _load_suite(document, path, name, level, text_field, label_field)


def _jsonl_values(data: bytes, path: str) -> Iterator[tuple[int, object]]:
    """(line number, value) of each non-blank line of a JSONL file; a malformed line stops the
    load with its line number."""
    for number, line in enumerate(decode_text(data, path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"invalid JSON: {exc.msg} (column {exc.colno})", path, number) from exc


def _load_jsonl(data: bytes, path: str, name: str, level, task_name, text_field, label_field):
    default_name = task_name or Path(path).stem
    tasks: dict[str, _Task] = {}
    for number, obj in _jsonl_values(data, path):
        if not isinstance(obj, dict):
            raise DatasetError(f"expected a JSON object, got {json_type(obj)}", path, number)
        this_name = obj.get("task", default_name)
        if not isinstance(this_name, str) or not this_name.strip():
            raise DatasetError(f"'task' must be a non-empty string, got {json_type(this_name)}", path, number)
        this_name = this_name.strip()
        line_level = _parse_level(obj["level"], path, number, f"task {this_name!r}") if "level" in obj else None
        task = tasks.get(this_name)
        if task is None:
            task_level = line_level if line_level is not None else (level if level is not None else ppb.PROBE_LEVEL_SENTENCE)
            task = tasks[this_name] = _Task(this_name, task_level, number, [])
        elif line_level is not None and line_level != task.level:
            first = f"task {this_name!r} is {level_name(task.level)}-level (line {task.line})"
            raise DatasetError(f"{first} but this line says {level_name(line_level)!r}", path, number)
        ctx = _Context(path, number, f"example {len(task.examples) + 1} of task {this_name!r}")
        task.examples.append(_make_example(obj, task.level, ctx, f"{name}:{number}", text_field, label_field))
    return list(tasks.values()), None


def _load_csv(data: bytes, path: str, name: str, level, task_name, text_field, label_field):
    if level is not None and level != ppb.PROBE_LEVEL_SENTENCE:
        raise DatasetError(f"a CSV file holds sentence-level tasks only, not {level_name(level)!r}", path, 0)
    text = decode_text(data, path)
    reader = csv.reader(io.StringIO(text, newline=""))
    default_name = task_name or Path(path).stem
    header: list[str] | None = None
    tasks: dict[str, _Task] = {}
    previous_end = 0
    try:
        for row in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                missing = [f for f in (text_field, label_field) if f not in header]
                if missing:
                    raise DatasetError(
                        f"no column {missing[0]!r} in the header (columns: {', '.join(header)})",
                        path,
                        start,
                    )
                continue
            if len(row) != len(header):
                raise DatasetError(f"{len(row)} fields, but the header has {len(header)}", path, start)
            obj = dict(zip(header, row, strict=True))
            this_name = (obj.get("task") or "").strip() or default_name
            task = tasks.get(this_name)
            if task is None:
                task = tasks[this_name] = _Task(this_name, ppb.PROBE_LEVEL_SENTENCE, start, [])
            if "group" in obj and not obj["group"].strip():
                del obj["group"]
            fields = {text_field: obj[text_field], label_field: obj[label_field]}
            if "group" in obj:
                fields["group"] = obj["group"].strip()
            ctx = _Context(path, start, f"example {len(task.examples) + 1} of task {this_name!r}")
            task.examples.append(_make_example(fields, ppb.PROBE_LEVEL_SENTENCE, ctx, f"{name}:{start}", text_field, label_field))
    except csv.Error as exc:
        raise DatasetError(f"invalid CSV: {exc}", path, reader.line_num) from exc
    if header is None:
        raise DatasetError("empty CSV file: no header row", path, 0)
    return list(tasks.values()), None


def _load_conllu(data: bytes, path: str, name: str, level, task_name):
    if task_name is not None:
        raise DatasetError("task_name does not apply to CoNLL-U (its tasks are pos_tagging, parsing and depth)", path, 0)
    text = decode_text(data, path)
    sentences = []  # (start line, text, sent_id, words, upos, heads, lines, has multiword tokens)
    current: dict | None = None

    def close() -> None:
        nonlocal current
        if current is not None and current["words"]:
            sentences.append(current)
        elif current is not None and (current["text"] is not None or current["multiword"]):
            raise DatasetError("a sentence with no words", path, current["start"])
        current = None

    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            close()
            continue
        if current is None:
            current = {"start": number, "text": None, "id": "", "multiword": False}
            current.update(words=[], upos=[], heads=[], lines=[])
        if line.startswith("#"):
            key, eq, value = line[1:].partition("=")
            if eq and key.strip() == "text":
                current["text"] = value.strip()
            elif eq and key.strip() == "sent_id":
                current["id"] = value.strip()
            continue
        columns = line.split("\t")
        if len(columns) != 10:
            raise DatasetError(f"a token line needs 10 TAB-separated columns, found {len(columns)}", path, number)
        token_id = columns[0].strip()
        if re.fullmatch(r"\d+-\d+", token_id):
            current["multiword"] = True
            continue
        if re.fullmatch(r"\d+\.\d+", token_id):
            continue
        if not token_id.isdigit():
            message = f"ID {token_id!r} is not an integer (nor a range like 3-4 or an empty node like 5.1)"
            raise DatasetError(message, path, number)
        expected = len(current["words"]) + 1
        if int(token_id) != expected:
            raise DatasetError(f"ID {token_id} out of sequence: expected {expected}", path, number)
        head = columns[6].strip()
        if not re.fullmatch(r"\d+", head):
            raise DatasetError(f"HEAD {head!r} of word {token_id} is not an integer", path, number)
        form = columns[1]
        if not form.strip():
            raise DatasetError(f"word {token_id} has an empty FORM", path, number)
        current["words"].append(form)
        current["upos"].append(columns[3].strip())
        current["heads"].append(int(head))
        current["lines"].append(number)
    close()
    if not sentences:
        raise DatasetError("no sentences in the CoNLL-U file", path, 0)
    wanted = [(n, lv) for n, lv in _CONLLU_TASKS if level is None or LEVELS[lv] == level]
    if not wanted:
        levels = ", ".join(f"{n} ({lv})" for n, lv in _CONLLU_TASKS)
        raise DatasetError(f"no CoNLL-U task is {level_name(level)}-level (its tasks: {levels})", path, 0)
    tasks = {n: _Task(n, LEVELS[lv], 1, []) for n, lv in wanted}
    for index, s in enumerate(sentences, start=1):
        ctx = _Context(path, s["start"], f"sentence {index}" + (f" ({s['id']})" if s["id"] else ""))
        text_value = s["text"]
        if text_value is not None:
            try:
                _check_words_in_text(s["words"], text_value, ctx)
            except DatasetError:
                if not s["multiword"]:
                    raise
                text_value = None  # "au" in the text, "à le" in the words: keep the words only
        source = f"{name}:{s['start']}"
        pos_task = tasks.get("pos_tagging")
        if pos_task is not None and pos_task.error is None:
            for word_index, (tag, line) in enumerate(zip(s["upos"], s["lines"], strict=True), start=1):
                if not tag or tag == "_":
                    pos_task.error = DatasetError(f"word {word_index} has no UPOS ({tag or 'empty'!r})", path, line)
                    break
            tasks["pos_tagging"].examples.append(
                ppb.ProbeExample(words=s["words"], word_labels=s["upos"], group=s["id"], source=source, text=text_value or "")
            )
        if "parsing" in tasks or "depth" in tasks:
            _check_tree(s["heads"], ctx)
            for task_name_ in ("parsing", "depth"):
                if task_name_ in tasks:
                    tasks[task_name_].examples.append(
                        ppb.ProbeExample(words=s["words"], heads=s["heads"], group=s["id"], source=source, text=text_value or "")
                    )
    return list(tasks.values()), None


def load_probe_dataset(
    path: str | os.PathLike[str],
    *,
    tasks: Sequence[str] | None = None,
    level: str | None = None,
    label_field: str = "label",
    text_field: str = "text",
    task_name: str | None = None,
) -> ProbeDataset:
    """The probe tasks of a file; see the module docstring for the formats.

    Args:
        path: a ``.json`` (suite or list of examples), ``.jsonl``/``.ndjson``, ``.csv`` or
            ``.conllu``/``.conll`` file.
        tasks: names of the tasks to keep, in this order (default: all, in file order).
        level: the level ("token", "sentence", "depth", "distance") of tasks whose file does not
            give one (a list of examples, JSONL lines without "level", suite tasks without
            "level"); default "sentence" for the single-task formats. With CoNLL-U: keep only the
            task of this level. A CSV file is sentence-level only.
        label_field: the field (column) of a sentence-level example's label.
        text_field: the field (column) of an example's text.
        task_name: the name of the task of a single-task file (a list of examples, JSONL lines
            without "task", CSV rows without a task column); default: the file's stem.

    Returns:
        The tasks as ``ProbeTask`` messages (every example with its ``source``) and the bias
        analysis (``None`` when the file has none or its protected task is not selected).

    Raises:
        DatasetError: the file cannot be read or is malformed (naming the file and line), an
            unsupported extension, an unknown level or selected task, a task with no examples or
            with a single class.
    """
    shown = os.fspath(path)
    name = Path(shown).name
    suffix = Path(shown).suffix.lower()
    if suffix not in _PROBE_SUFFIXES:
        raise DatasetError(f"unsupported probe dataset {name!r}: use one of {', '.join(_PROBE_SUFFIXES)}", shown, 0)
    level_value = _parse_level(level, shown, 0) if level is not None else None
    if isinstance(tasks, str):
        tasks = [tasks]
    data = read_bytes(shown)
    if suffix == ".json":
        parsed, bias_found = _load_json(data, shown, name, level_value, task_name, text_field, label_field)
    elif suffix in _JSONL_SUFFIXES:
        parsed, bias_found = _load_jsonl(data, shown, name, level_value, task_name, text_field, label_field)
    elif suffix == ".csv":
        parsed, bias_found = _load_csv(data, shown, name, level_value, task_name, text_field, label_field)
    else:
        parsed, bias_found = _load_conllu(data, shown, name, level_value, task_name)
    if not parsed:
        raise DatasetError(f"no examples in {shown}", shown, 0)
    by_name: dict[str, _Task] = {}
    for task in parsed:
        if task.name in by_name:
            raise DatasetError(f"duplicate task name {task.name!r} (first at line {by_name[task.name].line})", shown, task.line)
        by_name[task.name] = task
    bias = None
    if bias_found is not None:
        bias, line = bias_found
        protected = by_name.get(bias.protected_task)
        if protected is None:
            message = f"bias: protected task {bias.protected_task!r} is not a task of the file (tasks: {', '.join(by_name)})"
            raise DatasetError(message, shown, line)
        if protected.level != ppb.PROBE_LEVEL_SENTENCE:
            raise DatasetError(
                f"bias: protected task {bias.protected_task!r} is {level_name(protected.level)}-level; it must be sentence-level",
                shown,
                line,
            )
    if tasks is not None:
        selected = []
        for wanted in tasks:
            if wanted not in by_name:
                raise DatasetError(f"no task {wanted!r} in {name} (its tasks: {', '.join(by_name)})", shown, 0)
            if any(t.name == wanted for t in selected):
                raise DatasetError(f"task {wanted!r} selected twice", shown, 0)
            selected.append(by_name[wanted])
    else:
        selected = parsed
    for task in selected:
        if task.error is not None:
            raise task.error
        if not task.examples:
            raise DatasetError(f"task {task.name!r} has no examples", shown, task.line)
        if task.level in (ppb.PROBE_LEVEL_TOKEN, ppb.PROBE_LEVEL_SENTENCE):
            labels = {label for e in task.examples for label in (e.word_labels or [e.label])}
            if len(labels) < 2:
                only = next(iter(labels), "")
                raise DatasetError(
                    f"task {task.name!r} has a single class ({only!r}): a probe needs at least two labels", shown, task.line
                )
    if bias is not None and bias.protected_task not in {t.name for t in selected}:
        bias = None
    return ProbeDataset(
        tasks=[ppb.ProbeTask(name=t.name, level=t.level, examples=t.examples) for t in selected],
        bias=bias,
        path=shown,
    )


# -- parallel sentences --------------------------------------------------------------------------


def load_parallel_sentences(path: str | os.PathLike[str], languages: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Parallel sentences: language -> its texts, aligned by index; see the module docstring for
    the formats.

    Args:
        path: a ``.json`` or ``.jsonl``/``.ndjson`` file.
        languages: the languages to return, in this order (default: all, in file order).

    Raises:
        DatasetError: the file cannot be read or is malformed (naming the file and the line or
            entry), an entry lacks a language (naming it), an unknown language in ``languages``
            (listing those available), fewer than 2 languages or 4 sentences.
    """
    shown = os.fspath(path)
    name = Path(shown).name
    suffix = Path(shown).suffix.lower()
    data = read_bytes(shown)
    if suffix == ".json":
        columns = _parallel_json(data, shown)
    elif suffix in _JSONL_SUFFIXES:
        columns = _parallel_jsonl(data, shown)
    else:
        raise DatasetError(f"unsupported parallel-sentence file {name!r}: use .json, .jsonl or .ndjson", shown, 0)
    available = list(columns)
    if languages is not None:
        if isinstance(languages, str):
            languages = [languages]
        for language in languages:
            if language not in columns:
                raise DatasetError(f"no language {language!r} in {name} (languages: {', '.join(available)})", shown, 0)
        if len(set(languages)) != len(languages):
            raise DatasetError(f"a language is selected twice: {', '.join(languages)}", shown, 0)
        columns = {language: columns[language] for language in languages}
    if len(columns) < MIN_LANGUAGES:
        message = f"need at least {MIN_LANGUAGES} languages, got {len(columns)} ({', '.join(columns) or 'none'})"
        raise DatasetError(message, shown, 0)
    count = len(next(iter(columns.values())))
    if count < MIN_PARALLEL_SENTENCES:
        raise DatasetError(f"need at least {MIN_PARALLEL_SENTENCES} parallel sentences, got {count}", shown, 0)
    return columns


def _parallel_text(value: object, language: str, where: str, path: str, line: int) -> str:
    if not isinstance(value, str) or not value.strip():
        shown = "empty" if isinstance(value, str) else json_type(value)
        raise DatasetError(f"{where}: the {language!r} text must be a non-empty string, got {shown}", path, line)
    return value.strip()


def _parallel_entries(entries: list[tuple[object, int, str]], declared: list[str] | None, path: str) -> dict[str, list[str]]:
    """Columns from ``(entry, line, description)``: every entry needs every language."""
    if declared is not None:
        languages = declared
    else:
        languages = []
        for entry, line, where in entries:
            if not isinstance(entry, dict):
                raise DatasetError(f"{where}: expected an object of texts by language, got {json_type(entry)}", path, line)
            languages += [k for k in entry if k not in languages]
    columns: dict[str, list[str]] = {language: [] for language in languages}
    for entry, line, where in entries:
        if not isinstance(entry, dict):
            raise DatasetError(f"{where}: expected an object of texts by language, got {json_type(entry)}", path, line)
        for language in languages:
            if language not in entry or entry[language] is None:
                raise DatasetError(f"{where}: missing language {language!r} (languages: {', '.join(languages)})", path, line)
            columns[language].append(_parallel_text(entry[language], language, where, path, line))
        extra = [k for k in entry if k not in columns]
        if extra:
            message = f"{where}: language {extra[0]!r} is not among the declared languages ({', '.join(languages)})"
            raise DatasetError(message, path, line)
    return columns


def _parallel_json(data: bytes, path: str) -> dict[str, list[str]]:
    document = parse_located_json(decode_text(data, path), path)
    if isinstance(document, list):
        entries = [(e, line_of(e, 1), f"sentence {i}") for i, e in enumerate(document, start=1)]
        return _parallel_entries(entries, None, path)
    if not isinstance(document, dict):
        raise DatasetError(f"expected a JSON object or list, got {json_type(document)}", path, 1)
    if "sentences" in document:
        sentences = document["sentences"]
        if not isinstance(sentences, list):
            raise DatasetError(f"'sentences' must be a list, got {json_type(sentences)}", path, line_of(document, 1))
        declared = document.get("languages")
        if declared is not None:
            if not isinstance(declared, list) or not all(isinstance(x, str) and x for x in declared) or not declared:
                raise DatasetError("'languages' must be a non-empty list of language names", path, line_of(document, 1))
            if len(set(declared)) != len(declared):
                raise DatasetError(f"'languages' names a language twice: {', '.join(declared)}", path, line_of(document, 1))
        entries = [(e, line_of(e, line_of(document, 1)), f"sentence {i}") for i, e in enumerate(sentences, start=1)]
        return _parallel_entries(entries, declared, path)
    # {"en": [...], "fr": [...]}
    line = line_of(document, 1)
    columns: dict[str, list[str]] = {}
    for language, texts in document.items():
        if not isinstance(texts, list):
            message = f"expected {{'languages', 'sentences'}} or lists of texts by language; {language!r} is {json_type(texts)}"
            raise DatasetError(message, path, line)
        columns[language] = [_parallel_text(t, language, f"sentence {i}", path, line) for i, t in enumerate(texts, start=1)]
    lengths = {language: len(texts) for language, texts in columns.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{language}: {n}" for language, n in lengths.items())
        raise DatasetError(f"the languages have different numbers of sentences ({shown})", path, line)
    return columns


def _parallel_jsonl(data: bytes, path: str) -> dict[str, list[str]]:
    entries = []
    for number, obj in _jsonl_values(data, path):
        entries.append((obj, number, f"sentence {len(entries) + 1}"))
    return _parallel_entries(entries, None, path)
