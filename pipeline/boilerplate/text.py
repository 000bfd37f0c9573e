"""Text-mode cleaning: a line classifier that keeps the article and nothing else.

Three passes, each removal tagged with a reason (the record's audit trail):
1. ``LINE_RULES``, a table of named rules applied in order (the first with a verdict
   decides the line): known chrome by pattern (``patterns.yaml``), learned per-site
   chrome, captions and source lines (harvested first), and headline lists after
   related-content headings; their limits are ``Thresholds`` (``LIMITS``);
2. jusText-style features (length, stopword density) classify what is left as
   ``good`` prose or ``short``/``low``-density lines;
3. context: short lines between good paragraphs stay (sub-headings, quotes), short
   non-sentences at the edges of the article go (site banners, menus, teasers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

from pipeline.boilerplate.context import is_good, revise_extracted, revise_text
from pipeline.boilerplate.features import (
    LineFeatures,
    choose_stoplist,
    line_features,
    normalise_line,
    words,
)
from pipeline.boilerplate.harvest import clean_caption, source_url_of
from pipeline.boilerplate.rules import Rules, load_rules
from pipeline.boilerplate.site_chrome import line_key
from schemas.models import BoilerplateStats

__all__ = ["KEEP", "LIMITS", "LINE_RULES", "LineDecision", "LineRule", "Mode", "TextCleaning",
           "Thresholds", "clean_text"]

Mode = Literal["text", "extracted"]

@dataclass(frozen=True)
class Thresholds:
    """The line rules' limits, in characters unless named otherwise."""

    pattern_max_chars: int = 1200  # longer lines are prose, never matched against patterns
    caption_max_chars: int = 400
    caption_after_image_max_chars: int = 300  # a line after an image, not ending in "|"
    teaser_max_chars: int = 300
    related_heading_max_chars: int = 80
    dateline_max_chars: int = 80
    dateline_max_stop_density: float = 0.15
    dateline_max_alpha_words: int = 5
    duplicate_min_chars: int = 30
    shouted_min_words: int = 7
    shouted_max_chars: int = 200
    shouted_min_letters: int = 20
    shouted_upper_share: float = 0.95
    prose_min_chars: int = 200  # a related-content list ends at a paragraph this long
    prose_min_chars_no_space: int = 100  # ... or this long in scripts without spaces


LIMITS = Thresholds()
_TABLE_ROW = re.compile(r"\|.*\|")

#: A rule's verdict that decides the line stays: no later rule sees it.
KEEP = ""


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
    learned_chrome_overruled: bool = False

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
            chars_removed=sum(len(d.text) for d in self.removed), reasons=reasons,
            learned_chrome_overruled=self.learned_chrome_overruled)


@dataclass
class _Scan:
    """What the rules know about the document and the lines above the current one."""

    rules: Rules
    site_chrome: Collection[int]
    title_key: str | None
    captions: list[str] = field(default_factory=list)
    source_url: str | None = None
    after_image: bool = False  # this line is an image
    prev_image: bool = False  # the line above was an image
    in_related: bool = False  # inside a related-content list
    prose_above: bool = False  # a good line came before: a title match here is prose
    seen: set[str] = field(default_factory=set)  # kept lines so far, case-folded


@dataclass
class _Line:
    text: str
    f: LineFeatures
    good: bool
    rules: Rules

    @cached_property
    def folded(self) -> str:
        return self.text.casefold()

    @cached_property
    def pattern(self) -> str | None:
        """The chrome pattern's reason for this line (``patterns.yaml``), if any."""
        if self.f.chars > LIMITS.pattern_max_chars:
            return None
        return self.rules.chrome_reason(self.text)


def _table_row(line: _Line, scan: _Scan) -> str | None:
    # A table the extractor kept is content; the context pass skips it too.
    return KEEP if _TABLE_ROW.fullmatch(line.text) else None


def _source(line: _Line, scan: _Scan) -> str | None:
    is_source, url = source_url_of(line.text, scan.rules)
    if not is_source:
        return None
    scan.source_url = scan.source_url or url
    return "source"


def _related_list(line: _Line, scan: _Scan) -> str | None:
    """Inside a related-content list every line goes, until prose starts again."""
    if not scan.in_related:
        return None
    if _leaves_related(line.f, line.good):
        scan.in_related = False
        return None
    chrome = None
    if line.f.chars <= LIMITS.pattern_max_chars and not scan.rules.is_related_heading(line.text):
        chrome = line.pattern
    return chrome if chrome not in (None, "image") else "related"


def _site_chrome(line: _Line, scan: _Scan) -> str | None:
    if scan.site_chrome and line_key(line.text) in scan.site_chrome:
        return "site_chrome"
    return None


def _image(line: _Line, scan: _Scan) -> str | None:
    if line.pattern != "image":
        return None
    scan.after_image = True
    return "image"


def _caption(line: _Line, scan: _Scan) -> str | None:
    f = line.f
    if f.chars > LIMITS.caption_max_chars:
        return None
    below_image = scan.prev_image and (
        line.text.endswith("|") or f.chars <= LIMITS.caption_after_image_max_chars)
    if not (below_image or scan.rules.has_caption_credit(line.text)):
        return None
    caption = clean_caption(line.text)
    if caption:
        scan.captions.append(caption)
    return "caption"


def _pattern(line: _Line, scan: _Scan) -> str | None:
    return line.pattern  # the pattern's own reason: "share", "newsletter", ...


def _shouted(line: _Line, scan: _Scan) -> str | None:
    return "teaser" if _shouted_teaser(line.text, line.f) else None


def _teaser(line: _Line, scan: _Scan) -> str | None:
    if line.f.chars <= LIMITS.teaser_max_chars and scan.rules.teaser.match(line.text):
        return "teaser"
    return None


