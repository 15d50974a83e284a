#!/usr/bin/env python3
"""Generates the circuit-discovery tasks of this folder (see PROVENANCE.md), verified on the
packaged SmolLM2-135M.

    python examples/circuits/make_tasks.py            # rewrites the files here (and the SDK's copies)
    python examples/circuits/make_tasks.py --out DIR  # writes them into DIR instead
    python examples/circuits/make_tasks.py --check    # re-measures the committed files, writes nothing

Writes:

- ``ioi.json``: indirect object identification (Wang et al. 2022, "Interpretability in the
  Wild"). Clean: "When Mary and John went to the store, John gave a drink to" -> " Mary", the
  indirect object; wrong answer: the subject (" John"). Corrupted: the "ABC" distribution of the
  paper, the same sentence with three other names (two in the first clause, a third as the
  subject), so nothing in it points at either name of the clean prompt.
- ``factual_recall.json``: facts of three templates ("The capital of France is the city of" ->
  " Paris"), each with its ``subject`` for causal tracing. Corrupted: another fact of the same
  template, of the same token length, with another answer (its answer is the wrong answer).

Both files use ``metric: "logit_difference"``; see PROVENANCE.md for the format.

Candidates come from fixed word lists, fixed templates and ``random.Random`` seeded with fixed
strings (string seeds do not depend on PYTHONHASHSEED). Every candidate is then run through
SmolLM2-135M, loaded through the project's own loader from the local cache (no hub) and
tokenized as the services tokenize (``interp_services.core.run.tokenize``), and a pair is kept
only if (see :func:`pair_problems`):

- ``answer`` and ``wrong_answer`` are one token each (with their leading space);
- clean and corrupted have the same number of tokens (patching needs aligned positions);
- the answer is the model's top-1 next token on the clean prompt, ahead of the second by at
  least ``MIN_TOP1_MARGIN`` logits (so a tiny numerical difference cannot flip it);
- logit(answer) - logit(wrong_answer) is at least ``MIN_CLEAN_LOGIT_DIFF`` on the clean prompt
  and at least ``MIN_LOGIT_DIFF_DROP`` smaller on the corrupted one;
- (factual recall) the corrupted fact's answer is the model's top-1 on the corrupted prompt,
  and the subject does not start at token 0 (patching or noising position 0, the attention
  sink, disturbs every later position).

The first pairs that pass are kept, in candidate order, so the output is a pure function of this
file and the model's weights. Needs torch and the services' packages (the project's venv) and
the packaged model in the cache ($INTERP_MODEL_CACHE, default ~/.cache/interp-suite/models).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean as mean

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PROVENANCE = "examples/circuits/PROVENANCE.md"
MODEL = "smollm2-135m"
MODEL_CACHE = Path(os.environ.get("INTERP_MODEL_CACHE", Path.home() / ".cache" / "interp-suite" / "models"))
PACKAGED = ROOT / "clients" / "python" / "interpretability" / "data" / "circuit_tasks"

IOI_FILE = "ioi.json"
FACTUAL_FILE = "factual_recall.json"
FILES = (IOI_FILE, FACTUAL_FILE)

MIN_TOP1_MARGIN = 0.5
MIN_CLEAN_LOGIT_DIFF = 2.0
MIN_LOGIT_DIFF_DROP = 2.0

# ================================================================================================
# IOI
# ================================================================================================

# Common English first names; each is one token with its leading space in SmolLM2's tokenizer
# (checked when the file is built).
NAMES = [
    "Aaron", "Adam", "Alan", "Alex", "Alice", "Amy", "Andrew", "Anna", "Anthony", "Arthur", "Bob",
    "Brian", "Carl", "Charles", "Chris", "Claire", "Daniel", "David", "Edward", "Emily", "Eric",
    "Frank", "George", "Grace", "Henry", "Ian", "Jack", "Jacob", "James", "Jane", "Jason", "Jennifer",
    "Jessica", "John", "Joseph", "Kate", "Kevin", "Laura", "Lisa", "Lucy", "Luke", "Maria", "Mark",
    "Martin", "Mary", "Matthew", "Max", "Michael", "Paul", "Peter", "Rachel", "Richard", "Robert",
    "Rose", "Ryan", "Sarah", "Scott", "Simon", "Sophie", "Steven", "Thomas", "Tom", "Victoria", "William",
]  # fmt: skip
PLACES = ["store", "garden", "restaurant", "school", "hospital", "office", "house", "station"]
OBJECTS = ["ring", "bone", "basketball", "computer", "necklace", "drink", "snack", "book"]

# In the style of the paper's templates: {IO} and {S} (or {S} and {IO}) in a first clause, then
# {S} again as the subject of a giving or saying verb; the answer is {IO}.
IOI_TEMPLATES = [
    "When {first} and {second} went to the {place}, {subject} gave a {object} to",
    "Then, {first} and {second} went to the {place}. {subject} gave a {object} to",
    "After {first} and {second} went to the {place}, {subject} gave a {object} to",
    "While {first} and {second} were working at the {place}, {subject} gave a {object} to",
    "When {first} and {second} got a {object} at the {place}, {subject} decided to give it to",
    "Then, {first} and {second} had a long argument, and afterwards {subject} said to",
    "Afterwards, {first} and {second} went to the {place}. {subject} gave a {object} to",
    "While {first} and {second} were commuting to the {place}, {subject} gave a {object} to",
]
IOI_PER_ORDER = 2  # pairs kept per template and name order (ABBA: IO first; BABA: subject first)
IOI_CANDIDATES_PER_ORDER = 8
# The paper's headline example (and its ABC corruption), kept as the first pair.
IOI_HEADLINE = {
    "template": 0, "order": "ABBA", "io": "Mary", "s": "John", "place": "store", "object": "drink",
    "corrupt": ("Alice", "Bob", "Tom"),
}  # fmt: skip


@dataclass(frozen=True)
class Candidate:
    """A candidate pair and the group it counts towards (template and name order, or template)."""

    group: str
    clean: str
    corrupted: str
    answer: str
    wrong_answer: str
    subject: str = ""


def ioi_prompt(template: str, order: str, io: str, s: str, place: str, obj: str) -> str:
    first, second = (io, s) if order == "ABBA" else (s, io)
    return template.format(first=first, second=second, subject=s, place=place, object=obj)


def ioi_candidates() -> list[Candidate]:
    """Per template and order, the headline example (template 0, ABBA) first, then
    IOI_CANDIDATES_PER_ORDER random draws: IO and S, and three other names C, D, E for the ABC
    corruption ("When C and D went to the store, E gave a drink to")."""
    out = []
    for t, template in enumerate(IOI_TEMPLATES):
        for order in ("ABBA", "BABA"):
            rng = random.Random(f"circuits/ioi/v1/{t}/{order}")
            draws = []
            h = IOI_HEADLINE
            if h["template"] == t and h["order"] == order:
                draws.append((h["io"], h["s"], *h["corrupt"], h["place"], h["object"]))
            for _ in range(IOI_CANDIDATES_PER_ORDER):
                io, s, c, d, e = rng.sample(NAMES, 5)
                draws.append((io, s, c, d, e, rng.choice(PLACES), rng.choice(OBJECTS)))
            for io, s, c, d, e, place, obj in draws:
                out.append(
                    Candidate(
                        group=f"{t}/{order}",
                        clean=ioi_prompt(template, order, io, s, place, obj),
                        corrupted=template.format(first=c, second=d, subject=e, place=place, object=obj),
                        answer=" " + io,
                        wrong_answer=" " + s,
                    )
                )
    return out


# ================================================================================================
# Factual recall
# ================================================================================================

# template, subjects and answers (in preference order, a few more than are kept), pairs kept.
# Subjects never open the prompt: "The capital of France", "The Eiffel Tower".
FACT_TEMPLATES = [
    (
        "The capital of {} is the city of",
        [
            ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Greece", "Athens"),
            ("Austria", "Vienna"), ("Canada", "Ottawa"), ("Kenya", "Nairobi"), ("Portugal", "Lisbon"),
            ("Norway", "Oslo"),
        ],
        8,
    ),
    (
        "The {} is located in the city of",
        [
            ("Eiffel Tower", "Paris"), ("Colosseum", "Rome"), ("Brandenburg Gate", "Berlin"), ("Prado Museum", "Madrid"),
            ("Hagia Sophia", "Istanbul"), ("Parthenon", "Athens"), ("Kremlin", "Moscow"), ("Acropolis", "Athens"),
        ],
        6,
    ),
    (
        "The official language of {} is",
        [
            ("France", "French"), ("Germany", "German"), ("Italy", "Italian"), ("Spain", "Spanish"),
            ("Russia", "Russian"), ("Poland", "Polish"), ("Turkey", "Turkish"), ("Israel", "Hebrew"),
        ],
        4,
    ),
]  # fmt: skip


def fact_candidates(token_count) -> list[Candidate]:
    """Per template, each fact (in list order) with each other fact of the template of the same
    token length and another answer as its corruption, nearest first (cyclically), so the first
    fact whose first partner fails still gets the next one."""
    out = []
    for t, (template, facts, _) in enumerate(FACT_TEMPLATES):
        lengths = [token_count(template.format(subject)) for subject, _ in facts]
        for i, (subject, answer) in enumerate(facts):
            for k in range(1, len(facts)):
                j = (i + k) % len(facts)
                other, other_answer = facts[j]
                if lengths[j] != lengths[i] or other_answer == answer:
                    continue
                out.append(
                    Candidate(
                        group=f"{t}/{subject}",
                        clean=template.format(subject),
                        corrupted=template.format(other),
                        answer=" " + answer,
                        wrong_answer=" " + other_answer,
                        subject=subject,
                    )
                )
    return out


# ================================================================================================
# Measuring pairs with the model
# ================================================================================================


@dataclass
class Measured:
    """What the model does on one pair."""

    clean_tokens: int
    corrupted_tokens: int
    answer_tokens: int
    wrong_tokens: int
    clean_top: str  # the top-1 next token on the clean prompt, decoded
    clean_top_margin: float  # logit(top-1) - logit(top-2) on the clean prompt
    corrupted_top: str
    clean_p_answer: float
    clean_logit_diff: float
    corrupted_logit_diff: float
    subject_start: int = -1  # the token index where the subject starts; -1 without a subject


def load_model():
    """SmolLM2-135M through the project's loader, from the local cache only (as the tests do)."""
    from interp_services.core.models import LoaderSettings, ModelCache

    return ModelCache(LoaderSettings(cache_dir=MODEL_CACHE, allow_hub=False), max_models=1).get(MODEL)


