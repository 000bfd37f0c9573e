"""Context pass: decide the lines no rule decided, from their neighbours.

Text mode follows jusText's revision step (Pomikálek 2011): each undecided line is
``good`` prose, ``near`` (medium-length prose), ``short`` or ``bad`` (long but with no
function words); pattern-removed chrome counts as ``bad``, and so do the edges of the
document. A short line survives between good neighbours, a near-good one unless both
neighbours are bad, and a short line right above good prose is a sub-heading. The
length thresholds are lower than jusText's web defaults: news paragraphs are short.

Extracted mode (after trafilatura) is gentler: the extractor already dropped the page
frame, so only non-sentences outside the span of good prose go.
"""

from __future__ import annotations

from pipeline.boilerplate.features import LineFeatures

__all__ = ["TRANSPARENT", "is_good", "is_sentence", "revise_extracted", "revise_text"]

# Removed lines that sit *inside* articles (images, captions, ad slots, inline teasers):
# they neither support nor count against their neighbours.
TRANSPARENT = frozenset({"image", "caption", "advert", "credit", "dateline", "byline",
                         "teaser", "promo", "duplicate", "site_chrome"})

_GOOD_DENSITY = 0.12


def is_good(f: LineFeatures, mode: str) -> bool:
    """Prose by length and stopword density (lenient: used by the rules pass)."""
    if f.no_space_script:
        return f.chars >= 25
    if f.chars >= 200 and f.stop_density >= _GOOD_DENSITY / 2:
        return True
    min_chars = 60 if mode == "text" else 40
    return f.chars >= min_chars and f.stop_density >= _GOOD_DENSITY and f.n_words >= 6


def is_sentence(f: LineFeatures) -> bool:
    return f.sentence_end and f.n_words >= 4 and f.stop_density >= 0.1


def _text_class(f: LineFeatures) -> str:
    if f.no_space_script:
        return "good" if f.chars >= 60 else ("near" if f.chars >= 20 else "short")
    if (f.chars >= 110 and f.stop_density >= 0.2) or (f.chars >= 250 and f.stop_density >= 0.1):
        return "good"
    if f.chars < 50 or f.n_words < 6:
        return "short"
    if f.stop_density >= 0.12:
        return "near"
    return "bad"


def _neighbour(classes: list[str], i: int, step: int, skip: frozenset[str]) -> str:
    j = i + step
    while 0 <= j < len(classes):
        if classes[j] not in skip:
            return classes[j]
        j += step
    return "bad"  # the document's edges


_SKIP_ALL = frozenset({"short", "near", "transparent"})
_SKIP_SHORT = frozenset({"short", "transparent"})


def revise_text(reasons: list[str | None], feats: list[LineFeatures],
                tables: list[bool]) -> None:
    """jusText-style revision of the undecided lines of scraped text (in place)."""
    classes: list[str] = []
    for reason, f, table in zip(reasons, feats, tables, strict=True):
        if reason is not None:
            classes.append("transparent" if reason in TRANSPARENT else "bad")
        elif table:
            classes.append("good")
        else:
            classes.append(_text_class(f))
    _mark_link_lists(classes, feats, reasons)
    if "good" not in classes:
        # A brief with no full paragraph: keep what reads as sentences.
        for i, c in enumerate(classes):
            if c in ("short", "bad") and not is_sentence(feats[i]):
                reasons[i] = "short" if c == "short" else "low_density"
        return
    # Sub-headings: a short non-sentence directly above good prose counts as near-good.
    for i, c in enumerate(classes):
        if c == "short" and not feats[i].sentence_end and 2 <= feats[i].n_words <= 15 \
                and _neighbour(classes, i, 1, frozenset({"transparent"})) == "good":
            classes[i] = "near"
    for i, c in enumerate(classes):
        if c == "short":
            prev, nxt = (_neighbour(classes, i, s, _SKIP_ALL) for s in (-1, 1))
            keep = (prev == nxt == "good") or (
                prev != nxt and (
                    (prev == "bad" and _neighbour(classes, i, -1, _SKIP_SHORT) == "near")
                    or (nxt == "bad" and _neighbour(classes, i, 1, _SKIP_SHORT) == "near")))
            if not keep:
                reasons[i] = "short"
        elif c == "near":
            prev, nxt = (_neighbour(classes, i, s, _SKIP_ALL) for s in (-1, 1))
            if prev == nxt == "bad":
                reasons[i] = "context"
        elif c == "bad" and reasons[i] is None:  # low density, not a listed link
            reasons[i] = "low_density"


def _mark_link_lists(classes: list[str], feats: list[LineFeatures],
                     reasons: list[str | None]) -> None:
    """Runs of 3+ headline-like lines (no sentence end) next to chrome: lists of links.

    Teaser lists ("more news", "most read") are made of near-good lines that jusText's
    rule keeps when prose lies on one side; a list that touches chrome on either side
    is not the article's own (the article's bullet lists sit between paragraphs).
    """
    i = 0
    while i < len(classes):
        if not _list_like(classes[i], feats[i]):
            i += 1
            continue
        run = [i]
        j = i + 1
        while j < len(classes) and (classes[j] == "transparent"
                                    or _list_like(classes[j], feats[j])):
            if classes[j] != "transparent":
                run.append(j)
            j += 1
        headlines = sum(1 for k in run if feats[k].n_words >= 3)
        if len(run) >= 3 and headlines >= 2:
            before = _neighbour(classes, run[0], -1, _SKIP_ALL)
            after = _neighbour(classes, run[-1], 1, _SKIP_ALL)
            if "bad" in (before, after):
                for k in run:
                    classes[k] = "bad"
                    reasons[k] = "link_list"
        i = j


def _list_like(cls: str, f: LineFeatures) -> bool:
    return cls in ("short", "near") and not f.sentence_end and f.n_words <= 25


def revise_extracted(reasons: list[str | None], feats: list[LineFeatures],
                     good: list[bool], tables: list[bool]) -> None:
    """Gentle revision for extractor output: trim non-sentences at the edges (in place)."""
    open_idx = [i for i, r in enumerate(reasons) if r is None]
    good_idx = [i for i in open_idx if good[i]]
    if not good_idx:
        for i in open_idx:
            if not tables[i] and not is_sentence(feats[i]) and feats[i].n_words < 4:
                reasons[i] = "short"
        return
    first, last = good_idx[0], good_idx[-1]
    for i in open_idx:
        f = feats[i]
        if good[i] or tables[i] or first < i < last or is_sentence(f):
            continue
        if f.n_words >= 4 and i > last and f.chars >= 40:
            continue
        reasons[i] = "short"
