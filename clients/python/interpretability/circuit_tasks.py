"""Circuit-discovery tasks: clean/corrupted prompt pairs and the metric that compares them.

A task file is one JSON object:

.. code-block:: text

    {"name": "ioi", "description": "...", "metric": "logit_difference",
     "pairs": [{"clean": "When Mary and John went to the store, John gave a drink to",
                "corrupted": "When Alice and Bob went to the store, Tom gave a drink to",
                "answer": " Mary", "wrong_answer": " John"}, ...]}

- ``metric``: ``logit_difference`` (logit(answer) - logit(wrong_answer) at the last position),
  ``probability`` (p(answer)) or ``log_probability`` (log p(answer); does not saturate, the
  better choice for gradient methods when there is no natural wrong answer).
- A pair has ``clean``, ``corrupted`` and ``answer`` (non-empty strings: the clean run's correct
  next token, normally one token with its leading space), ``wrong_answer`` (required by
  ``logit_difference``: the competing token) and optionally ``subject`` (a substring of
  ``clean``: the span that causal tracing noises and restores, e.g. "Eiffel Tower").
- ``description`` is optional; other top-level keys ("provenance", ...) are ignored. A pair
  with any other key is an error (a misspelt "subject" would otherwise be dropped silently).

Patching needs clean and corrupted prompts of the same number of tokens under the model's
tokenizer; this module has no tokenizer, so the services check that when a task runs.

Anything malformed raises :class:`~interpretability.datasets.DatasetError` naming the file, the
line where the pair starts and the pair (1-based), e.g.
``ioi.json:9: pair 3: missing 'wrong_answer' (metric 'logit_difference' needs it)``.

Built-in tasks (:data:`BUILTIN_TASKS`), verified on the packaged SmolLM2-135M and shipped inside
this package (copies of ``examples/circuits/*.json``; see ``examples/circuits/PROVENANCE.md``):

- ``ioi``: indirect object identification (Wang et al. 2022), 32 pairs with the ABC corruption;
- ``factual_recall``: 18 facts (capitals, landmarks, official languages), each corrupted into
  another fact of its template, with the subject for causal tracing.

Example:
    >>> from interpretability.circuit_tasks import load_circuit_task
    >>> task = load_circuit_task("ioi")
    >>> task.metric, task.pairs[0].answer, task.pairs[0].wrong_answer
    ('logit_difference', ' Mary', ' John')

Standard library only (no torch, no numpy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from interpretability.datasets import DatasetError, decode_text, json_type, line_of, parse_located_json, read_bytes

__all__ = ["BUILTIN_TASKS", "METRICS", "CircuitTask", "PromptPair", "builtin_task_path", "load_circuit_task"]

#: Names that :func:`load_circuit_task` resolves to the copies shipped in this package.
BUILTIN_TASKS = ("ioi", "factual_recall")
#: The metrics a task may name.
METRICS = ("logit_difference", "probability", "log_probability")

_DATA = Path(__file__).parent / "data" / "circuit_tasks"
_REQUIRED = ("clean", "corrupted", "answer")
_OPTIONAL = ("wrong_answer", "subject")


@dataclass(frozen=True)
class PromptPair:
    """A clean prompt, its corrupted twin, and the next tokens the metric compares.

    Attributes:
        clean: the prompt the model gets right.
        corrupted: the same prompt with the information that decides the answer removed or
            changed (same number of tokens).
        answer: the clean run's correct next token (with its leading space).
        wrong_answer: the competing token of ``logit_difference`` ("" when not given).
        subject: a substring of ``clean`` for causal tracing ("" when not given).
    """

    clean: str
    corrupted: str
    answer: str
    wrong_answer: str = ""
    subject: str = ""


@dataclass(frozen=True)
class CircuitTask:
    """A named set of prompt pairs and the metric that scores them."""

    name: str
    metric: str
    pairs: tuple[PromptPair, ...]
    description: str = ""


def builtin_task_path(name: str) -> Path:
    """The shipped file of a built-in task."""
    if name not in BUILTIN_TASKS:
        raise DatasetError(f"unknown built-in circuit task {name!r} (built-in: {', '.join(BUILTIN_TASKS)})")
    return _DATA / f"{name}.json"


def load_circuit_task(path_or_name: str | Path) -> CircuitTask:
    """Reads a task file, or a built-in task by name ("ioi", "factual_recall"; a built-in name
    wins over a file of that name in the working directory: write ``./ioi`` for the file).

    Raises:
        DatasetError: the file cannot be read, is not valid JSON, or does not follow the format
            (see the module docstring); the message names the file, the line and the pair.
    """
    given = str(path_or_name)
    shown = str(builtin_task_path(given)) if given in BUILTIN_TASKS else given
    try:
        data = read_bytes(shown)
    except DatasetError as exc:
        if given in BUILTIN_TASKS or Path(given).suffix:
            raise
        raise DatasetError(f"{exc.message}; not a built-in task either (built-in: {', '.join(BUILTIN_TASKS)})", given) from exc
    return _parse_task(parse_located_json(decode_text(data, shown), shown), shown)


# -- the task ------------------------------------------------------------------------------------


def _parse_task(document: object, path: str) -> CircuitTask:
    if not isinstance(document, dict):
        raise DatasetError(f"expected a task object with 'name', 'metric' and 'pairs', got {json_type(document)}", path, 1)
    line = line_of(document, 1)
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        raise DatasetError(f"'name' must be a non-empty string, got {_shown(name)}", path, line)
    metric = document.get("metric")
    if not isinstance(metric, str) or metric not in METRICS:
        raise DatasetError(f"unknown metric {_shown(metric)} (metrics: {', '.join(METRICS)})", path, line)
    description = document.get("description", "")
    if not isinstance(description, str):
        raise DatasetError(f"'description' must be a string, got {json_type(description)}", path, line)
    raw_pairs = document.get("pairs")
    if not isinstance(raw_pairs, list) or not raw_pairs:
        got = "an empty array" if raw_pairs == [] else _shown(raw_pairs)
        raise DatasetError(f"'pairs' must be a non-empty array of pair objects, got {got}", path, line)
    lines = getattr(raw_pairs, "lines", [line] * len(raw_pairs))
    pairs = tuple(_parse_pair(raw, p, metric, path, lines[p - 1]) for p, raw in enumerate(raw_pairs, start=1))
    return CircuitTask(name=name.strip(), metric=metric, pairs=pairs, description=description)


def _parse_pair(raw: object, p: int, metric: str, path: str, line: int) -> PromptPair:
    def error(message: str) -> DatasetError:
        return DatasetError(f"pair {p}: {message}", path, line)

    if not isinstance(raw, dict):
        raise error(f"expected an object, got {json_type(raw)}")
    unknown = [k for k in raw if k not in _REQUIRED + _OPTIONAL]
    if unknown:
        raise error(f"unknown key {unknown[0]!r} (keys: {', '.join(_REQUIRED + _OPTIONAL)})")
    fields: dict[str, str] = {}
    for key in _REQUIRED + _OPTIONAL:
        if key not in raw:
            if key in _REQUIRED:
                raise error(f"missing {key!r} (a non-empty string)")
            continue
        value = raw[key]
        if not isinstance(value, str):
            raise error(f"{key!r} must be a string, got {json_type(value)}")
        if not value.strip():
            raise error(f"{key!r} is empty")
        fields[key] = value
    if metric == "logit_difference":
        if "wrong_answer" not in fields:
            raise error("missing 'wrong_answer' (metric 'logit_difference' needs it)")
        if fields["wrong_answer"] == fields["answer"]:
            raise error(f"'wrong_answer' is the answer ({fields['answer']!r})")
    if fields["corrupted"] == fields["clean"]:
        raise error("'corrupted' is the same text as 'clean'")
    if "subject" in fields and fields["subject"] not in fields["clean"]:
        raise error(f"subject {fields['subject']!r} does not occur in the clean prompt {fields['clean']!r}")
    return PromptPair(**fields)


def _shown(value: object) -> str:
    return repr(value) if isinstance(value, str) else json_type(value)
