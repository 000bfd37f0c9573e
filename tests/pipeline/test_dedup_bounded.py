"""Bounded dedup split by story: the decisions of one index over the run, on a real runner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.dedup import DedupConfig, DeduplicateArticles, deduplicate_batch
from pipeline.stage import ARTICLES, DEAD_LETTER
from pipeline.stateful_order import replay_order
from schemas.models import Article, Provenance, ProvenanceKind
from tests.support.stories import mixed_run

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def articles_of_run(seed: int) -> list[Article]:
    """``mixed_run`` as lines of one export file: the run order is the line order, the
    event time ``published_at`` (late for some lines, absent for others), so the run's
    clock is not simply the time of the record at hand."""
    docs, times = mixed_run(seed)
    out = []
    for line, (doc, ts) in enumerate(zip(docs, times, strict=True)):
        url = doc.canonical_url
        out.append(Article(
            id=doc.id, url=url, canonical_url=url, title=doc.title, body=doc.body,
            language=doc.language, source_url=doc.source_url,
            published_at=None if ts is None else T0 + timedelta(minutes=ts),
            provenance=Provenance(kind=ProvenanceKind.FILE, file="export.jsonl", line=line)))
    return out


def decision(article: Article) -> tuple:
    return (article.id, article.provenance.line, article.duplicate_of,
            article.duplicate_kind, article.duplicate_similarity,
            tuple((r.id, r.relation, r.confidence) for r in article.related))


def test_bounded_dedup_equals_one_index_over_the_run_in_replay_order() -> None:
    articles = articles_of_run(2)
    # the last record copies the first but carries no time: the run's clock (not the
    # story's own) says the first has expired by then, so the copy is canonical
    late = articles[0].model_copy(update={"id": "untimed-copy", "published_at": None,
                                          "provenance": Provenance(
        kind=ProvenanceKind.FILE, file="export.jsonl", line=len(articles))})
    articles.append(late)
    config = DedupConfig(ttl_seconds=timedelta(hours=1).total_seconds())  # some entries expire
    expected = [decision(a) for a in deduplicate_batch(sorted(articles, key=replay_order),
                                                       config)]
    assert sum(1 for e in expected if e[2]) > 10 and any(e[5] for e in expected)
    assert expected[-1][:3] == ("untimed-copy", len(articles) - 1, None)
    p = TestPipeline()
    out = (p | beam.Create(list(reversed(articles)))  # arrival order is not the run order
           | DeduplicateArticles(config, bounded=True))
    assert_that(out[ARTICLES] | beam.Map(decision), equal_to(expected), label="decisions")
    assert_that(out[DEAD_LETTER], equal_to([]), label="no_dead_letters")
    result = p.run()
    result.wait_until_finish()
    components = result.metrics().query(MetricsFilter().with_name("components"))["counters"]
    # stories, not one global key: the work is spread over many keys
    assert sum(c.committed for c in components) > 40


def test_bounded_dedup_dead_letters_what_it_cannot_read_and_loses_nothing() -> None:
    articles = articles_of_run(1)[:30]
    broken = articles[3].model_copy(update={  # bypasses validation: the core cannot read it
        "body": 12345, "id": "broken",
        "provenance": articles[3].provenance.model_copy(update={"line": 999})})
    p = TestPipeline()
    out = p | beam.Create([*articles, broken]) | DeduplicateArticles(
        DedupConfig(), bounded=True)
    assert_that(out[ARTICLES] | beam.Map(lambda a: (a.id, a.provenance.line)),
                equal_to([(a.id, a.provenance.line) for a in articles]), label="kept")
    assert_that(out[DEAD_LETTER] | beam.Map(
        lambda d: (d.stage, d.provenance.line, b"broken" in d.payload)),
        equal_to([("dedup", 999, True)]), label="dead")
    p.run().wait_until_finish()
