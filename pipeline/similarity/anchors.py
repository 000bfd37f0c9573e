"""Language-independent anchor tokens: the part of a story that survives translation.

A machine translation shares almost no words with its original, but it keeps the
numbers (``21,600``, ``2025``), the dates and the proper names (``Ito Naoki``, ``JICA``),
and it keeps them in roughly the same order. The anchors, plus each pair of consecutive
anchors, form a language-independent fingerprint: two articles in different languages
whose fingerprints overlap strongly are probably one story. The pairs matter: two
reviews of one book by different critics share the author's name and the title, but
not the order in which a translation walks through the same names and figures.

This is evidence for a ``probable_translation`` relation, never for a duplicate decision
on its own: two reports of the same earnings figures or the same summit share anchors.

Numbers are kept as digit strings without separators (``1,042,000``, ``1.042.000`` and
``1 042 000`` agree; so do ``38.5`` and ``38,5``); single digits are too common to tell
anything. A capitalised word counts as a name unless it opens a sentence (an acronym
always counts); names are compared without diacritics (``Hà Nội`` and ``Ha Noi`` agree)
and by their first five letters, so inflected forms (``Japans``, ``Shigerus``,
``Fukuoka-provinsen``) still agree.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["anchor_sequence", "anchor_tokens"]

_NUMBER = r"\d(?:[\d.,\u00a0\u202f ]*\d)?"
_SENTENCE_END = frozenset(".!?:;\n\"«»“”()[]|")
_MIN_NAME = 3
_NAME_PREFIX = 5  # "Japan", "Japans", "Japan's" and "Japanese" all read "japan"


# A number, or a word whose first letter is not an ASCII/Latin-1 lower-case one: a cheap
# prefilter (``re`` has no ``\p{Lu}``); ``anchor_sequence`` keeps only real capitals.
_ANCHOR = re.compile(rf"{_NUMBER}|\b[^\W\d_a-z\u00df-\u00ff][^\W\d_]*", re.UNICODE)


@lru_cache(maxsize=1 << 16)
def _name_stem(word: str) -> str:
    """Diacritics stripped, case folded, first letters: names repeat, so cached."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()[
        :_NAME_PREFIX]


def _opens_sentence(text: str, start: int) -> bool:
    """Whether the word at ``start`` follows a sentence end (within 3 characters)."""
    before = text[max(0, start - 3):start]
    kept = before.rstrip()
    if start == 0 or not kept:
        return True
    return kept[-1] in _SENTENCE_END or "\n" in before[len(kept):]


def anchor_sequence(text: str) -> list[str]:
    """Numbers (``#`` + digits) and name stems of ``text``, in text order."""
    text = unicodedata.normalize("NFKC", text)
    out: list[str] = []
    for match in _ANCHOR.finditer(text):
        token = match.group(0)
        if token[0].isdigit():
            digits = "".join(c for c in token if c.isdigit())
            if len(digits) >= 2:
                out.append("#" + (digits.lstrip("0") or "0")[:12])
            continue
        if len(token) < _MIN_NAME or not token[0].isupper():
            continue
        if _opens_sentence(text, match.start()) and not token.isupper():
            continue
        out.append(_name_stem(token))
    return out


def anchor_tokens(text: str) -> tuple[frozenset[str], int]:
    """(distinct anchors and ordered anchor pairs, number of distinct anchors)."""
    sequence = anchor_sequence(text)
    singles = set(sequence)
    pairs = {f"{a}>{b}" for a, b in zip(sequence, sequence[1:], strict=False) if a != b}
    return frozenset(singles | pairs), len(singles)
