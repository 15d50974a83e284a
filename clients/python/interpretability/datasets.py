"""Text datasets for the activation commands of the CLI: ``analyze-activations --input-dataset``,
``find-concept-neurons --probe-dataset [--control-dataset]``, ``analyze-gradients
--input-samples`` and ``rank-neuron-importance --task-dataset``.

Formats (chosen by the file's extension):

- ``.jsonl`` / ``.ndjson``: one JSON object per line; the text is ``obj[text_field]`` (a
  non-empty string), the label ``obj.get(label_field)`` (a string; integers and booleans are
  converted with ``str()``). Blank lines are skipped.
- ``.json``: a JSON list of strings or of objects as above. The "line" of an element is its index
  in the list + 1 (not the line of the file it sits on).
- anything else (``.txt``, ``.tsv``, no extension): one text per line. Blank lines and lines
  starting with ``#`` are skipped silently. A line ``<label><TAB><text>`` (a label without
  spaces, then a TAB) gives a labelled text; any other line is an unlabelled text.

A malformed line (invalid JSON, not an object, a missing, empty or non-string text, invalid
UTF-8) is skipped and recorded as a :class:`DatasetProblem` in :attr:`Dataset.problems`, naming
the file and the line; with ``strict=True`` the first one raises :class:`DatasetError` instead.

Concept and control examples (:func:`split_concept`), for a concept-neuron search:

- With a control dataset, every text of the probe dataset is a concept example and every text of
  the control dataset a control example; labels are ignored.
- Without one, every text of the probe dataset must be labelled. The label ``control``
  (case-insensitive; also ``0``, ``false``, ``negative``, ``neutral``) marks a control example;
  any other label marks a concept example. When ``concept_label`` is given only that label (exact
  match) marks concept examples, and a label that is neither it nor a control label is an error.
- An unlabelled text without a control dataset is an error (the suite never guesses which texts
  are controls), as is a split with no concept or no control example.

Example:
    >>> from interpretability.datasets import load_texts, split_concept
    >>> ds = load_texts("examples/activations/emotion_examples.txt")
    >>> concept, control = split_concept(ds, None)
    >>> len(concept) > 0 and len(control) > 0
    True

Standard library only (no torch, no numpy).
"""

from __future__ import annotations

import bisect
import json
import os
import re
from dataclasses import dataclass, field

__all__ = [
    "CONTROL_LABELS",
    "Dataset",
    "DatasetError",
    "DatasetProblem",
    "load_texts",
    "split_concept",
]

#: Labels (compared case-insensitively) that mark control examples in a labelled probe dataset.
CONTROL_LABELS = frozenset({"control", "0", "false", "negative", "neutral"})

_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_MISSING_CONTROLS_HINT = (
    "concept examples need explicit controls: label lines `concept<TAB>text` / `control<TAB>text` or pass --control-dataset"
)


@dataclass(frozen=True)
class DatasetProblem:
    """A line of a dataset that was skipped, and why."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class DatasetError(ValueError):
    """A dataset that cannot be used: a missing or unreadable file, a malformed line in strict
    mode, no texts at all, or texts that do not split into concept and control examples.

    Attributes:
        path: the file.
        line: the 1-based line (or ``.json`` element) at fault; 0 when not line-specific.
        message: what is wrong, without the file and line.
    """

    def __init__(self, message: str, path: str = "", line: int = 0) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.message = message

    def __str__(self) -> str:
        if self.path and self.line:
            return f"{self.path}:{self.line}: {self.message}"
        if self.path and self.path not in self.message:
            return f"{self.path}: {self.message}"
        return self.message


@dataclass
class Dataset:
    """The usable texts of a dataset file.

    Attributes:
        path: the file, as given.
        texts: the texts, in file order.
        labels: the label of each text (``None`` when unlabelled).
        lines: the 1-based source line of each text (for ``.json``: the element index + 1).
        problems: the skipped lines (at most ``max_problems_kept`` of them).
        problem_count: how many lines were skipped in all.
    """

    path: str
    texts: list[str] = field(default_factory=list)
    labels: list[str | None] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    problems: list[DatasetProblem] = field(default_factory=list)
    problem_count: int = 0

    def __len__(self) -> int:
        return len(self.texts)

    def problem_summary(self, limit: int = 5) -> str:
        """The skipped lines in one line, e.g. ``"3 lines skipped: a.jsonl:4: invalid JSON ...; ..."``;
        ``""`` when none was skipped."""
        count = max(self.problem_count, len(self.problems))
        if count == 0:
            return ""
        shown = self.problems[: max(limit, 0)]
        text = f"{count} line{'' if count == 1 else 's'} skipped"
        if shown:
            text += ": " + "; ".join(str(p) for p in shown)
        if count > len(shown):
            text += f"; and {count - len(shown)} more"
        return text


class _Collector:
    """Builds a :class:`Dataset`, recording (or, strict, raising on) problems."""

    def __init__(self, path: str, strict: bool, max_problems_kept: int) -> None:
        self.dataset = Dataset(path=path)
        self.strict = strict
        self.max_problems_kept = max(max_problems_kept, 0)

    def add(self, text: str, label: str | None, line: int) -> None:
        self.dataset.texts.append(text)
        self.dataset.labels.append(label)
        self.dataset.lines.append(line)

    def problem(self, line: int, message: str) -> None:
        ds = self.dataset
        if self.strict:
            raise DatasetError(message, ds.path, line)
        ds.problem_count += 1
        if len(ds.problems) < self.max_problems_kept:
            ds.problems.append(DatasetProblem(ds.path, line, message))


def read_bytes(path: str) -> bytes:
    """The file's bytes; an unreadable file is a DatasetError."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise DatasetError(f"cannot read {path}: {reason}", path, 0) from exc