def _related_heading(line: _Line, scan: _Scan) -> str | None:
    if line.f.chars <= LIMITS.related_heading_max_chars and scan.rules.is_related_heading(
            line.text):
        scan.in_related = True
        return "related"
    return None


def _title(line: _Line, scan: _Scan) -> str | None:
    if scan.title_key and line.folded == scan.title_key and not scan.prose_above:
        return "title"
    return None


def _dateline(line: _Line, scan: _Scan) -> str | None:
    f = line.f
    if f.chars <= LIMITS.dateline_max_chars and f.has_date and not f.sentence_end and (
            f.stop_density < LIMITS.dateline_max_stop_density
            or f.alpha_words <= LIMITS.dateline_max_alpha_words):
        return "dateline"
    return None


def _duplicate(line: _Line, scan: _Scan) -> str | None:
    if line.f.chars >= LIMITS.duplicate_min_chars and line.folded in scan.seen:
        return "duplicate"
    return None


@dataclass(frozen=True)
class LineRule:
    """One step of the first pass: ``decide`` returns the removal reason, ``KEEP``, or
    ``None`` to leave the line to the next rule. ``name`` is the reason it records (for
    ``pattern``, the matched pattern's own reason; for ``table_row``, none: it keeps)."""

    name: str
    decide: Callable[[_Line, _Scan], str | None]


#: The first pass, in order: the first rule with a verdict decides the line.
LINE_RULES: tuple[LineRule, ...] = (
    LineRule("table_row", _table_row),
    LineRule("source", _source),
    LineRule("related", _related_list),
    LineRule("site_chrome", _site_chrome),
    LineRule("image", _image),
    LineRule("caption", _caption),
    LineRule("pattern", _pattern),
    LineRule("teaser", _shouted),
    LineRule("teaser", _teaser),
    LineRule("related", _related_heading),
    LineRule("title", _title),
    LineRule("dateline", _dateline),
    LineRule("duplicate", _duplicate),
)


def _shouted_teaser(line: str, f: LineFeatures) -> bool:
    """An all-caps line of several words that is not a sentence: a link to another story.

    News sites set inline "related story" links in capitals between paragraphs
    ("SEAN SPICER ELIMINATED FROM ..."); sub-headings in capitals are rarer and shorter.
    """
    if (f.n_words < LIMITS.shouted_min_words or f.sentence_end
            or f.chars > LIMITS.shouted_max_chars):
        return False
    letters = [c for c in line if c.isalpha()]
    return (len(letters) >= LIMITS.shouted_min_letters
            and sum(c.isupper() for c in letters) >= LIMITS.shouted_upper_share * len(letters))


def _leaves_related(f: LineFeatures, good: bool) -> bool:
    """A paragraph long enough that it is prose again, not a headline teaser."""
    return good and f.sentence_end and (
        f.chars >= LIMITS.prose_min_chars
        or (f.no_space_script and f.chars >= LIMITS.prose_min_chars_no_space))


def clean_text(text: str, *, title: str | None = None,
               site_chrome: Collection[int] = (), rules: Rules | None = None,
               mode: Mode = "text") -> TextCleaning:
    """Split ``text`` into lines and decide each one; see the module docstring.

    ``mode="extracted"`` is for text already cut by a main-content extractor: the
    edge rules are gentler since the extractor has already dropped the page frame.

    Learned chrome (``site_chrome``) is overruled when it would empty the article or
    remove most of the text the other rules keep (a story the site repeats is not its
    chrome, issue 20): the article is then cleaned without it, and says so.
    """
    rules = rules or load_rules()
    cleaning = _classify(text, title, site_chrome, rules, mode)
    if not any(d.reason == "site_chrome" for d in cleaning.decisions):
        return cleaning
    unlearned = _classify(text, title, (), rules, mode)
    if len(cleaning.body) * 2 < len(unlearned.body):
        return replace(unlearned, learned_chrome_overruled=True)
    return cleaning


def _classify(text: str, title: str | None, site_chrome: Collection[int], rules: Rules,
              mode: Mode) -> TextCleaning:
    """``clean_text``'s three passes, learned chrome taken as given."""
    lines = [n for n in (normalise_line(raw) for raw in text.splitlines()) if n]
    tokens = [words(line) for line in lines]
    stoplist = choose_stoplist(tokens, rules)
    feats = [line_features(line, stoplist, toks, date_max_chars=LIMITS.dateline_max_chars)
             for line, toks in zip(lines, tokens, strict=True)]
    good = [is_good(f, mode) for f in feats]
    reasons: list[str | None] = [None] * len(lines)
    scan = _Scan(rules=rules, site_chrome=site_chrome,
                 title_key=normalise_line(title).casefold() if title else None)
    for i, (text_line, f) in enumerate(zip(lines, feats, strict=True)):
        line = _Line(text_line, f, good[i], rules)
        scan.prev_image, scan.after_image = scan.after_image, False
        for rule in LINE_RULES:
            verdict = rule.decide(line, scan)
            if verdict is not None:
                reasons[i] = verdict or None
                break
        else:
            scan.seen.add(line.folded)
        scan.prose_above = scan.prose_above or line.good

    tables = [bool(_TABLE_ROW.fullmatch(line)) for line in lines]
    if mode == "text":
        revise_text(reasons, feats, tables)
    else:
        revise_extracted(reasons, feats, good, tables)
    headline = _headline(lines, reasons, good, feats, mode)
    decisions = tuple(LineDecision(line, r) for line, r in zip(lines, reasons, strict=True))
    return TextCleaning(decisions=decisions, captions=tuple(scan.captions),
                        source_url=scan.source_url, headline=headline)


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
