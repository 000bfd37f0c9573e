"""The per-site recurring-line learner: thresholds, bounds, copies, serialisation."""

from __future__ import annotations

import pytest

from pipeline.boilerplate import SiteChromeLearner, clean_text, line_key

FOOTER = "Subscribe to the Morning Brief for all the news you need"


def story(n: int) -> list[str]:
    return [f"Story {n} opens with a sentence that is unique to this story number {n}.",
            f"A second, different paragraph of story {n} that nobody else repeats here.",
            FOOTER]


def test_a_line_becomes_chrome_from_the_third_article() -> None:
    learner = SiteChromeLearner(window=100, min_articles=3, min_share=0.02)
    assert line_key(FOOTER) not in learner.observe(story(1))
    assert line_key(FOOTER) not in learner.observe(story(2))
    chrome = learner.observe(story(3))
    assert chrome == {line_key(FOOTER)}


def test_share_threshold_scales_with_the_window() -> None:
    learner = SiteChromeLearner(window=200, min_articles=3, min_share=0.05)
    for n in range(100):  # 100 articles, footer in only the last 3 -> 3 % < 5 %
        lines = story(n) if n >= 97 else story(n)[:2]
        chrome = learner.observe(lines)
    assert learner.threshold == 5 and not chrome


def test_window_and_memory_are_bounded() -> None:
    learner = SiteChromeLearner(window=10, max_lines=5)
    for n in range(50):
        learner.observe([f"line {n} {k} unique text here" for k in range(20)])
    assert len(learner) == 10
    assert sum(1 for c in learner._counts.values() if c > 0) <= 10 * 5


def test_resent_copies_of_one_article_are_not_learned_as_chrome() -> None:
    learner = SiteChromeLearner(window=100)
    for _ in range(5):
        chrome = learner.observe(story(7))
    assert len(learner) == 1 and not chrome


def test_state_round_trips_through_bytes() -> None:
    learner = SiteChromeLearner(window=20, min_articles=3, min_share=0.1)
    for n in range(4):
        learner.observe(story(n))
    copy = SiteChromeLearner.from_bytes(learner.to_bytes())
    assert (copy.window, copy.min_articles, copy.min_share) == (20, 3, 0.1)
    assert copy.observe(story(9)) == learner.observe(story(9)) == {line_key(FOOTER)}
    with pytest.raises(ValueError):
        SiteChromeLearner.from_bytes(b"XXXX" + bytes(40))


def test_learned_keys_are_removed_with_their_reason() -> None:
    text = "\n".join(story(1))
    result = clean_text(text, site_chrome={line_key(FOOTER)})
    assert [d.reason for d in result.decisions] == [None, None, "site_chrome"]


def test_constructor_refuses_unbounded_or_trivial_settings() -> None:
    with pytest.raises(ValueError):
        SiteChromeLearner(window=0)
    with pytest.raises(ValueError):
        SiteChromeLearner(min_articles=1)


def test_serialised_state_has_a_hard_size_bound() -> None:
    learner = SiteChromeLearner(window=20, max_lines=30)
    for n in range(100):
        learner.observe([f"article {n} line {k} with its own words" for k in range(80)])
    assert len(learner.to_bytes()) == 36 + 20 * (12 + 6 * 30)  # header + full window


def test_old_articles_expire_lazily_by_age() -> None:
    learner = SiteChromeLearner(window=100, max_age_s=3600)
    for n in range(3):
        learner.observe(story(n), at=1000.0 + n)
    assert line_key(FOOTER) in learner.observe(story(3), at=1010.0)
    # A day later, the old articles are gone: the footer must be seen again to count.
    assert not learner.observe(story(4), at=90_000.0)
    assert len(learner) == 1
    copy = SiteChromeLearner.from_bytes(learner.to_bytes())
    assert copy.max_age_s == 3600 and len(copy) == 1
