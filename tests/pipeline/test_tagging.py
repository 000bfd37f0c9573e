"""Beam wrappers: DetectLanguage then TagTopics on a small pipeline, dead letters."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

import pipeline.tagging as tagging
from pipeline.language import DetectLanguage
from pipeline.tagging import TagTopics
from schemas.models import Article, Provenance


def _article(id_: str, title: str, body: str, language: str = "und") -> Article:
    return Article(id=id_, url=f"https://example.org/{id_}",
                   canonical_url=f"https://example.org/{id_}", title=title, body=body,
                   language=language,
                   provenance=Provenance(kind="FILE", file="test.jsonl", line=1))


ARTICLES = [
    _article("oil", "Oil prices climb as OPEC cuts output",
             "Crude oil rose after OPEC agreed to cut output by one million barrels per "
             "day, and natural gas prices followed as refineries bought more."),
    _article("forsvar", "Forsvaret kjøper nye fregatter",
             "Forsvarsministeren sier at Forsvaret trenger flere soldater, nye fregatter "
             "og kampfly, og at forsvarsbudsjettet må økes neste år."),
    _article("chips", "Nhà máy chip mới",
             "Công ty đầu tư vào sản xuất chip và chất bán dẫn, vi mạch cho xe điện tại "
             "Việt Nam, với nhà máy bán dẫn đầu tiên."),
    _article("stated", "Weather", "Rain is expected tomorrow.", language="de"),
    _article("none", "Council meets", "The town council discussed parking and schools "
             "on Tuesday evening and will meet again next month."),
]


def test_detect_then_tag_in_a_pipeline() -> None:
    with TestPipeline() as p:
        detected = p | beam.Create(ARTICLES) | DetectLanguage()
        tagged = detected.articles | TagTopics()
        out = tagged.articles | beam.Map(
            lambda a: (a.id, a.language, round(a.language_confidence, 1) >= 0.9, a.tags,
                       all(t.evidence for t in a.topics)))
        assert_that(out, equal_to([
            ("oil", "en", True, ["energy"], True),
            ("forsvar", "nb", True, ["defense"], True),
            ("chips", "vi", True, ["semiconductors"], True),
            ("stated", "de", True, [], True),  # the producer's language is kept
            ("none", "en", True, [], True),
        ]))
        assert_that(detected.dead_letter, equal_to([]), label="NoLanguageDeadLetters")
        assert_that(tagged.dead_letter, equal_to([]), label="NoTaggingDeadLetters")


class _Exploding:
    def tag(self, title: str, body: str, language: str):
        if "explode" in body:
            raise ValueError("taxonomy blew up")
        return []


def test_a_failing_article_goes_to_dead_letters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tagging, "TopicTagger", _Exploding)
    good = _article("good", "Fine", "Nothing to see here at all, really.")
    bad = _article("bad", "Bad", "This one will explode in the tagger.")
    with TestPipeline() as p:
        tagged = p | beam.Create([good, bad]) | TagTopics()
        assert_that(tagged.articles | beam.Map(lambda a: a.id), equal_to(["good"]))
        assert_that(tagged.dead_letter | beam.Map(
            lambda d: (d.stage, d.error_class, b"explode" in d.payload)),
            equal_to([("tag", "ValueError", True)]), label="DeadLetter")