def token_ids(loaded, texts: list[str]) -> list[list[int]]:
    """The services' tokenization (``run.tokenize``: with the tokenizer's special tokens, of
    which SmolLM2 adds none)."""
    from interp_services.core.run import tokenize

    return tokenize(loaded, texts, max_tokens=loaded.info.max_tokens)


def _piece_ids(loaded, piece: str) -> list[int]:
    """A continuation's ids (no special tokens: it is appended to a prompt)."""
    return list(loaded.tokenizer(piece, add_special_tokens=False)["input_ids"])


def _subject_start(loaded, text: str, subject: str) -> int:
    """The index of the first token that overlaps ``subject`` in ``text``."""
    start = text.index(subject)
    enc = loaded.tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
    for i, (a, b) in enumerate(enc["offset_mapping"]):
        if b > start and b > a:
            return i
    raise ValueError(f"subject {subject!r} not found in the tokens of {text!r}")


def measure(loaded, pairs, batch_size: int = 32) -> list[Measured]:
    """Runs both prompts of every pair (objects with clean, corrupted, answer, wrong_answer and
    subject) through the model, reading the services' ``logit_diff`` metric (answer vs wrong
    answer at the last token) and the top 2 next tokens; p(answer) is the top-1 probability when
    the answer is top-1, else a ``token`` metric of one more pass. Only the last position goes
    through the LM head."""
    from interp_services.core.metrics import Metric
    from interp_services.core.run import run_model

    answers = [_piece_ids(loaded, p.answer) for p in pairs]
    wrongs = [_piece_ids(loaded, p.wrong_answer) for p in pairs]
    clean_ids = token_ids(loaded, [p.clean for p in pairs])
    corrupted_ids = token_ids(loaded, [p.corrupted for p in pairs])

    def runs(ids, rows, metric_of):
        outs = []
        for i in range(0, len(rows), batch_size):
            chunk = rows[i : i + batch_size]
            out = run_model(loaded, [ids[k] for k in chunk], top_k=2, metric=metric_of(chunk))
            outs += [(top, float(value)) for top, value in zip(out.top_next, out.metric, strict=True)]
        return outs

    def logit_diff(chunk):
        return Metric("logit_diff", token_ids=[answers[k][0] for k in chunk], other_ids=[wrongs[k][0] for k in chunk])

    everyone = list(range(len(pairs)))
    clean = runs(clean_ids, everyone, logit_diff)
    corrupted = runs(corrupted_ids, everyone, logit_diff)
    p_answer = {k: top[0].probability for k, (top, _) in enumerate(clean) if top[0].token_id == answers[k][0]}
    others = [k for k in everyone if k not in p_answer]
    if others:

        def probability(chunk):
            return Metric("token", token_ids=[answers[k][0] for k in chunk], score="prob")

        p_answer.update(zip(others, (value for _, value in runs(clean_ids, others, probability)), strict=True))
    decode = loaded.tokenizer.decode
    results = []
    for k, p in enumerate(pairs):
        (top, clean_ld), (corrupted_top, corrupted_ld) = clean[k], corrupted[k]
        results.append(
            Measured(
                clean_tokens=len(clean_ids[k]),
                corrupted_tokens=len(corrupted_ids[k]),
                answer_tokens=len(answers[k]),
                wrong_tokens=len(wrongs[k]),
                clean_top=decode([top[0].token_id]),
                clean_top_margin=top[0].logit - top[1].logit,
                corrupted_top=decode([corrupted_top[0].token_id]),
                clean_p_answer=p_answer[k],
                clean_logit_diff=clean_ld,
                corrupted_logit_diff=corrupted_ld,
                subject_start=_subject_start(loaded, p.clean, p.subject) if p.subject else -1,
            )
        )
    return results