def _decode_lines(data: bytes, collector: _Collector):
    """Yields ``(line_number, text)`` for each line that is valid UTF-8 (without its line
    ending); records the others as problems."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            collector.problem(number, f"invalid UTF-8 at byte {exc.start + 1} of the line ({exc.reason})")
            continue
        yield number, line.rstrip("\r")


def _label_value(value: object) -> tuple[str | None, str | None]:
    """``(label, error)``: a label converted to a string, or why it cannot be."""
    if value is None:
        return None, None
    if isinstance(value, str):
        value = value.strip()
        return (value or None), None
    if isinstance(value, bool | int):
        return str(value), None
    return None, f"label must be a string, integer or boolean, not {type(value).__name__}"


def _take_object(obj: object, line: int, collector: _Collector, text_field: str, label_field: str | None) -> None:
    if not isinstance(obj, dict):
        collector.problem(line, f"expected a JSON object with a {text_field!r} field, got {json_type(obj)}")
        return
    if text_field not in obj:
        keys = ", ".join(repr(k) for k in list(obj)[:8]) or "none"
        collector.problem(line, f"missing text field {text_field!r} (fields: {keys})")
        return
    text = obj[text_field]
    if not isinstance(text, str):
        collector.problem(line, f"text field {text_field!r} must be a string, got {json_type(text)}")
        return
    text = text.strip()
    if not text:
        collector.problem(line, f"text field {text_field!r} is empty")
        return
    label: str | None = None
    if label_field is not None:
        label, error = _label_value(obj.get(label_field))
        if error:
            collector.problem(line, f"{label_field!r}: {error}")
            return
    collector.add(text, label, line)


def json_type(value: object) -> str:
    """How an error message names a JSON value's type ("a string", "an array", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _load_jsonl(data: bytes, collector: _Collector, text_field: str, label_field: str | None) -> None:
    for number, line in _decode_lines(data, collector):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            collector.problem(number, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        _take_object(obj, number, collector, text_field, label_field)


def _load_json(data: bytes, collector: _Collector, text_field: str, label_field: str | None) -> None:
    path = collector.dataset.path
    try:
        document = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DatasetError(f"invalid UTF-8 ({exc.reason})", path, line) from exc
    try:
        items = json.loads(document)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"invalid JSON: {exc.msg} (column {exc.colno})", path, exc.lineno) from exc
    if not isinstance(items, list):
        raise DatasetError(f"expected a JSON list of strings or objects, got {json_type(items)}", path, 0)
    for index, item in enumerate(items):
        number = index + 1
        if isinstance(item, str):
            text = item.strip()
            if text:
                collector.add(text, None, number)
            else:
                collector.problem(number, "empty text")
        else:
            _take_object(item, number, collector, text_field, label_field)


def _load_plain(data: bytes, collector: _Collector) -> None:
    for number, line in _decode_lines(data, collector):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        label: str | None = None
        text = line
        head, tab, rest = line.partition("\t")
        if tab and head and not any(c.isspace() for c in head):
            label, text = head, rest
            if not text.strip():
                collector.problem(number, f"label {label!r} has no text after the TAB")
                continue
        collector.add(text.strip(), label, number)


def load_texts(
    path: str | os.PathLike[str],
    *,
    text_field: str = "text",
    label_field: str | None = "label",
    strict: bool = False,
    max_problems_kept: int = 20,
) -> Dataset:
    """The texts (and labels) of a dataset file; see the module docstring for the formats.

    Args:
        path: a ``.jsonl``/``.ndjson``, ``.json`` or plain-text (``.txt``, ``.tsv``, anything
            else) file.
        text_field: the JSON field holding the text.
        label_field: the JSON field holding the label (``None``: ignore labels in JSON files).
        strict: raise on the first malformed line instead of skipping it.
        max_problems_kept: at most this many skipped lines are kept in ``problems``; all are
            counted in ``problem_count``.

    Returns:
        The dataset; ``lines`` holds the 1-based line of each text (for a ``.json`` file the
        index of the element in the list + 1, not a line of the file).

    Raises:
        DatasetError: the file cannot be read (line 0, the OS error in words); a ``.json`` file
            that is not valid JSON or not a list; a malformed line with ``strict=True`` (naming
            the line); no usable text at all ("no texts in <path>", with the first problems).
    """
    p = os.fspath(path)
    data = read_bytes(p)
    collector = _Collector(p, strict, max_problems_kept)
    suffix = os.path.splitext(p)[1].lower()
    if suffix in _JSONL_SUFFIXES:
        _load_jsonl(data, collector, text_field, label_field)
    elif suffix == ".json":
        _load_json(data, collector, text_field, label_field)
    else:
        _load_plain(data, collector)
    ds = collector.dataset
    if not ds.texts:
        summary = ds.problem_summary()
        raise DatasetError(f"no texts in {p}" + (f" ({summary})" if summary else ""), p, 0)
    return ds


