"""Language-independent anchor tokens: the part of a story that survives translation.

A machine translation shares almost no words with its original, but it keeps the
numbers (``21,600``, ``2025``), the dates and the proper names (``Ito Naoki``, ``JICA``).
The set of those anchors is a language-independent fingerprint; two articles in
different languages with strongly overlapping anchors are probably one story. This is
evidence for a ``probable_translation`` relation, never for a duplicate decision on its
own: two reports of the same earnings figures or the same summit share anchors too.

Numbers are kept as digit strings without separators (``1,042,000``, ``1.042.000`` and
``1 042 000`` agree; so do ``38.5`` and ``38,5``); single digits are too common to tell
anything. A capitalised word counts as a name unless it opens a sentence, and names are
compared without diacritics (``Hà Nội`` and ``Ha Noi`` agree).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["anchor_tokens"]

_NUMBER = re.compile(r"\d(?:[\d.,\u00a0\u202f ]*\d)?")
_WORD = re.compile(r"[^\W\d_][\w'\-]*", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?:;\n\"«»“”()\[\]|]\s*$")
_MIN_NAME = 3


def _strip_marks(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _numbers(text: str) -> set[str]:
    out: set[str] = set()
    for match in _NUMBER.finditer(text):
        digits = "".join(c for c in match.group(0) if c.isdigit())
        if len(digits) >= 2:
            out.add("#" + digits.lstrip("0")[:12] if digits.strip("0") else "#0")
    return out


def _names(text: str) -> set[str]:
    out: set[str] = set()
    for match in _WORD.finditer(text):
        word = match.group(0)
        if len(word) < _MIN_NAME or not word[0].isupper():
            continue
        before = text[max(0, match.start() - 3):match.start()]
        if match.start() == 0 or _SENTENCE_END.search(before) or not before.strip():
            if not word.isupper():  # an acronym is a name even at a sentence start
                continue
        out.add(_strip_marks(word.strip("'-")))
    return out


def anchor_tokens(text: str) -> frozenset[str]:
    """Numbers and proper names of ``text`` (NFKC-normalised), as comparable strings."""
    text = unicodedata.normalize("NFKC", text)
    return frozenset(_numbers(text) | _names(text))