def clean_problems(pair, m: Measured, *, factual: bool) -> list[str]:
    """What is wrong with the clean prompt and its answer alone (whatever the corruption)."""
    problems = []
    if m.answer_tokens != 1:
        problems.append(f"the answer is {m.answer_tokens} tokens")
    if m.clean_top != pair.answer:
        problems.append(f"clean top-1 is {m.clean_top!r}, not {pair.answer!r}")
    elif m.clean_top_margin < MIN_TOP1_MARGIN:
        problems.append(f"clean top-1 margin {m.clean_top_margin:.2f} < {MIN_TOP1_MARGIN}")
    if factual and m.subject_start < 1:
        problems.append("the subject starts at token 0")
    return problems


def pair_problems(pair, m: Measured, *, factual: bool) -> list[str]:
    """Why a pair is not kept (empty: it is)."""
    problems = clean_problems(pair, m, factual=factual)
    if m.wrong_tokens != 1:
        problems.append(f"the wrong answer is {m.wrong_tokens} tokens")
    if m.clean_tokens != m.corrupted_tokens:
        problems.append(f"clean has {m.clean_tokens} tokens, corrupted {m.corrupted_tokens}")
    if m.clean_logit_diff < MIN_CLEAN_LOGIT_DIFF:
        problems.append(f"clean logit difference {m.clean_logit_diff:.2f} < {MIN_CLEAN_LOGIT_DIFF}")
    if m.clean_logit_diff - m.corrupted_logit_diff < MIN_LOGIT_DIFF_DROP:
        problems.append(f"logit difference drops {m.clean_logit_diff - m.corrupted_logit_diff:.2f} < {MIN_LOGIT_DIFF_DROP}")
    if factual and m.corrupted_top != pair.wrong_answer:
        problems.append(f"corrupted top-1 is {m.corrupted_top!r}, not {pair.wrong_answer!r}")
    return problems


