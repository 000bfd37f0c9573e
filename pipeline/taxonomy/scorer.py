"""Scoring: weighted term hits, title and lead over body, normalised for length.

For each tag, every hit of an anchor term adds ``weight × field factor``; the title counts
``TITLE_FACTOR`` times, the lead (the body's first ``LEAD_CHARS`` characters)
``LEAD_FACTOR`` times, the rest once. Repeats of the same term add less and less
(``REPEAT_DECAY`` per repeat), so one word said ten times is not ten pieces of evidence.
Context terms count only when an anchor of the tag matched.

Length: the whole-article sum is divided by ``sqrt(max(1, words / REFERENCE_WORDS))``,
so a long article needs more evidence than a short one and a passing mention in a long
text stays low. A long article can still be partly about a topic (an interview with one
paragraph on defence): the best ``WINDOW_CHARS`` stretch of body (plus the title) scores
like a short article, discounted by ``WINDOW_FACTOR``. The score is the larger of the two.
The constants were chosen by cross-validation on the development set
(``bench/eval_topics.py --tune``); per-tag thresholds live in ``tags.yaml``."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

from pipeline.taxonomy.matcher import Entry, Hit, TermMatcher
from pipeline.taxonomy.schema import LanguageTerms, Taxonomy, load_taxonomy
from schemas.models import Evidence, TopicTag
from schemas.routes import TAGS

__all__ = ["TagScore", "TopicTagger"]

TITLE_FACTOR = 3.0
LEAD_FACTOR = 2.0
LEAD_CHARS = 400
REPEAT_DECAY = 0.5
REFERENCE_WORDS = 200
WINDOW_CHARS = 1500  # ~250 words: a section dedicated to a topic counts like a short article
WINDOW_FACTOR = 0.6
MAX_WINDOW_HITS = 200  # beyond this many hits, windows are sampled and capped
MAX_EVIDENCE = 20
_ALIASES = {"no": "nb"}
_WORD = re.compile(r"\w+")


@dataclass
class TagScore:
    """A tag's score on one article (given or not), with the hits behind it."""

    tag: str
    score: float = 0.0
    given: bool = False
    evidence: list[Evidence] = field(default_factory=list)


def _entries(lang: LanguageTerms) -> list[Entry]:
    out = [Entry(term, None, 0.0, "exclude") for term in lang.exclude]
    for tag, terms in lang.tags.items():
        out += [Entry(t, tag, w, "anchor") for t, w in terms.terms.items()]
        out += [Entry(t, tag, w, "context") for t, w in terms.context.items()]
    if lang.language in _UNACCENTED_TOO:
        out += _unaccented(out)
    return out


# Languages often typed without their diacritics (Vietnamese in chat, comments and some
# feeds: "gia xang dau" for "giá xăng dầu").
_UNACCENTED_TOO = frozenset({"vi"})


