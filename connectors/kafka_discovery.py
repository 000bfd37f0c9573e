"""Partition discovery for the Kafka source: which ``PartitionRange``s to read, and when.

``DiscoverPartitions`` lists the selected partitions once (bounded reads).
``WatchPartitions`` is an unbounded SDF that re-lists them every
``discovery_interval_seconds``; the set already emitted lives in its restriction, so a
checkpointed or restarted watch never emits a partition twice, and a topic that grows
partitions or a new topic matching ``--topic-pattern`` is read without restarting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.iobase import RestrictionProgress, RestrictionTracker
from apache_beam.io.watermark_estimators import WalltimeWatermarkEstimator
from apache_beam.transforms.core import RestrictionProvider, WatermarkEstimatorProvider
from apache_beam.utils.timestamp import Duration
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from connectors.kafka_ranges import PartitionRange, fetch_facts, plan_ranges
from connectors.kafka_settings import KafkaSourceConfig

__all__ = ["DiscoverPartitions", "WatchPartitions", "list_partitions", "new_consumer"]

_log = logging.getLogger(__name__)


def new_consumer(config: KafkaSourceConfig, *, with_group: bool) -> KafkaConsumer:
    """A consumer for ``assign()`` use: no auto-commit, no group membership."""
    kwargs = config.client.client_kwargs()
    kwargs.update(enable_auto_commit=False, auto_offset_reset="earliest",
                  group_id=config.group_id if with_group else None)
    return KafkaConsumer(**kwargs)


def partitions_for(consumer: KafkaConsumer, topic: str) -> set[int]:
    """Partition ids of ``topic`` from the consumer's metadata (one seam for tests)."""
    return set(consumer.partitions_for_topic(topic) or ())


def list_partitions(consumer: KafkaConsumer, config: KafkaSourceConfig) -> set[tuple[str, int]]:
    """Topic-partitions the config selects, from freshly requested cluster metadata."""
    found: set[tuple[str, int]] = set()
    for topic in sorted(consumer.topics()):  # topics() refreshes the metadata
        if config.matches(topic):
            found.update((topic, p) for p in partitions_for(consumer, topic))
    return found


class _PartitionLister:
    """Lists the selected partitions and plans ranges for the ones not seen before."""

    def __init__(self, config: KafkaSourceConfig) -> None:
        self._config = config
        self._consumer: KafkaConsumer | None = None

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def new_ranges(self, known: frozenset[tuple[str, int]],
                   ) -> tuple[frozenset[tuple[str, int]], list[PartitionRange]]:
        config = self._config
        if self._consumer is None:
            self._consumer = new_consumer(config, with_group=True)
        found = list_partitions(self._consumer, config)
        new = found - known
        facts = fetch_facts(self._consumer, [TopicPartition(*tp) for tp in new],
                            config.start, config.stop)
        ranges = plan_ranges(facts, config.start, config.stop, discovered_later=bool(known))
        if ranges:
            _log.info("partitions discovered", extra={
                "partitions": len(new), "ranges": [r.describe() for r in ranges]})
        return frozenset(found | known), ranges


class DiscoverPartitions(beam.DoFn):
    """Impulse -> a ``PartitionRange`` per selected partition, listed once."""

    def __init__(self, config: KafkaSourceConfig) -> None:
        self._config = config

    def setup(self) -> None:
        self._lister = _PartitionLister(self._config)

    def teardown(self) -> None:
        self._lister.close()

    def process(self, element):
        _, ranges = self._lister.new_ranges(frozenset())
        if not ranges:
            _log.warning("no partition matches the Kafka source's topics", extra={
                "topics": list(self._config.topics), "topic_pattern": self._config.topic_pattern})
        yield from ranges


@dataclass(frozen=True)
class _Discovered:
    """Restriction of the watch: partitions already emitted, and whether it is done."""

    known: frozenset[tuple[str, int]] = frozenset()
    finished: bool = False


class _DiscoveryTracker(RestrictionTracker):
    """Claims one listing round at a time; a checkpoint carries the grown known set."""

    def __init__(self, restriction: _Discovered) -> None:
        self._restriction = restriction
        self._claimed: frozenset[tuple[str, int]] | None = None
        self._split = False

    def current_restriction(self) -> _Discovered:
        return self._restriction

    def try_claim(self, known: frozenset[tuple[str, int]]) -> bool:
        if self._restriction.finished or self._split:
            return False
        self._claimed = known
        return True

    def try_split(self, fraction_of_remainder: float):
        if fraction_of_remainder != 0 or self._split or self._restriction.finished:
            return None  # only self-checkpoints: a listing round is not divisible
        self._split = True
        residual = _Discovered(self._claimed if self._claimed is not None
                               else self._restriction.known)
        self._restriction = _Discovered(self._restriction.known, finished=True)
        return self._restriction, residual

    def check_done(self) -> None:
        return None

    def current_progress(self) -> RestrictionProgress:
        return RestrictionProgress(completed=0, remaining=1)

    def is_bounded(self) -> bool:
        return False


class _DiscoveryProvider(RestrictionProvider):
    def initial_restriction(self, element) -> _Discovered:
        return _Discovered()

    def create_tracker(self, restriction: _Discovered) -> _DiscoveryTracker:
        return _DiscoveryTracker(restriction)

    def restriction_size(self, element, restriction) -> int:
        return 1

    def split(self, element, restriction):
        yield restriction


class _WalltimeProvider(WatermarkEstimatorProvider):
    def initial_estimator_state(self, element, restriction):
        return None

    def create_watermark_estimator(self, estimator_state):
        return WalltimeWatermarkEstimator(estimator_state)


_DISCOVERY_RESTRICTION = beam.DoFn.RestrictionParam(_DiscoveryProvider())
_WALLTIME_WATERMARK = beam.DoFn.WatermarkEstimatorParam(_WalltimeProvider())


class WatchPartitions(beam.DoFn):
    """Impulse -> ``PartitionRange``s, re-listing every ``discovery_interval_seconds``."""

    def __init__(self, config: KafkaSourceConfig) -> None:
        self._config = config

    def setup(self) -> None:
        self._lister = _PartitionLister(self._config)

    def teardown(self) -> None:
        self._lister.close()

    @beam.DoFn.unbounded_per_element()
    def process(self, element, tracker=_DISCOVERY_RESTRICTION,
                watermark_estimator=_WALLTIME_WATERMARK):
        config = self._config
        state: _Discovered = tracker.current_restriction()
        try:
            known, ranges = self._lister.new_ranges(state.known)
        except KafkaError as exc:
            _log.warning("partition discovery failed, retrying", extra={
                "error_class": type(exc).__name__, "error": str(exc),
                "retry_in_s": config.backoff_max_seconds})
            self._lister.close()
            tracker.defer_remainder(Duration.of(config.backoff_max_seconds))
            return
        if not tracker.try_claim(known):
            return
        yield from ranges
        if config.discovery_interval_seconds > 0:
            tracker.defer_remainder(Duration.of(config.discovery_interval_seconds))
