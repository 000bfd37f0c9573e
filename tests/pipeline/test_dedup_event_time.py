"""Streaming dedup in event-time order, under Beam's ``TestStream`` (event time, the
watermark and processing order set by the test), on Beam's bundle-based DirectRunner in
streaming mode, which runs TestStream with timers and needs no Go.

Oracle: the decisions are worked out by hand. The original of a story is the article with
the earlier Kafka time; the copy arrives first (as a runner that shuffles may deliver
it). Arrival order decides the copy is the original; event-time order must not.
"""

from __future__ import annotations

from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from pipeline.dedup import DedupConfig, DeduplicateArticles, DedupOrder
from pipeline.dedup.streaming import split_due
from pipeline.stage import ARTICLES
from schemas.models import Article, Provenance, ProvenanceKind
from tests.support.stories import prose

STORY, OTHER = prose(11), prose(12)
T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def kafka(ident: str, body: str, seconds: int, partition: int, offset: int) -> Article:
    url = f"https://news.example/{ident}"
    return Article(id=ident, url=url, canonical_url=url, title="", body=body, language="en",
                   provenance=Provenance(kind=ProvenanceKind.KAFKA, topic="t",
                                         partition=partition, offset=offset,
                                         timestamp=datetime.fromtimestamp(T0 + seconds, UTC)))


def stamped(article: Article) -> TimestampedValue:
    return TimestampedValue(article, article.provenance.timestamp.timestamp())


ORIGINAL = kafka("original", STORY, 10, partition=0, offset=7)
COPY = kafka("copy", STORY.upper(), 20, partition=1, offset=3)
UNRELATED = kafka("unrelated", OTHER, 15, partition=2, offset=0)


def _copy_first() -> TestStream:
    """The copy (Kafka time 20 s) reaches the decision step before the original (10 s)."""
    return (TestStream()
            .advance_watermark_to(T0)
            .add_elements([stamped(COPY)])
            .add_elements([stamped(UNRELATED)])
            .add_elements([stamped(ORIGINAL)])
            .advance_watermark_to(T0 + 30)
            .advance_watermark_to_infinity())


def _decided(stream: TestStream, order: DedupOrder, expected: list[tuple]) -> None:
    """Run ``stream`` through the dedup stage deciding in ``order``; assert each
    article's ``(id, duplicate_of)``."""
    options = PipelineOptions(["--runner", "BundleBasedDirectRunner", "--streaming"])
    with beam.Pipeline(options=options) as p:
        out = p | stream | DeduplicateArticles(DedupConfig(), streaming_order=order)
        assert_that(out[ARTICLES] | beam.Map(lambda a: (a.id, a.duplicate_of)),
                    equal_to(expected))


def test_event_time_order_decides_the_earlier_article_is_the_original() -> None:
    _decided(_copy_first(), DedupOrder.EVENT_TIME,
             [("original", None), ("unrelated", None), ("copy", "original")])


def test_arrival_order_decides_the_first_to_arrive_is_the_original() -> None:
    """The same stream decided on arrival: the oracle above can fail."""
    _decided(_copy_first(), DedupOrder.ARRIVAL,
             [("copy", None), ("unrelated", None), ("original", "copy")])


def test_an_article_waits_for_the_watermark_and_a_late_one_is_decided_after_it() -> None:
    """Held until the watermark passes: the original (10 s) arrives after the watermark
    reached 25 s (late); the copy (20 s) was decided at 25 s, so the late original is
    decided after it and becomes its duplicate: late data cannot reorder what is decided."""
    stream = (TestStream()
              .advance_watermark_to(T0)
              .add_elements([stamped(COPY)])
              .advance_watermark_to(T0 + 25)
              .add_elements([stamped(ORIGINAL)])
              .advance_watermark_to_infinity())
    _decided(stream, DedupOrder.EVENT_TIME, [("copy", None), ("original", "copy")])


def test_split_due_orders_by_time_then_partition_then_offset() -> None:
    a = kafka("a", STORY, 10, partition=1, offset=5)
    b = kafka("b", STORY, 10, partition=0, offset=9)
    c = kafka("c", STORY, 10, partition=0, offset=2)
    d = kafka("d", STORY, 11, partition=0, offset=1)
    micros = {x.id: int((T0 + s) * 1e6) for x, s in ((a, 10), (b, 10), (c, 10), (d, 11))}
    held = [(micros[x.id], (x, None)) for x in (d, a, b, c)]
    due, later = split_due(held, micros["a"])
    assert [article.id for article, _ in due] == ["c", "b", "a"]
    assert later == [(micros["d"], (d, None))]
