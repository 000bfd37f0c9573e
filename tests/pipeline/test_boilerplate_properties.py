"""Properties of the text cleaner on arbitrary input: total, accountable, idempotent-ish."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.boilerplate import clean_text

LINES = st.lists(st.one_of(
    st.text(max_size=120),
    st.sampled_from(["Share", "Kommentar (0)", "![]() |", "Kilde: https://a.example/b",
                     "Related articles", "No data", "| a | b |", "photo.jpg",
                     "The council approved the budget on Tuesday after a long debate about "
                     "schools and roads in the district."]),
), max_size=30)


@settings(max_examples=150, deadline=None)
@given(LINES)
def test_every_line_is_kept_or_removed_with_a_reason(lines: list[str]) -> None:
    text = "\n".join(lines)
    result = clean_text(text)
    stats = result.stats()
    assert stats.lines_kept + stats.lines_removed == len(result.decisions)
    assert sum(stats.reasons.values()) == stats.lines_removed
    assert all(d.text and d.text == d.text.strip() for d in result.decisions)
    assert result.body == "\n\n".join(result.paragraphs)


@settings(max_examples=100, deadline=None)
@given(LINES)
def test_cleaning_the_clean_body_removes_nothing_more_of_its_prose(lines: list[str]) -> None:
    first = clean_text("\n".join(lines))
    second = clean_text(first.body)
    prose = [p for p in first.paragraphs if len(p) >= 120]
    assert all(p in second.paragraphs for p in prose)
