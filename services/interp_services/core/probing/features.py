"""From tokens to the vectors a probe reads: words located in their text, a word's sub-word tokens
found from the tokenizer's character offsets, and the positions a pooled vector averages (the
model host pools them, ``RunModelRequest.capture_pooling``).

A word-level label (a part of speech, a head in a tree) belongs to a word, while the model sees
sub-word tokens. Each word is located in the text (in order), and its tokens are the ones whose
character span overlaps the word's. Byte-level BPE pieces carry their leading space
(``" quick"`` spans the space too), which overlap handles without special cases.

Example:
    >>> word_spans("The fox jumped.", ["The", "fox", "jumped", "."])
    [(0, 3), (4, 7), (8, 14), (14, 15)]
    >>> word_tokens([(0, 3), (4, 7)], starts=[0, 3], ends=[3, 7])
    [[0], [1]]
"""

from __future__ import annotations

from collections.abc import Sequence

from interp_services.core.errors import invalid
from interp_services.core.reasons import Reason

__all__ = ["positions_to_pool", "word_spans", "word_tokens"]


def word_spans(text: str, words: Sequence[str], field: str = "words") -> list[tuple[int, int]]:
    """The character span of each word in ``text``, found left to right.

    Raises:
        InvalidArgument: WORDS_NOT_ALIGNED when a word is empty or not found after the previous one.
    """
    spans: list[tuple[int, int]] = []
    cursor = 0
    for i, word in enumerate(words):
        if not word:
            raise invalid(Reason.WORDS_NOT_ALIGNED, f"{field}[{i}]", "a word must not be empty")
        at = text.find(word, cursor)
        if at < 0:
            raise invalid(Reason.WORDS_NOT_ALIGNED, f"{field}[{i}]", f"{word!r} does not occur in the text after character {cursor}")
        spans.append((at, at + len(word)))
        cursor = at + len(word)
    return spans


def word_tokens(spans: Sequence[tuple[int, int]], starts: Sequence[int], ends: Sequence[int]) -> list[list[int]] | None:
    """Token indices of each word: the tokens whose character span overlaps the word's (special
    tokens, marked -1, never do). None when some word has no token (its characters were dropped
    by the tokenizer)."""
    out: list[list[int]] = []
    for a, b in spans:
        idx = [t for t, (s, e) in enumerate(zip(starts, ends, strict=True)) if s >= 0 and s < b and e > a]
        if not idx:
            return None
        out.append(idx)
    return out


def positions_to_pool(positions: Sequence[int], how: str) -> list[int]:
    """The positions whose mean is the pooled vector: all of ``positions`` for ``"mean"``, the
    last or the first of them for ``"last"`` / ``"first"``.

    Example:
        >>> positions_to_pool([3, 4, 5], "last"), positions_to_pool([3, 4, 5], "mean")
        ([5], [3, 4, 5])
    """
    if how == "last":
        return [positions[-1]]
    if how == "first":
        return [positions[0]]
    return list(positions)
