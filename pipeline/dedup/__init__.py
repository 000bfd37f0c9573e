"""Deduplication: one transform, ``DeduplicateArticles(config, bounded=...)``.

Every article is marked with ``duplicate_of``, ``duplicate_kind`` and
``duplicate_similarity`` when it repeats one seen before; probable translations get a
``related`` entry. The pure core is ``pipeline.similarity`` (fingerprints, the index,
components); this package holds its two Beam forms with the same decisions:

- ``streaming``: fingerprints in parallel, then one ordered decision key with the index
  in Beam state (first seen wins needs every earlier decision);
- ``bounded``: a fixed input (files, replays) split by story across workers.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import apache_beam as beam

from pipeline.dedup.bounded import deduplicate_split_by_story
from pipeline.dedup.streaming import (
    apply_decision,
    article_event_time,
    deduplicate_batch,
    deduplicate_in_arrival_order,
    deduplicate_in_event_time_order,
)
from pipeline.similarity import DAY_SECONDS, DedupConfig
from pipeline.stateful_order import replay_order
from schemas.models import Article

__all__ = [
    "DedupConfig",
    "DedupOrder",
    "DeduplicateArticles",
    "apply_decision",
    "article_event_time",
    "deduplicate_batch",
]


class DedupOrder(enum.StrEnum):
    """The order a streaming run decides in (bounded runs always use replay order).

    ``ARRIVAL``: as articles reach the decision key. Right where the graph is fused from
    the Kafka read to the decision (Beam's in-process FnApiRunner): that is Kafka's order
    per partition, and a decision is made as soon as the article arrives.
    ``EVENT_TIME``: held until the watermark passes the article, then decided in replay
    order (Kafka time, topic, partition, offset), for runners that shuffle into the key
    (Prism, Flink, Dataflow deliver in an order of their own). Decisions then equal a
    replay's, at the cost of waiting for the watermark.
    """

    ARRIVAL = "arrival"
    EVENT_TIME = "event-time"


@beam.typehints.with_input_types(Article)
class DeduplicateArticles(beam.PTransform):
    """``Article``s -> outputs ``articles`` (duplicates marked) and ``dead_letter``.

    ``config`` (``DedupConfig``: TTL, LSH banding, thresholds; validated where it is made,
    so state stays bounded) is the same for both forms. ``bounded``: the input is fixed
    (files, replays) and is split by story across workers, fed in ``order``; otherwise
    decisions are made under one key, in ``streaming_order`` (``DedupOrder``).
    """

    def __init__(self, config: DedupConfig | None = None, *, bounded: bool = False,
                 order: Callable[[Any], tuple] = replay_order, partitions: int = 16,
                 streaming_order: DedupOrder = DedupOrder.ARRIVAL) -> None:
        super().__init__()
        self.config = config or DedupConfig()
        self._bounded = bounded
        self._order = order
        self._partitions = partitions
        self._streaming_order = DedupOrder(streaming_order)

    def expand(self, articles: beam.PCollection) -> Any:
        if self._bounded:
            return deduplicate_split_by_story(articles, self.config, self._order,
                                              self._partitions)
        if self._streaming_order is DedupOrder.EVENT_TIME:
            return deduplicate_in_event_time_order(articles, self.config)
        return deduplicate_in_arrival_order(articles, self.config)

    def display_data(self) -> dict[str, Any]:
        return {"ttl_days": self.config.ttl_seconds / DAY_SECONDS, "bands": self.config.bands,
                "rows": self.config.rows, "threshold": self.config.threshold,
                "bounded": self._bounded,
                "streaming_order": self._streaming_order.value}
