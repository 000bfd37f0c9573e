"""The Beam wrapper: decisions, dead letters and state, on the FnApiRunner via TestPipeline."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

import pipeline.dedup.streaming as dedup_module
from pipeline.dedup import DedupConfig, DeduplicateArticles
from pipeline.dedup.streaming import (
    DEDUP_KEY,
    MAX_FUTURE_SKEW_SECONDS,
    _DeduplicateFn,
    apply_decision,
    article_event_time,
    deduplicate_batch,
)
from pipeline.similarity import Decision, RelatedArticle
from pipeline.stage import ARTICLES, DEAD_LETTER
from pipeline.stateful_order import InMemoryBag, InMemoryValue
from schemas.models import Article, Provenance, ProvenanceKind

STORY = (
    "The regional grid operator said on Tuesday that a new interconnector between the two "
    "northern provinces will carry up to 1,400 megawatts from next winter, easing the "
    "shortage that forced industrial users to cut production during the cold spell last "
    "January. Engineers finished the final tests ahead of schedule, the operator added.")
OTHER = (
    "A touring exhibition of early photographs opened at the city museum on Friday, with "
    "more than two hundred prints lent by private collectors and three national archives. "
    "The curators said the show would travel to four more cities before returning the "
    "prints to their owners at the end of next year.")


def make(ident: str, body: str, *, url: str | None = None, minutes: int = 0,
         language: str = "en", source_url: str | None = None) -> Article:
    url = url or f"https://news.example/{ident}"
    stamp = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    return Article(id=ident, url=url, canonical_url=url, title="", body=body,
                   language=language, source_url=source_url,
                   provenance=Provenance(kind=ProvenanceKind.KAFKA, topic="t", partition=0,
                                         offset=minutes, timestamp=stamp))


def summary(article: Article) -> tuple[str, str | None, str | None]:
    return article.id, article.duplicate_of, article.duplicate_kind


def test_transform_marks_exact_and_near_duplicates() -> None:
    edited = STORY.replace("Tuesday", "Wednesday").replace("final tests", "last tests")
    articles = [make("a", STORY), make("b", OTHER, minutes=1),
                make("c", STORY.upper(), minutes=2), make("d", edited, minutes=3)]
    with TestPipeline() as p:
        out = (p | beam.Create(articles, reshuffle=False)
               | "DeduplicateArticles" >> DeduplicateArticles(DedupConfig(ttl_seconds=timedelta(days=7).total_seconds())))
        assert_that(out[ARTICLES] | beam.Map(summary), equal_to([
            ("a", None, None), ("b", None, None), ("c", "a", "exact_body"),
            ("d", "a", "near_duplicate")]), label="decisions")
        assert_that(out[DEAD_LETTER], equal_to([]), label="no_dead_letters")


def test_transform_forgets_after_the_ttl_on_event_time() -> None:
    week = 7 * 24 * 60
    articles = [make("a", STORY), make("b", STORY, minutes=week + 1),
                make("c", STORY.lower(), minutes=week + 2)]
    with TestPipeline() as p:
        out = p | beam.Create(articles, reshuffle=False) | DeduplicateArticles(
            DedupConfig(ttl_seconds=timedelta(days=7).total_seconds()))
        assert_that(out.articles | beam.Map(summary), equal_to([
            ("a", None, None), ("b", None, None), ("c", "b", "exact_body")]))


def test_transform_dead_letters_a_record_the_core_cannot_read() -> None:
    broken = make("x", STORY).model_copy(update={"body": 12345})  # bypasses validation
    with TestPipeline() as p:
        out = p | beam.Create([broken, make("y", OTHER)]) | DeduplicateArticles()
        assert_that(out.articles | beam.Map(lambda a: a.id), equal_to(["y"]), label="kept")
        assert_that(out[DEAD_LETTER] | beam.Map(lambda d: (d.stage, d.id != "")),
                    equal_to([("dedup", True)]), label="dead")


def test_options_are_validated_where_they_enter() -> None:
    with pytest.raises(ValueError, match="ttl_seconds must be positive"):
        DeduplicateArticles(DedupConfig(ttl_seconds=0))
    with pytest.raises(ValueError, match="bands\\*rows"):
        DeduplicateArticles(DedupConfig(bands=64, rows=4))
    transform = DeduplicateArticles(DedupConfig(ttl_seconds=3600, bands=20, rows=5,
                                                threshold=0.6))
    assert (transform.config.ttl_seconds, transform.config.bands, transform.config.rows,
            transform.config.threshold) == (3600.0, 20, 5, 0.6)


def test_apply_decision_sets_fields_and_keeps_existing_relations() -> None:
    base = make("b", OTHER)
    marked = apply_decision(base, Decision("b", duplicate_of="a", kind="near_duplicate",
                                           similarity=0.82))
    assert (marked.duplicate_of, marked.duplicate_kind, marked.duplicate_similarity) == (
        "a", "near_duplicate", 0.82)
    related = apply_decision(base, Decision("b", related=(
        RelatedArticle("z", "probable_translation", 0.5),)))
    assert [(r.id, r.relation, r.confidence) for r in related.related] == [
        ("z", "probable_translation", 0.5)]
    assert related.duplicate_of is None and base.related == []


def test_batch_and_transform_agree() -> None:
    edited = STORY.replace("1,400", "1,500")
    articles = [make("a", STORY), make("b", edited, minutes=1),
                make("c", OTHER, url="https://news.example/a?utm_source=x", minutes=2)]
    expected = [summary(a) for a in deduplicate_batch(articles)]
    assert expected == [("a", None, None), ("b", "a", "near_duplicate"), ("c", "a", "exact_url")]
    with TestPipeline() as p:
        out = p | beam.Create(articles, reshuffle=False) | DeduplicateArticles()
        assert_that(out.articles | beam.Map(summary), equal_to(expected))


def _worker(transform: DeduplicateArticles) -> _DeduplicateFn:
    fn = _DeduplicateFn(transform.config)
    fn.setup()
    return fn


def _feed(fn: _DeduplicateFn, bag: InMemoryBag, meta: InMemoryValue, articles: list[Article]) -> list[Article]:
    out = []
    for item in articles:
        out.extend(fn.process((DEDUP_KEY, (item, None)), records=bag, meta=meta))
    return out


def _stream() -> list[Article]:
    words = (STORY + " " + OTHER).split()
    articles = []
    for i in range(30):
        body = STORY if i % 3 == 0 else " ".join(words[i % 7:] + words[: i % 7]) + f" n{i}"
        if i % 5 == 0:
            body = body.replace("megawatts", f"megawatts ({i})")
        articles.append(make(f"s{i}", body, minutes=60 * i))
    return articles


def test_restart_and_worker_moves_keep_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedup_module, "_COMPACT_MIN", 4)
    transform = DeduplicateArticles(DedupConfig(ttl_seconds=6 * 3600.0))
    articles = _stream()
    expected = [summary(a) for a in deduplicate_batch(articles, transform.config)]
    assert any(kind for _, _, kind in expected) and any(not kind for _, _, kind in expected)

    bag, meta = InMemoryBag(), InMemoryValue()
    first, second = _worker(transform), _worker(transform)
    got = _feed(first, bag, meta, articles[:10])
    got += _feed(second, bag, meta, articles[10:20])   # the key moved to another worker
    got += _feed(first, bag, meta, articles[20:25])    # ...and back: a stale cache
    got += _feed(_worker(transform), bag, meta, articles[25:])  # a restarted worker
    assert [summary(a) for a in got] == expected
    assert len(bag.items) < len(articles)  # expired entries were compacted away


def test_bounded_replay_in_order_reaches_the_streaming_decisions() -> None:
    # the replay graph swaps every stateful ParDo for GroupByKey + the same DoFn over
    # the key's records in replay order, with in-memory state (runners without state)
    from pipeline.stateful_order import RunStatefulInOrderOverride, replay_order

    articles = _stream()
    expected = [summary(a) for a in deduplicate_batch(sorted(articles, key=replay_order))]
    shuffled = articles[:]
    random.Random(5).shuffle(shuffled)
    p = TestPipeline()
    out = p | beam.Create(shuffled) | DeduplicateArticles()
    assert_that(out.articles | beam.Map(summary), equal_to(expected))
    p.replace_all([RunStatefulInOrderOverride()])
    p.run().wait_until_finish()


def test_event_time_is_capped_near_the_wall_clock() -> None:
    wild = make("w", OTHER).model_copy(update={"provenance": Provenance(
        kind=ProvenanceKind.KAFKA, topic="t", partition=0, offset=1,
        timestamp=datetime(2100, 1, 1, tzinfo=UTC))})
    assert article_event_time(wild) <= datetime.now(UTC).timestamp() + MAX_FUTURE_SKEW_SECONDS
    old = make("o", OTHER)  # 2026-01-01: past times are kept as they are
    assert article_event_time(old) == datetime(2026, 1, 1, tzinfo=UTC).timestamp()
