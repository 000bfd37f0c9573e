"""Text-mode cleaning: a line classifier that keeps the article and nothing else.

Three passes, each removal tagged with a reason (the record's audit trail):
1. known chrome by pattern (``patterns.yaml``), learned per-site chrome, captions and
   source lines (harvested first), and headline lists after related-content headings;
2. jusText-style features (length, stopword density) classify what is left as
   ``good`` prose or ``short``/``low``-density lines;
3. context: short lines between good paragraphs stay (sub-headings, quotes), short
   non-sentences at the edges of the article go (site banners, menus, teasers).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from pipeline.boilerplate.context import is_good, revise_extracted, revise_text
from pipeline.boilerplate.features import (
    LineFeatures,
    choose_stoplist,
    line_features,
    normalise_line,
)
from pipeline.boilerplate.harvest import clean_caption, source_url_of
from pipeline.boilerplate.rules import Rules, load_rules
from pipeline.boilerplate.site_chrome import line_key
from schemas.models import BoilerplateStats

__all__ = ["LineDecision", "Mode", "TextCleaning", "clean_text"]

Mode = Literal["text", "extracted"]

_CAPTION_MAX = 400
_PATTERN_MAX = 1200
_TABLE_ROW = re.compile(r"\|.*\|")


@dataclass(frozen=True)
class LineDecision:
    """One non-empty input line and why it was removed (``reason is None``: kept)."""

    text: str
    reason: str | None = None


@dataclass(frozen=True)
class TextCleaning:
    decisions: tuple[LineDecision, ...]
    captions: tuple[str, ...] = ()
    source_url: str | None = None
    headline: str | None = None

    @property
    def paragraphs(self) -> list[str]:
        return [d.text for d in self.decisions if d.reason is None]

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def removed(self) -> list[LineDecision]:
        return [d for d in self.decisions if d.reason is not None]

    def stats(self) -> BoilerplateStats:
        """Audit counts for the record: lines and characters removed, per reason."""
        reasons: dict[str, int] = {}
        for d in self.removed:
            reasons[d.reason] = reasons.get(d.reason, 0) + 1  # type: ignore[index]
        return BoilerplateStats(
            lines_kept=len(self.paragraphs), lines_removed=len(self.removed),
            chars_removed=sum(len(d.text) for d in self.removed), reasons=reasons)


def _shouted_teaser(line: str, f: LineFeatures) -> bool:
    """An all-caps line of several words that is not a sentence: a link to another story.

    News sites set inline "related story" links in capitals between paragraphs
    ("SEAN SPICER ELIMINATED FROM ..."); sub-headings in capitals are rarer and shorter.
    """
    if f.n_words < 7 or f.sentence_end or f.chars > 200:
        return False
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 20 and sum(c.isupper() for c in letters) >= 0.95 * len(letters)


def _leaves_related(f: LineFeatures, good: bool) -> bool:
    """A paragraph long enough that it is prose again, not a headline teaser."""
    return good and f.sentence_end and (f.chars >= 200 or (f.no_space_script and f.chars >= 100))


def clean_text(text: str, *, title: str | None = None,
               site_chrome: Collection[int] = (), rules: Rules | None = None,
               mode: Mode = "text") -> TextCleaning:
    """Split ``text`` into lines and decide each one; see the module docstring.

    ``mode="extracted"`` is for text already cut by a main-content extractor: the
    edge rules are gentler since the extractor has already dropped the page frame.
    """
    rules = rules or load_rules()
    lines = [n for n in (normalise_line(raw) for raw in text.splitlines()) if n]
    stoplist = choose_stoplist(lines, rules)
    feats = [line_features(line, stoplist) for line in lines]
    good = [is_good(f, mode) for f in feats]
    reasons: list[str | None] = [None] * len(lines)
    captions: list[str] = []
    source_url: str | None = None
    title_key = normalise_line(title).casefold() if title else None

    after_image = False
    in_related = False
    seen: set[str] = set()
    prose_seen = False  # a good line came before: a title match further down is prose
    for i, (line, f) in enumerate(zip(lines, feats, strict=True)):
        prev_image, after_image = after_image, False
        prose_above, prose_seen = prose_seen, prose_seen or good[i]
        folded = line.casefold()
        if _TABLE_ROW.fullmatch(line):
            continue  # a table the extractor kept is content; the context pass skips it
        is_source, url = source_url_of(line, rules)
        if is_source:
            reasons[i] = "source"
            source_url = source_url or url
            continue
        if in_related:
            if _leaves_related(f, good[i]):
                in_related = False
            else:
                chrome = None
                if f.chars <= _PATTERN_MAX and not rules.is_related_heading(line):
                    chrome = rules.chrome_reason(line)
                reasons[i] = chrome if chrome not in (None, "image") else "related"
                continue
        if site_chrome and line_key(line) in site_chrome:
            reasons[i] = "site_chrome"
            continue
        chrome = rules.chrome_reason(line) if f.chars <= _PATTERN_MAX else None
        if chrome == "image":
            reasons[i] = "image"
            after_image = True
            continue
        if f.chars <= _CAPTION_MAX and (
                (prev_image and (line.endswith("|") or f.chars <= 300))
                or rules.has_caption_credit(line)):
            reasons[i] = "caption"
            caption = clean_caption(line)
            if caption:
                captions.append(caption)
            continue
        if chrome is not None:
            reasons[i] = chrome
            continue
        if _shouted_teaser(line, f):
            reasons[i] = "teaser"
            continue
        if f.chars <= 300 and rules.teaser.match(line):
            reasons[i] = "teaser"
            continue
        if f.chars <= 80 and rules.is_related_heading(line):
            reasons[i] = "related"
            in_related = True
            continue
        if title_key and folded == title_key and not prose_above:
            reasons[i] = "title"
            continue
        if f.chars <= 80 and f.has_date and not f.sentence_end and (
                f.stop_density < 0.15 or f.alpha_words <= 5):
            reasons[i] = "dateline"
            continue
        if f.chars >= 30 and folded in seen:
            reasons[i] = "duplicate"
            continue
        seen.add(folded)

    tables = [bool(_TABLE_ROW.fullmatch(line)) for line in lines]
    if mode == "text":
        revise_text(reasons, feats, tables)
    else:
        revise_extracted(reasons, feats, good, tables)
    headline = _headline(lines, reasons, good, feats, mode)
    decisions = tuple(LineDecision(line, r) for line, r in zip(lines, reasons, strict=True))
    return TextCleaning(decisions=decisions, captions=tuple(captions),
                        source_url=source_url, headline=headline)


def _headline(lines: list[str], reasons: list[str | None], good: list[bool],
              feats: list[LineFeatures], mode: Mode) -> str | None:
    """Find (and, in text mode, cut) the article's own headline above the prose.

    Scraped text often opens with the headline, which belongs in ``title``, not in the
    body: the first kept line, if it is not a sentence and prose follows it, is taken
    out with reason ``title``. Otherwise the last short line removed just above the
    prose is the best guess.
    """
    kept = [i for i, r in enumerate(reasons) if r is None]
    if mode == "text" and len(kept) >= 2:
        i, nxt = kept[0], kept[1]
        f = feats[i]
        if not f.sentence_end and 3 <= f.n_words <= 30 and f.chars <= 200 and good[nxt]:
            # A line above it that matched the record's title was a site banner that
            # the producer took for the headline.
            for j in range(i):
                if reasons[j] == "title":
                    reasons[j] = "banner"
            reasons[i] = "title"
            return lines[i]
    first_good = next((i for i in kept if good[i]), None)
    if first_good is None:
        return None
    for i in range(first_good - 1, -1, -1):
        if reasons[i] == "title":
            return lines[i]
        if reasons[i] in ("short", "context") and 3 <= feats[i].n_words <= 30:
            reasons[i] = "title"
            return lines[i]
        if reasons[i] is None or reasons[i] in ("related", "source"):
            break
    return None