def select(loaded, candidates: list[Candidate], quota, *, factual: bool) -> list[tuple[Candidate, Measured]]:
    """The first ``quota(group)`` passing candidates of each group, in candidate order.

    Measured in rounds: each round runs, for every group still short of its quota, as many of
    its next candidates as it still needs (most pass, so few candidates are ever run). For
    factual recall a group is one fact with its corruptions, so a fact whose clean prompt fails
    (:func:`clean_problems`) is given up at once."""
    pending: dict[str, list[int]] = {}
    for i, c in enumerate(candidates):
        pending.setdefault(c.group, []).append(i)
    kept: dict[int, Measured] = {}
    count = dict.fromkeys(pending, 0)
    while True:
        batch = []
        for group, queue in pending.items():
            need = quota(group) - count[group]
            batch += queue[:need]
            del queue[:need]
        if not batch:
            break
        for i, m in zip(batch, measure(loaded, [candidates[i] for i in batch]), strict=True):
            if not pair_problems(candidates[i], m, factual=factual):
                kept[i] = m
                count[candidates[i].group] += 1
            elif factual and clean_problems(candidates[i], m, factual=factual):
                pending[candidates[i].group].clear()
    return [(candidates[i], kept[i]) for i in sorted(kept)]


def build_ioi(loaded) -> list[tuple[Candidate, Measured]]:
    single = [n for n in NAMES if len(_piece_ids(loaded, " " + n)) == 1]
    assert single == NAMES, f"names that are not one token: {sorted(set(NAMES) - set(single))}"
    kept = select(loaded, ioi_candidates(), lambda group: IOI_PER_ORDER, factual=False)
    expected = len(IOI_TEMPLATES) * 2 * IOI_PER_ORDER
    assert len(kept) == expected, f"only {len(kept)} of {expected} IOI pairs pass; raise IOI_CANDIDATES_PER_ORDER"
    assert kept[0][0].clean == ioi_prompt(IOI_TEMPLATES[0], "ABBA", "Mary", "John", "store", "drink"), "the headline pair failed"
    # Template order, ABBA pairs then BABA pairs within a template (the candidates' order).
    return kept


