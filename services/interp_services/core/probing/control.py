"""Control tasks (Hewitt & Liang 2019): how much of a probe's accuracy is the probe's own doing.

A probe that reaches 97% on part-of-speech tags may have *found* syntax in the representation, or
it may have *memorised* which word forms carry which tag, something a strong probe can do on
almost any representation that tells word types apart. A control task keeps the first
possibility out: every word type gets a random label (drawn once per type from the empirical
label distribution) and the same probe, trained the same way, is fitted to those labels. The
control labels are a function of the word type alone, so the only way to predict them on the test
split is to remember each type's label from training.

**Selectivity = task score - control score.** A high selectivity says the representation makes
the real labels easy *beyond* what memorising types buys; a probe with high task accuracy and
low selectivity says more about the probe than about the representation.

For sentence-level tasks the "type" cannot be the whole text: texts rarely repeat, so no test
text's control label would ever be seen in training and the control would sit at chance by
construction, making selectivity a mere "accuracy minus chance". :func:`sentence_control_labels`
keeps Hewitt & Liang's definition by *word* types instead: every word type gets a random weight,
a sentence's control score is the mean weight of its words, and the sentences are cut at the
quantiles of that score into bins the size of the task's classes. The control label is thus a
function of lexical identity alone (which words, how often), independent of the task's labels,
with the task's label distribution; a probe reading a mean-pooled representation that encodes
which words occur can learn it (the score is linear in the bag of words, and intervals of one
linear score are what a multinomial logistic probe can draw), and one that encodes only the
task's labels cannot.

For structural probes the control is a random tree of the same kind: every word type is assigned
at random, once, to either attach to the previous word or to the first word of its sentence
(Hewitt & Liang's control for dependency structure, reduced to the two behaviours that always
give a tree).

Both assignments use a stable hash of ``(seed, type)`` rather than Python's ``hash()``, whose
string hashing is salted per process: the same seed gives the same control labels on every
replica and every run.

Example:
    >>> control_labels(["the", "cat", "the", "dog"], [0, 1, 0, 1], n_labels=2, seed=0).tolist()
    [1, 1, 1, 0]
    >>> control_heads([["the", "cat", "sat", "on", "a", "mat"]], seed=0)
    [[0, 1, 2, 1, 4, 5]]
    >>> sentence_control_labels(["a good film", "a bad film", "good good", "bad"], [0, 1, 0, 1], n_labels=2, seed=0).tolist()
    [0, 0, 1, 1]
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

__all__ = [
    "control_heads",
    "control_labels",
    "sentence_control_labels",
]

# Words of a sentence-level text for its control task: runs of letters, digits and underscores
# (Unicode-aware), lower-cased by the caller; punctuation carries no word type.
_WORD = re.compile(r"\w+")


def _uniform(seed: int, tag: str, word_type: str) -> float:
    """A number in [0, 1) that depends only on ``(seed, tag, word_type)``.

    The unit separator keeps ``("1", "2x")`` and ``("12", "x")`` apart; 53 bits of the digest give
    every double in [0, 1) on the grid ``2**-53``.
    """
    digest = hashlib.blake2b(f"{seed}\x1f{tag}\x1f{word_type}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 11) / float(1 << 53)


def _checked_labels(items: Sequence[object], name: str, labels: Sequence[int], n_labels: int) -> np.ndarray:
    """``labels`` as ``int64``, one per item of ``items`` (called ``name``), each in ``[0, n_labels)``."""
    y = np.asarray(labels, dtype=np.int64)
    if len(items) != len(y):
        raise ValueError(f"{name} has {len(items)} entries but labels has {len(y)}")
    if len(y) == 0:
        raise ValueError("control labels need at least one item")
    if n_labels < 1 or y.min() < 0 or y.max() >= n_labels:
        raise ValueError(f"labels must be in [0, {n_labels})")
    return y


def control_labels(types: Sequence[str], labels: Sequence[int], n_labels: int, seed: int) -> np.ndarray:
    """One random label per distinct type, drawn from the empirical distribution of ``labels``.

    Args:
        types: ``[n_items]`` the type of each item: the word form for token-level tasks
            (lower-case it first if case variants should share a label), the whole text for
            sentence-level tasks.
        labels: ``[n_items]`` the task's labels, each in ``[0, n_labels)``; only their
            distribution is used.
        n_labels: number of classes.
        seed: the same seed and type always give the same control label.

    Returns:
        ``[n_items]`` ``int64`` control labels; items of one type share their label.

    Raises:
        ValueError: no items, lengths differ, or a label outside ``[0, n_labels)``.

    Example:
        >>> c = control_labels(["a", "b", "a"], [0, 1, 1], n_labels=2, seed=3)
        >>> bool(c[0] == c[2])
        True
    """
    y = _checked_labels(types, "types", labels, n_labels)
    # Inverse-CDF sampling with a per-type uniform: the label of a type depends on the type, the
    # seed and the label distribution only, not on which other types happen to be present.
    cdf = np.cumsum(np.bincount(y, minlength=n_labels)) / len(y)
    per_type: dict[str, int] = {}
    out = np.empty(len(y), dtype=np.int64)
    for i, t in enumerate(types):
        label = per_type.get(t)
        if label is None:
            label = min(int(np.searchsorted(cdf, _uniform(seed, "label", t), side="right")), n_labels - 1)
            per_type[t] = label
        out[i] = label
    return out


def sentence_control_labels(texts: Sequence[str], labels: Sequence[int], n_labels: int, seed: int) -> np.ndarray:
    """Control labels of sentence-level items, made from their *word* types.

    Every word type (a lower-cased run of ``\\w`` characters) gets a weight uniform in
    ``[-1, 1)`` from a stable hash of ``(seed, type)``; a text's score is the mean weight of its
    words (0 for a text without any); texts are ranked by score and cut into bins holding, in
    label order, as many texts as the task has of each label. Texts with equal scores (the same
    words in the same proportions) always share a bin, so the bins can differ from the label
    counts by the number of such ties.

    The label depends on which words a text holds and on the analysis' score quantiles, never on
    its task label: a representation that encodes lexical identity lets a probe score well on it
    (memorising the weights of the word types seen in training), one that encodes only the task
    leaves it at chance. See the module docstring for why whole texts make a vacuous control.

    Args:
        texts: ``[n_items]`` the text of each item.
        labels: ``[n_items]`` the task's labels, each in ``[0, n_labels)``; only their counts are
            used.
        n_labels: number of classes.
        seed: the same seed and texts always give the same control labels.

    Returns:
        ``[n_items]`` ``int64`` control labels.

    Raises:
        ValueError: no items, lengths differ, or a label outside ``[0, n_labels)``.

    Example:
        >>> c = sentence_control_labels(["the cat", "the dog", "a cat", "a dog"], [0, 0, 1, 1], n_labels=2, seed=1)
        >>> sorted(c.tolist())  # the task's label counts, assigned by word types
        [0, 0, 1, 1]
    """
    y = _checked_labels(texts, "texts", labels, n_labels)
    weight: dict[str, float] = {}
    scores = np.zeros(len(y))
    for i, text in enumerate(texts):
        words = _WORD.findall(text.lower())
        for w in words:
            if w not in weight:
                weight[w] = 2.0 * _uniform(seed, "sentence", w) - 1.0
        scores[i] = sum(weight[w] for w in words) / len(words) if words else 0.0
    # Bin k holds the sorted positions [ends[k - 1], ends[k]); a text goes to the first bin whose
    # last score is >= its own, so equal scores share a bin and an empty class gets an empty bin.
    ends = np.cumsum(np.bincount(y, minlength=n_labels))
    ordered = np.sort(scores)
    last = np.where(ends[:-1] > 0, ordered[np.maximum(ends[:-1] - 1, 0)], -np.inf)
    return np.searchsorted(last, scores, side="left").astype(np.int64)


def control_heads(sentences: Sequence[Sequence[str]], seed: int) -> list[list[int]]:
    """Control trees for structural probes: each word type always attaches the same way.

    Every word type is assigned at random (stable, seeded) one behaviour -- attach to the
    previous word, or attach to the first word of the sentence -- and the first word of every
    sentence is the root. Every head points left, so the result is always a tree.

    Args:
        sentences: the words of each sentence (lower-case them first if case variants should
            behave alike).
        seed: the same seed and word type always give the same behaviour.

    Returns:
        One list per sentence of CoNLL-style heads: 1-based, 0 for the root.

    Example:
        >>> heads = control_heads([["a", "b", "c", "d"]], seed=0)[0]
        >>> heads[0], heads[1], all(1 <= h <= i for i, h in enumerate(heads[1:], start=1))
        (0, 1, True)
    """
    behaviour: dict[str, bool] = {}
    out: list[list[int]] = []
    for words in sentences:
        heads: list[int] = []
        for i, w in enumerate(words):
            if i == 0:
                heads.append(0)
                continue
            to_first = behaviour.get(w)
            if to_first is None:
                to_first = _uniform(seed, "head", w) < 0.5
                behaviour[w] = to_first
            # 1-based: the previous word (0-based i - 1) is head i; the first word is head 1.
            heads.append(1 if to_first else i)
        out.append(heads)
    return out
