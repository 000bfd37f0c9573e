"""The per-site recurring-line learner: thresholds, bounds, copies, serialisation."""

from __future__ import annotations

import struct

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


# Issue 20: a story a site republishes is not its chrome.

FLASH = ("Breaking: the regional grid operator said on Monday that a fire at a substation had "
         "cut electricity to 40,000 homes in the north, and warned of further power outages "
         "while the power grid runs close to its limit this week.")
BRIEF = ["Storm Aurelia closed three bridges on the west coast overnight, officials said.",
         "Ferries are cancelled.", "Schools stay shut.", "More rain is due on Sunday."]
MEMBERS = "Gazette members get the print edition, the puzzle page and reader events for less."
NEWSLETTER = "The Harbour Weekly lands in your inbox every Friday with council news and tide tables."
SHARE = "Share on Facebook"


@pytest.mark.parametrize("lines", [[FLASH], BRIEF], ids=["one-line flash", "four-line brief"])
def test_copies_of_one_story_teach_the_learner_none_of_its_lines(lines: list[str]) -> None:
    learner = SiteChromeLearner(window=100)
    learned = [learner.observe(lines, at=float(n)) for n in range(12)]
    assert learned == [frozenset()] * 12
    assert len(learner) == 1  # each copy replaced the one before
    assert learner.chrome_keys(line_key(line) for line in lines) == frozenset()


def test_different_stories_teach_their_footer_while_interleaved_copies_teach_nothing() -> None:
    learner = SiteChromeLearner(window=100)
    learned = []
    for n in range(6):
        learned.append(learner.observe(story(n)))
        learned.append(learner.observe([FLASH, FOOTER]))  # a flash copy, with the footer
    # The footer is in story 0, the flash, story 1: learned from the third story on; the
    # flash is one story however many copies there are.
    assert learned == [frozenset(), frozenset()] + [frozenset({line_key(FOOTER)})] * 10
    assert len(learner) == 6 + 1


@pytest.mark.parametrize("notice_first", [False, True], ids=["notice last", "notice first"])
def test_a_copy_shares_over_half_of_the_characters_of_both_stories(notice_first: bool) -> None:
    """A short notice whose footer is most of its own text is still no copy of a longer
    story with the same footer (the footer is a small part of that one), nor is the story
    a copy of the notice: three stories, so the footer is learned by the third."""
    notice = ["Offices close at noon today.", FOOTER]  # 28 + 56 characters
    articles = [notice, story(1), story(2)] if notice_first else [story(1), story(2), notice]
    learner = SiteChromeLearner(window=100)
    learned = [learner.observe(lines) for lines in articles]
    assert learned == [frozenset(), frozenset(), {line_key(FOOTER)}]
    assert len(learner) == 3


def test_learned_chrome_that_would_empty_an_article_is_overruled_but_the_rules_still_apply(
        ) -> None:
    """Every line of the notice is learned chrome (three different stories carried all of
    them): the notice keeps its text, the fixed rules still remove the share line."""
    learner = SiteChromeLearner(window=100)
    for n in range(3):
        # Its own paragraph holds more characters than the three shared lines together,
        # so no story is a copy of another.
        lead = (f"Story {n} opens with a long paragraph of its own about the harbour, the "
                f"council and the ferry, written for story number {n} and for no other "
                f"story, so that its words outweigh the lines the site repeats everywhere.")
        learner.observe([lead, MEMBERS, NEWSLETTER, SHARE])
    notice = [MEMBERS, NEWSLETTER, SHARE]
    chrome = learner.observe(notice)
    assert chrome == {line_key(line) for line in notice}
    result = clean_text("\n".join(notice), site_chrome=chrome)
    assert result.paragraphs == [MEMBERS, NEWSLETTER]
    # The share line still goes, by the fixed rules (with no full paragraph in the notice,
    # the context pass names it low density): the notice is cleaned as if nothing were
    # learned.
    assert [(d.text, d.reason) for d in result.removed] == [(SHARE, "low_density")]
    assert result.decisions == clean_text("\n".join(notice)).decisions
    assert result.learned_chrome_overruled is True
    stats = result.stats()
    assert stats.learned_chrome_overruled is True and stats.reasons == {"low_density": 1}


def test_state_is_written_and_read_as_the_scl4_layout() -> None:
    """SCL4, built by hand from the layout ``site_chrome.py`` describes: header ``<4sIIdId``
    (magic, window, min_articles, min_share, max_lines, max_age_s), ``<I`` story count,
    then per story ``<Id`` (line count, seen at), its line keys ascending (uint32), then
    each line's length in characters (uint16), all little-endian."""
    seen = {1: 10.0, 2: 11.5}
    scl4 = struct.pack("<4sIIdId", b"SCL4", 50, 3, 0.02, 300, 86400.0) + struct.pack("<I", 2)
    stories = []
    for n, at in seen.items():
        lengths = {line_key(line): len(line) for line in story(n)}
        keys = sorted(lengths)
        scl4 += (struct.pack("<Id", 3, at) + struct.pack("<3I", *keys)
                 + struct.pack("<3H", *(lengths[k] for k in keys)))
        stories.append((lengths, at))
    assert [sorted(lengths.values()) for lengths, _ in stories] == [[56, 68, 71]] * 2  # counted

    written = SiteChromeLearner(window=50, min_articles=3, min_share=0.02, max_lines=300,
                                max_age_s=86400.0)
    for n, at in seen.items():
        written.observe(story(n), at=at)
    assert written.to_bytes() == scl4

    read = SiteChromeLearner.from_bytes(scl4)
    assert (read.window, read.min_articles, read.min_share, read.max_lines,
            read.max_age_s) == (50, 3, 0.02, 300, 86400.0)
    assert [(s.weights, s.at) for s in read._articles] == stories
    assert read.to_bytes() == scl4
    assert read.observe(story(9), at=12.0) == {line_key(FOOTER)}  # its third story


def test_state_written_as_scl3_is_still_read() -> None:
    """The previous state format (long-line flags instead of lengths), built by hand: two
    stories that share the footer."""
    footer, unique = line_key(FOOTER), [line_key(f"long unique line {n}") for n in range(2)]
    v3 = struct.pack("<4sIIdId", b"SCL3", 50, 3, 0.02, 300, 86400.0) + struct.pack("<I", 2)
    for n in range(2):
        keys = [footer, unique[n]]
        v3 += struct.pack("<Id", 2, 10.0 + n) + struct.pack("<2I", *keys) + bytes([0, 1])
    learner = SiteChromeLearner.from_bytes(v3)
    assert (learner.window, learner.min_articles, learner.max_lines, len(learner)) == (
        50, 3, 300, 2)
    assert learner.observe(story(9), at=20.0) == {line_key(FOOTER)}  # its third story
    assert learner.to_bytes()[:4] == b"SCL4"
    assert len(SiteChromeLearner.from_bytes(learner.to_bytes())) == 3