def build_factual(loaded) -> list[tuple[Candidate, Measured]]:
    def n_tokens(text: str) -> int:
        return len(token_ids(loaded, [text])[0])

    candidates = fact_candidates(n_tokens)
    kept_per_template: dict[str, int] = {}
    out = []
    for c, m in select(loaded, candidates, lambda group: 1, factual=True):
        t = c.group.split("/")[0]
        if kept_per_template.get(t, 0) < FACT_TEMPLATES[int(t)][2]:
            kept_per_template[t] = kept_per_template.get(t, 0) + 1
            out.append((c, m))
    for t, (template, _, quota) in enumerate(FACT_TEMPLATES):
        assert kept_per_template.get(str(t), 0) == quota, f"only {kept_per_template.get(str(t), 0)} facts of {template!r} pass"
    return out


# ================================================================================================
# Files
# ================================================================================================

DESCRIPTIONS = {
    "ioi": (
        "Indirect object identification (Wang et al. 2022): the clean prompt names two people, then repeats one of them "
        "(the subject) as the giver; the answer is the other (the indirect object), the wrong answer the subject. The "
        "corrupted prompt is the paper's ABC corruption: the same sentence with three unrelated names. Verified on "
        "smollm2-135m; generated by examples/circuits/make_tasks.py."
    ),
    "factual_recall": (
        "Factual recall: capitals, landmarks and official languages. The corrupted prompt is another fact of the same "
        "template with the same number of tokens, whose answer is the wrong answer; 'subject' is the span to noise or "
        "restore in causal tracing. Verified on smollm2-135m; generated by examples/circuits/make_tasks.py."
    ),
}


