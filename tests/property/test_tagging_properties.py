"""Tagging and language detection never raise on any string and respect their contracts:
known tags only, each at most once, scores over the tag's threshold, evidence inside the
text it points into, ISO 639-1 codes or ``und`` with a confidence in [0, 1]."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.language import UNDETERMINED, LanguageDetector
from pipeline.taxonomy import TopicTagger
from schemas.routes import TAGS

from .strategies import any_text, web_text

_TERMS = st.sampled_from([
    "wind farm", "offshore wind", "semiconductor", "chip plant", "Halbleiter", "TSMC",
    "missile", "Bundeswehr", "NATO", "museum", "exhibition", "nhà máy chip", "điện gió",
    "İstanbul", "STRASSE", "straße", "ﬁnance", "Ǆ"])
_TAGGABLE = st.lists(st.one_of(_TERMS, web_text), max_size=25).map(" ".join)
_LANGUAGES = st.one_of(st.sampled_from(["en", "de", "vi", "nb", "und", "xx", ""]), any_text)


@pytest.fixture(scope="module")
def tagger() -> TopicTagger:
    return TopicTagger()


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


@given(title=_TAGGABLE, body=_TAGGABLE, language=_LANGUAGES)
def test_tags_are_known_unique_and_their_evidence_points_into_the_text(
        tagger: TopicTagger, title: str, body: str, language: str) -> None:
    topics = tagger.tag(title, body, language)
    tags = [t.tag for t in topics]
    assert len(tags) == len(set(tags)) and set(tags) <= set(TAGS)
    thresholds = {tag: spec.threshold for tag, spec in tagger.taxonomy.tags.items()}
    for topic in topics:
        assert topic.score >= round(thresholds[topic.tag], 4) - 1e-4
        for evidence in topic.evidence:
            text = title if evidence.field == "title" else body
            assert 0 <= evidence.start < evidence.end <= len(text)


@given(title=_TAGGABLE, body=_TAGGABLE, language=_LANGUAGES)
def test_tagging_is_deterministic(tagger: TopicTagger, title: str, body: str,
                                  language: str) -> None:
    assert tagger.tag(title, body, language) == tagger.tag(title, body, language)


@given(text=web_text, hint=st.one_of(st.none(), _LANGUAGES))
def test_language_is_an_iso_code_or_und_with_a_bounded_confidence(
        detector: LanguageDetector, text: str, hint: str | None) -> None:
    code, confidence = detector.detect(text, hint)
    assert 0.0 <= confidence <= 1.0
    assert code == UNDETERMINED or (len(code) == 2 and code.isascii() and code.islower())
