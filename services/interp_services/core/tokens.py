"""Tokens as a reader should see them.

Tokenizers name their pieces in private alphabets: GPT-2-style byte-level BPE writes a leading
space as ``Ġ`` and a newline as ``Ċ`` ("Ġlazy"), SentencePiece writes ``▁``, WordPiece marks
continuations with ``##``. Every place that shows a token to a person (findings, hotspots, CLI
output, HTML reports) uses one display form, computed here with the model's own tokenizer so no
client has to know any of those alphabets. The raw pieces stay available next to it.

The display form of a token is its decoded text with surrounding whitespace trimmed and control
characters escaped (``\\n``, ``\\t``, ``\\x07``); a token that is only whitespace shows each
space as ``␣``; a token that decodes to part of a multi-byte character (``\\ufffd``) shows its
raw piece instead, because half a character has no text.

Example:
    >>> display_text(" lazy", "Ġlazy"), display_text("\\n", "Ċ"), display_text("  ", "ĠĠ")
    ('lazy', '\\\\n', '␣␣')
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["char_offsets", "display_text", "display_tokens"]

_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch == " ":
            out.append("␣")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def display_text(decoded: str, raw: str) -> str:
    """The display form of one token from its decoded text and its raw piece."""
    if "\ufffd" in decoded or not decoded:
        return raw
    trimmed = decoded.strip()
    if not trimmed:
        return _escape(decoded)
    # Inner spaces (rare: merged whitespace tokens) stay spaces; only control characters escape.
    return "".join(_ESCAPES.get(ch, f"\\x{ord(ch):02x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch) for ch in trimmed)


def display_tokens(tokenizer: object, ids: Sequence[int], raw: Sequence[str] | None = None) -> list[str]:
    """The display form of every token of ``ids``.

    Args:
        tokenizer: a Hugging Face tokenizer (``batch_decode`` and ``convert_ids_to_tokens``).
        ids: token ids.
        raw: the raw pieces of ``ids`` if the caller already has them.

    Returns:
        One string per id.
    """
    ids = [int(i) for i in ids]
    if raw is None:
        raw = tokenizer.convert_ids_to_tokens(ids)  # type: ignore[attr-defined]
    decoded = tokenizer.batch_decode(  # type: ignore[attr-defined]
        [[i] for i in ids], skip_special_tokens=False, clean_up_tokenization_spaces=False
    )
    return [display_text(d, r) for d, r in zip(decoded, raw, strict=True)]


def char_offsets(tokenizer: object, text: str, ids: Sequence[int]) -> tuple[list[int], list[int]] | None:
    """Where each token of ``text`` starts and ends in it (characters, end exclusive; -1 for
    special tokens), or None when the tokenizer cannot say (a slow tokenizer, or one whose
    offsets do not describe ``ids``).

    Byte-level BPE pieces carry their leading space, so a word's tokens are the ones whose span
    overlaps the word's span.

    Example:
        >>> char_offsets(tok, "The fox", tok("The fox")["input_ids"])  # doctest: +SKIP
        ([0, 3], [3, 7])
    """
    if not getattr(tokenizer, "is_fast", False):
        return None
    enc = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True, return_special_tokens_mask=True)  # type: ignore[operator]
    if list(enc["input_ids"]) != [int(i) for i in ids]:
        return None
    starts, ends = [], []
    for (a, b), special in zip(enc["offset_mapping"], enc["special_tokens_mask"], strict=True):
        starts.append(-1 if special else int(a))
        ends.append(-1 if special else int(b))
    return starts, ends