def _pair_json(c: Candidate) -> dict:
    pair = {"clean": c.clean, "corrupted": c.corrupted, "answer": c.answer, "wrong_answer": c.wrong_answer}
    if c.subject:
        pair["subject"] = c.subject
    return pair


def task_text(name: str, kept: list[tuple[Candidate, Measured]]) -> str:
    """The task file: one pair per line (so the line an error names is the pair's own)."""
    head = {"name": name, "description": DESCRIPTIONS[name], "metric": "logit_difference", "provenance": PROVENANCE}
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()] + ['  "pairs": [']
    pairs = [json.dumps(_pair_json(c), ensure_ascii=False) for c, _ in kept]
    lines += [f"    {p}," for p in pairs[:-1]] + [f"    {pairs[-1]}", "  ]", "}"]
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == {**head, "pairs": [_pair_json(c) for c, _ in kept]}
    return text


def build(loaded) -> dict[str, str]:
    """File name -> text of every generated file."""
    return {IOI_FILE: task_text("ioi", build_ioi(loaded)), FACTUAL_FILE: task_text("factual_recall", build_factual(loaded))}


def write_all(loaded, out_dir: str | Path = HERE) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in build(loaded).items():
        path = out / name
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


# ================================================================================================
# --check: the numbers of PROVENANCE.md
# ================================================================================================


@dataclass(frozen=True)
class _Pair:
    clean: str
    corrupted: str
    answer: str
    wrong_answer: str
    subject: str = ""


def check(loaded, files: list[Path]) -> bool:
    """Re-measures every pair of the given task files; prints per-file means and any pair that
    no longer passes. True when every pair passes."""
    ok = True
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        pairs = [_Pair(p["clean"], p["corrupted"], p["answer"], p["wrong_answer"], p.get("subject", "")) for p in doc["pairs"]]
        measured = measure(loaded, pairs)
        factual = any(p.subject for p in pairs)
        for i, (p, m) in enumerate(zip(pairs, measured, strict=True), start=1):
            problems = pair_problems(p, m, factual=factual)
            if problems:
                ok = False
                print(f"{path.name}: pair {i} ({p.clean!r}): {'; '.join(problems)}")
        print(
            f"{path.name}: {len(measured)} pairs; clean p(answer) mean {mean(m.clean_p_answer for m in measured):.3f} "
            f"(min {min(m.clean_p_answer for m in measured):.3f}); clean logit difference mean "
            f"{mean(m.clean_logit_diff for m in measured):.2f} (min {min(m.clean_logit_diff for m in measured):.2f}); "
            f"corrupted logit difference mean {mean(m.corrupted_logit_diff for m in measured):.2f} "
            f"(max {max(m.corrupted_logit_diff for m in measured):.2f})"
        )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(HERE), help="output folder (default: next to this script)")
    parser.add_argument("--check", action="store_true", help="re-measure the files in --out on the model; write nothing")
    args = parser.parse_args(argv)
    loaded = load_model()
    out = Path(args.out)
    if args.check:
        return 0 if check(loaded, [out / name for name in FILES]) else 1
    for path in write_all(loaded, out):
        print(path)
    if out.resolve() == HERE.resolve():
        # load_circuit_task's built-in tasks are these files, shipped inside the client package.
        PACKAGED.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copyfile(HERE / name, PACKAGED / name)
            print(PACKAGED / name)
    check(loaded, [out / name for name in FILES])
    return 0


if __name__ == "__main__":
    sys.exit(main())