def _strip_accents(term: str) -> str:
    decomposed = unicodedata.normalize("NFD", term.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize("NFC", "".join(
        c for c in decomposed if not unicodedata.combining(c)))


def _unaccented(entries: list[Entry]) -> list[Entry]:
    """Each phrase of two or more syllables also spelled without diacritics. Single
    syllables stay accented only: bare, they collide ("dau" is dầu oil, đầu head, đau
    pain); a phrase rarely does. Unaccented spellings never match accented text, so no
    evidence counts twice."""
    known = {e.term for e in entries}
    out = []
    for e in entries:
        plain = _strip_accents(e.term)
        if " " in e.term.strip("*") and plain != e.term and plain not in known:
            known.add(plain)  # two phrases spelled alike unaccented: the first keeps it
            out.append(Entry(plain, e.tag, e.weight, e.kind))
    return out


class TopicTagger:
    """Tags an article's title and body in a given language. Build once, reuse."""

    def __init__(self, taxonomy: Taxonomy | None = None) -> None:
        self.taxonomy = taxonomy or load_taxonomy()
        self._matchers: dict[str, TermMatcher] = {
            code: TermMatcher(_entries(lang)) for code, lang in self.taxonomy.languages.items()}
        merged: dict[tuple[str, str | None, str], Entry] = {}
        for lang in self.taxonomy.languages.values():
            for e in _entries(lang):
                key = (e.term, e.tag, e.kind)
                if key not in merged or e.weight > merged[key].weight:
                    merged[key] = e
        self._fallback = TermMatcher(merged.values())  # every language's terms

    def matcher_for(self, language: str) -> TermMatcher:
        code = _ALIASES.get(language, language)
        return self._matchers.get(code) or self._fallback

    def score(self, title: str, body: str, language: str) -> dict[str, TagScore]:
        """Every tag's score and evidence, whether or not it reaches its threshold."""
        matcher = self.matcher_for(language)
        fields = (("title", title or "", matcher.find(title or "")),
                  ("body", body or "", matcher.find(body or "")))
        words = len(_WORD.findall(title or "")) + len(_WORD.findall(body or ""))
        norm = math.sqrt(max(1.0, words / REFERENCE_WORDS))
        scores = {tag: TagScore(tag) for tag in self.taxonomy.tags}
        for tag, result in scores.items():
            result.score, result.evidence = self._score_tag(tag, fields, norm)
            result.given = result.score >= self.taxonomy.tags[tag].threshold
        return scores

    def tag(self, title: str, body: str, language: str) -> list[TopicTag]:
        """The tags given, in ``TAGS`` order, with score, IPTC code and evidence."""
        scores = self.score(title, body, language)
        order = {t: i for i, t in enumerate(TAGS)}
        return [TopicTag(tag=s.tag, score=round(s.score, 4),
                         iptc_code=self.taxonomy.tags[s.tag].iptc_code, evidence=s.evidence)
                for s in sorted(scores.values(), key=lambda s: order.get(s.tag, len(order)))
                if s.given]

    @staticmethod
    def _score_tag(tag: str, fields: tuple[tuple[str, str, list[Hit]], ...],
                   norm: float) -> tuple[float, list[Evidence]]:
        found = _collect(tag, fields)
        if not any(f.entry.kind == "anchor" and f.entry.weight > 0 for f in found):
            return 0.0, []  # context terms alone prove nothing
        decayed = _decay(found)
        total = max(sum(decayed) / norm, WINDOW_FACTOR * _best_window(found))
        ranked = sorted((p for p in zip(found, decayed, strict=True) if p[1] > 0),
                        key=lambda p: -p[1])[:MAX_EVIDENCE]
        ranked.sort(key=lambda p: (p[0].field != "title", p[0].hit.start))
        evidence = [Evidence(term=f.entry.term, field=f.field, start=f.hit.start,
                             end=f.hit.end, weight=round(w / norm, 4)) for f, w in ranked]
        return max(total, 0.0), evidence


@dataclass(frozen=True, slots=True)
class _Found:
    field: str
    hit: Hit
    entry: Entry
    base: float  # weight × field factor, before repeats decay


def _collect(tag: str, fields: tuple[tuple[str, str, list[Hit]], ...]) -> list[_Found]:
    found = []
    for name, _, hits in fields:
        for hit in hits:
            for entry in hit.entries:
                if entry.tag != tag:
                    continue
                factor = 1.0
                if name == "title":
                    factor = TITLE_FACTOR
                elif hit.start < LEAD_CHARS:
                    factor = LEAD_FACTOR
                found.append(_Found(name, hit, entry, entry.weight * factor))
    return found


def _best_window(found: list[_Found]) -> float:
    """The best title + ``WINDOW_CHARS`` stretch of body, scored without length norm."""
    title = [f for f in found if f.field == "title"]
    body = [f for f in found if f.field != "title"]  # in text order
    best, end, last_start = 0.0, 0, -WINDOW_CHARS
    exact = len(body) <= MAX_WINDOW_HITS  # else sample the starts: bounded work on any input
    for i, first in enumerate(body):
        if not exact and first.hit.start < last_start + WINDOW_CHARS // 5:
            continue
        last_start = first.hit.start
        while end < len(body) and body[end].hit.start < first.hit.start + WINDOW_CHARS:
            end += 1
        best = max(best, sum(_decay(title + body[i:min(end, i + MAX_WINDOW_HITS)])))
    return best


def _decay(found: list[_Found]) -> list[float]:
    """Each hit's contribution, the n-th repeat of a term counting REPEAT_DECAY**n."""
    seen: dict[str, int] = {}
    out = []
    for f in found:
        repeat = seen.get(f.entry.term, 0)
        seen[f.entry.term] = repeat + 1
        out.append(f.base * REPEAT_DECAY ** repeat)
    return out
