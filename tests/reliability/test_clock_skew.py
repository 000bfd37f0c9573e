"""Months of running: one record with a wild timestamp must not switch deduplication off.

Dedup ages its index on event time (Kafka CreateTime, else ``published_at``): its clock is
the largest event time seen, and entries older than clock - TTL are evicted. A single
producer with a wrong clock (CreateTime in 2100) or a page dated 2999 moves that clock
decades ahead: every entry is evicted and no later article ever matches again, for the
rest of the job (with persistent state on Flink/Dataflow: for good). The clock should
not move past the wall clock (plus a small skew).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.dedup.streaming import deduplicate_batch
from schemas.models import Article, Provenance, ProvenanceKind

_STORY = ("The harbour council met on Tuesday evening to discuss the new ferry timetable, "
          "which residents say has made it harder for them to reach the hospital on time. ") * 3
_OTHER = ("A spokesperson for the operator said that the company was aware of the complaints "
          "and that it would publish a revised plan after talks with the council next week. ") * 3


def _article(serial: int, body: str, *, kafka_time: datetime | None,
             published: datetime | None = None) -> Article:
    return Article(id=f"a{serial}", url=f"https://x.example/{serial}",
                   canonical_url=f"https://x.example/{serial}", body=body,
                   published_at=published,
                   provenance=Provenance(kind=ProvenanceKind.KAFKA, topic="t", partition=0,
                                         offset=serial, timestamp=kafka_time))


NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.mark.parametrize("wild", [
    {"kafka_time": datetime(2100, 1, 1, tzinfo=UTC)},
    {"kafka_time": None, "published": datetime(2999, 1, 1, tzinfo=UTC)},
], ids=["CreateTime in 2100", "published_at in 2999 without a Kafka time"])
def test_one_future_timestamp_does_not_switch_dedup_off(wild: dict) -> None:
    seen = deduplicate_batch([
        _article(1, _STORY, kafka_time=NOW),
        _article(2, "An unrelated note about a museum opening in spring, with paintings.", **wild),
        _article(3, _STORY, kafka_time=NOW),
        _article(4, _OTHER, kafka_time=NOW),
        _article(5, _OTHER, kafka_time=NOW),
    ])
    duplicates = {a.id: a.duplicate_of for a in seen}
    assert duplicates["a3"] == "a1", "a copy seen before the wild timestamp was forgotten"
    assert duplicates["a5"] == "a4", "copies arriving after the wild timestamp never match"