def _is_control_label(label: str) -> bool:
    return label.strip().casefold() in CONTROL_LABELS


def split_concept(dataset: Dataset, control: Dataset | None, *, concept_label: str | None = None) -> tuple[list[str], list[str]]:
    """The concept texts and the control texts of a concept-neuron search.

    With ``control``, every text of ``dataset`` is a concept example and every text of
    ``control`` a control example (labels ignored). Without it, every text of ``dataset`` must be
    labelled: a control label (:data:`CONTROL_LABELS`, case-insensitive) marks a control
    example, any other label a concept example, or, with ``concept_label``, exactly that label
    (any other non-control label is then an error).

    Raises:
        DatasetError: an unlabelled text without a control dataset (naming the first such line),
            a label that is neither ``concept_label`` nor a control label, or no concept or no
            control example.
    """
    if control is not None:
        concept_texts, control_texts = list(dataset.texts), list(control.texts)
        if not concept_texts:
            raise DatasetError(f"no concept examples in {dataset.path}", dataset.path, 0)
        if not control_texts:
            raise DatasetError(f"no control examples in {control.path}", control.path, 0)
        return concept_texts, control_texts

    concept_texts, control_texts = [], []
    for index, (text, label) in enumerate(zip(dataset.texts, dataset.labels, strict=True)):
        line = dataset.lines[index] if index < len(dataset.lines) else index + 1
        if label is None:
            raise DatasetError(f"unlabelled text; {_MISSING_CONTROLS_HINT}", dataset.path, line)
        if _is_control_label(label):
            control_texts.append(text)
        elif concept_label is None or label == concept_label:
            concept_texts.append(text)
        else:
            controls = ", ".join(sorted(CONTROL_LABELS))
            raise DatasetError(
                f"label {label!r} is neither the concept label {concept_label!r} nor a control label ({controls})",
                dataset.path,
                line,
            )
    wanted = f"label {concept_label!r}" if concept_label is not None else "a non-control label"
    if not concept_texts:
        raise DatasetError(
            f"no concept examples in {dataset.path}: no text has {wanted} (only control labels found)",
            dataset.path,
            0,
        )
    if not control_texts:
        raise DatasetError(
            f"no control examples in {dataset.path}: label some lines `control<TAB>text` or pass --control-dataset",
            dataset.path,
            0,
        )
    return concept_texts, control_texts


# -- JSON with line numbers ----------------------------------------------------------------------


class Located(dict):
    """A decoded JSON object and the 1-based line of its opening brace."""

    __slots__ = ("line",)


class LocatedList(list):
    """A decoded JSON array and the 1-based line where each of its elements starts."""

    __slots__ = ("lines",)


def decode_text(data: bytes, path: str) -> str:
    """UTF-8 (a BOM allowed), or a DatasetError naming the line of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"invalid UTF-8 ({exc.reason})", path, data[: exc.start].count(b"\n") + 1) from exc


def parse_located_json(text: str, path: str) -> object:
    """``json.loads`` whose objects are :class:`Located` (they know the line of their opening
    brace) and whose arrays are :class:`LocatedList` (they know the line of each element), so a
    dataset's errors can name the line of the entry at fault."""
    newlines = [m.start() for m in re.finditer("\n", text)]
    decoder = json.JSONDecoder()
    parse_object, parse_array = decoder.parse_object, decoder.parse_array

    def at(offset: int) -> int:
        return bisect.bisect_left(newlines, offset) + 1

    def located_object(s_and_end, *args):
        _, start = s_and_end  # the offset just after "{"
        value, end = parse_object(s_and_end, *args)
        obj = Located(value)
        obj.line = at(start - 1)
        return obj, end

    def located_array(s_and_end, scan_once):
        starts: list[int] = []

        def scan_element(string, idx):
            starts.append(idx)
            return scan_once(string, idx)

        value, end = parse_array(s_and_end, scan_element)
        array = LocatedList(value)
        array.lines = [at(i) for i in starts]
        return array, end

    decoder.parse_object, decoder.parse_array = located_object, located_array
    # The pure-Python scanner calls ``parse_object`` through the decoder (the C one does not).
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    try:
        return decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"invalid JSON: {exc.msg} (column {exc.colno})", path, exc.lineno) from exc
    except RecursionError as exc:
        raise DatasetError("invalid JSON: nested too deeply", path, 0) from exc


def line_of(obj: object, default: int) -> int:
    """The line a value of :func:`parse_located_json` starts on, or ``default``."""
    return getattr(obj, "line", default)
