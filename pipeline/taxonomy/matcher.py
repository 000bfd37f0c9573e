"""Aho–Corasick term matching: one pass over the text finds every taxonomy term.

Terms are stored by their folded core (the term without ``*``); a hit is kept when its
word boundaries fit the term's stars (and, for a term written with capitals, its case,
away from a sentence start where capitals prove nothing), then overlapping hits are resolved leftmost-longest, so
``defence lawyer`` beats ``defence`` and ``forsvarsadvokat*`` beats ``forsvars*``.
Reported spans cover whole words, so evidence for ``*vindkraft*`` points at
``havvindkraft``; offsets index the text exactly as it was given.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick

__all__ = ["MAX_HITS", "Entry", "Hit", "TermMatcher", "fold"]

# Real articles have hundreds of hits; past this many, a text is machine-made and the
# rest of it adds no evidence, only work (a 1 MB body of taxonomy terms would take seconds).
MAX_HITS = 10_000


@dataclass(frozen=True, slots=True)
class Entry:
    """What a term means: ``tag`` None marks an exclusion; ``kind`` is anchor or context."""

    term: str
    tag: str | None
    weight: float
    kind: str


@dataclass(frozen=True, slots=True)
class Hit:
    start: int
    end: int
    term: str
    entries: tuple[Entry, ...]


# Vietnamese writes the tone of "oa", "oe", "uy" on either vowel (hóa/hoá, thủy/thuỷ);
# both spellings are folded to the tone-on-first-vowel form, one character for one.
_TONES = {"\u0301": "áéý", "\u0300": "àèỳ", "\u0309": "ảẻỷ", "\u0303": "ãẽỹ", "\u0323": "ạẹỵ"}
_VI_TONE = {}
for _mark, (_a, _e, _y) in _TONES.items():
    for _first, _second, _marked in (("o", "a", _a), ("o", "e", _e), ("u", "y", _y)):
        _VI_TONE[_first + _marked] = unicodedata.normalize("NFC", _first + _mark) + _second
_VI_PAIR = re.compile("|".join(_VI_TONE))


def fold(text: str) -> str:
    """Lower case (and Vietnamese tone placement folded) with one output character per
    input character, so offsets found in the folded text index the original."""
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = "".join(c if len(low := c.lower()) != 1 else low for c in text)
    return _VI_PAIR.sub(lambda m: _VI_TONE[m.group()], lowered)


def _is_word(c: str) -> bool:
    return c.isalnum() or c in "\u0300\u0301\u0303\u0309\u0323"  # combining Vietnamese tones


def _sentence_initial(text: str, start: int) -> bool:
    """Capitals prove nothing at the start of a sentence, a line or a quote."""
    i = start - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    return i < 0 or text[i] in ".!?:;\n\r«»\"'“”‘’-–—(["


class TermMatcher:
    """Built once (per worker) from entries; ``find`` is then one automaton pass per text."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        by_term: dict[str, list[Entry]] = {}
        for entry in entries:
            by_term.setdefault(entry.term, []).append(entry)
        by_core: dict[str, list[tuple[str, bool, bool, str | None, tuple[Entry, ...]]]] = {}
        for term, group in by_term.items():
            core = term.strip("*")
            exact = core if core != core.lower() else None  # capitals: match exactly
            by_core.setdefault(fold(core), []).append(
                (term, term.startswith("*"), term.endswith("*"), exact, tuple(group)))
        self._automaton = ahocorasick.Automaton()
        for core, variants in by_core.items():
            self._automaton.add_word(core, (len(core), tuple(variants)))
        self._size = len(by_term)
        if self._size:
            self._automaton.make_automaton()

    def __len__(self) -> int:
        return self._size

    def find(self, text: str, max_hits: int = MAX_HITS) -> list[Hit]:
        """Non-overlapping hits in text order (matching stops after ``max_hits``)."""
        if not self._size or not text:
            return []
        folded = fold(text)
        n = len(folded)
        candidates: list[tuple[int, int, int, Hit]] = []
        for last, (length, variants) in self._automaton.iter(folded):
            start, end = last - length + 1, last + 1
            inside_before = start > 0 and _is_word(folded[start - 1])
            inside_after = end < n and _is_word(folded[end])
            for term, open_left, open_right, exact, entries in variants:
                if (inside_before and not open_left) or (inside_after and not open_right):
                    continue
                if exact is not None and (text[start:end] not in (exact, exact.upper())
                                          or _sentence_initial(text, start)):
                    continue
                s, e = start, end
                while open_left and s > 0 and _is_word(folded[s - 1]):
                    s -= 1
                while open_right and e < n and _is_word(folded[e]):
                    e += 1
                candidates.append((s, -(e - s), -length, Hit(s, e, term, entries)))
            if len(candidates) >= max_hits:
                break
        candidates.sort(key=lambda c: c[:3])
        hits: list[Hit] = []
        taken_until = 0
        for start, _, _, hit in candidates:
            if start >= taken_until:
                hits.append(hit)
                taken_until = hit.end
        return hits
