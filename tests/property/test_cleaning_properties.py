"""Cleaning never raises on any text or page, and never adds text: every kept paragraph
is a line of the input (after whitespace normalisation), in the input's order."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given

from pipeline.boilerplate import clean_document, clean_text, load_rules
from pipeline.boilerplate.features import normalise_line

from .strategies import html_text, web_text

RULES = load_rules()


def _printable(text: str) -> str:
    """Without format and control characters (zero-width spaces, BOMs), which extraction
    may drop, and U+FFFD, which the HTML parser puts in place of a NUL: dropping or
    replacing an invisible character is allowed, adding a word is not."""
    return "".join(c for c in text if c != "\ufffd" and (
        unicodedata.category(c) not in ("Cf", "Cc") or c in "\n "))


def _is_subsequence(items: list[str], of: list[str]) -> bool:
    remaining = iter(of)
    return all(any(item == candidate for candidate in remaining) for item in items)


@given(web_text)
def test_clean_text_keeps_only_input_lines_in_order(text: str) -> None:
    result = clean_text(text, rules=RULES)
    lines = [n for n in (normalise_line(raw) for raw in text.splitlines()) if n]
    assert _is_subsequence(result.paragraphs, lines)
    assert len(result.body) <= len(text) + 2 * len(result.paragraphs)
    assert len(result.decisions) == len(lines)  # every line decided, none invented


@given(web_text)
def test_clean_text_stats_add_up(text: str) -> None:
    result = clean_text(text, rules=RULES)
    stats = result.stats()
    assert stats.lines_kept + stats.lines_removed == len(result.decisions)
    assert sum(stats.reasons.values()) == stats.lines_removed


@given(web_text, web_text)
def test_cleaning_a_title_never_adds_text(title: str, text: str) -> None:
    result = clean_text(text, title=title or None, rules=RULES)
    lines = {n for n in (normalise_line(raw) for raw in text.splitlines()) if n}
    assert set(result.paragraphs) <= lines
    assert result.headline is None or result.headline in lines or result.headline in title


@given(html_text)
def test_clean_document_never_raises_on_any_page(html: str) -> None:
    doc = clean_document(html=html, url="https://x.example/a", rules=RULES)
    assert isinstance(doc.body, str)
    visible = _printable(re.sub(r"<[^>]*>?", "", html).replace("\u00a0", " "))
    if "&" in html:  # extraction decodes entities
        return
    for paragraph in doc.body.split("\n\n"):
        for word in _printable(paragraph).split():
            assert word in visible, f"{word!r} is not on the page"
