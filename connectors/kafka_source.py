"""The Kafka source: ``ReadFromKafka``, a pure-Python splittable DoFn on kafka-python.

Impulse -> ``DiscoverPartitions`` (an SDF that lists topic-partitions, and in streaming
re-lists them every ``discovery_interval_seconds``, keeping the set already emitted in its
restriction so a restart never re-emits them) -> ``ReadPartitions`` (an SDF reading one
``PartitionRange`` per element with ``assign()``; restriction = offset range).

Delivery: at-least-once. A record's offset is committed to the consumer group from a
bundle-finalization callback, which runners call only after the bundle's outputs are
durably committed (fused downstream writes included). A crash before that re-reads the
records; a record is never skipped.
"""

from __future__ import annotations

import logging
import random
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.io.iobase import RestrictionTracker
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider, WatermarkEstimatorProvider
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Duration, Timestamp
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from connectors.kafka_ranges import UNBOUNDED, PartitionRange, fetch_facts, plan_ranges
from connectors.kafka_settings import KafkaSourceConfig, StopKind, TimestampPolicy
from pipeline.models import Provenance, ProvenanceKind, RawMessage

__all__ = ["METRICS_NAMESPACE", "DiscoverPartitions", "ReadFromKafka", "ReadPartitions",
           "ReadPartitionsUnbounded", "StopAt", "WatchPartitions", "list_partitions"]

_log = logging.getLogger(__name__)

METRICS_NAMESPACE = "ReadFromKafka"
_CONSUMER_CACHE = 8  # consumers kept per DoFn instance, one per recently read partition


def new_consumer(config: KafkaSourceConfig, *, with_group: bool) -> KafkaConsumer:
    kwargs = config.client.client_kwargs()
    kwargs.update(enable_auto_commit=False, auto_offset_reset="earliest",
                  group_id=config.group_id if with_group else None)
    return KafkaConsumer(**kwargs)


def list_partitions(consumer: KafkaConsumer, config: KafkaSourceConfig) -> set[tuple[str, int]]:
    """Topic-partitions the config selects, from fresh cluster metadata."""
    topics = consumer.topics()  # forces a metadata refresh
    found: set[tuple[str, int]] = set()
    for topic in sorted(topics):
        if config.matches(topic):
            found.update((topic, p) for p in consumer.partitions_for_topic(topic) or ())
    return found


# ---------------------------------------------------------------------------- discovery

@dataclass(frozen=True)
class _Discovered:
    """Restriction of the discovery SDF: partitions already emitted, and whether done."""

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
            return None
        self._split = True
        residual = _Discovered(self._claimed if self._claimed is not None
                               else self._restriction.known)
        primary = _Discovered(self._restriction.known, finished=True)
        self._restriction = primary
        return primary, residual

    def check_done(self) -> None:
        return None

    def current_progress(self):
        from apache_beam.io.iobase import RestrictionProgress
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
        from apache_beam.io.watermark_estimators import WalltimeWatermarkEstimator
        return WalltimeWatermarkEstimator(estimator_state)


_DISCOVERY_RESTRICTION = beam.DoFn.RestrictionParam(_DiscoveryProvider())
_WALLTIME_WATERMARK = beam.DoFn.WatermarkEstimatorParam(_WalltimeProvider())


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
    """Impulse -> a ``PartitionRange`` per selected partition, listed once (bounded reads)."""

    def __init__(self, config: KafkaSourceConfig) -> None:
        self._config = config

    def setup(self) -> None:
        self._lister = _PartitionLister(self._config)

    def teardown(self) -> None:
        self._lister.close()

    def process(self, element):
        _, ranges = self._lister.new_ranges(frozenset())
        yield from ranges


class WatchPartitions(beam.DoFn):
    """Impulse -> ``PartitionRange``s, re-listing every ``discovery_interval_seconds``.

    The partitions already emitted live in the restriction, so a checkpointed or
    restarted watch never emits a partition twice; a grown topic or a new topic matching
    ``--topic-pattern`` is read without restarting the job.
    """

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
                "error_class": type(exc).__name__, "error": str(exc)})
            self._lister.close()
            tracker.defer_remainder(Duration.of(config.backoff_max_seconds))
            return
        if not tracker.try_claim(known):
            return
        yield from ranges
        if config.discovery_interval_seconds > 0:
            tracker.defer_remainder(Duration.of(config.discovery_interval_seconds))


# ---------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class StopAt:
    """Claim position meaning "the range ends here" (idle stop, stop timestamp)."""

    offset: int


class _KafkaOffsetTracker(OffsetRestrictionTracker):
    """Offset-range tracker that can end its range early and reports backlog as progress."""

    def __init__(self, offset_range: OffsetRange) -> None:
        super().__init__(offset_range)
        self.estimated_end: int | None = None

    def try_claim(self, position) -> bool:
        if isinstance(position, StopAt):
            stop = max(position.offset, self._range.start)
            if self._last_claim_attempt is not None:
                stop = max(stop, self._last_claim_attempt + 1)
            if stop < self._range.stop:
                self._range = OffsetRange(self._range.start, stop)
            self._last_claim_attempt = max(self._range.stop - 1, self._range.start)
            return False
        return super().try_claim(position)

    def current_progress(self):
        from apache_beam.io.iobase import RestrictionProgress
        position = (self._last_claim_attempt + 1 if self._last_claim_attempt is not None
                    else self._range.start)
        end = self._range.stop if self._range.stop != UNBOUNDED else self.estimated_end
        if end is None:
            return RestrictionProgress(completed=0, remaining=1)
        return RestrictionProgress(completed=max(0, position - self._range.start),
                                   remaining=max(0, end - position))

    def is_bounded(self) -> bool:
        return self._range.stop != UNBOUNDED


class _RangeProvider(RestrictionProvider):
    def initial_restriction(self, element: PartitionRange) -> OffsetRange:
        return OffsetRange(element.start, UNBOUNDED if element.stop is None else element.stop)

    def create_tracker(self, restriction: OffsetRange) -> _KafkaOffsetTracker:
        return _KafkaOffsetTracker(restriction)

    def restriction_size(self, element, restriction: OffsetRange) -> int:
        return 1 if restriction.stop == UNBOUNDED else restriction.size()

    def split(self, element, restriction):
        yield restriction


class _WatermarkProvider(WatermarkEstimatorProvider):
    def initial_estimator_state(self, element, restriction):
        return MIN_TIMESTAMP

    def create_watermark_estimator(self, estimator_state):
        return ManualWatermarkEstimator(estimator_state)


_RANGE_RESTRICTION = beam.DoFn.RestrictionParam(_RangeProvider())
_MANUAL_WATERMARK = beam.DoFn.WatermarkEstimatorParam(_WatermarkProvider())


class ReadPartitions(beam.DoFn):
    """``PartitionRange`` -> ``RawMessage`` per record, timestamped by the policy.

    Bounded: use this class directly (replay). Streaming: ``ReadPartitionsUnbounded``.
    """

    def __init__(self, config: KafkaSourceConfig) -> None:
        self._config = config

    def setup(self) -> None:
        self._consumers: OrderedDict[tuple[str, int], KafkaConsumer] = OrderedDict()
        self._committer: KafkaConsumer | None = None
        self._idle_since: dict[tuple[str, int], tuple[int, float]] = {}
        self._failures: dict[tuple[str, int], int] = {}
        self._committed: dict[tuple[str, int], int] = {}
        self._commit_failures = Metrics.counter(METRICS_NAMESPACE, "commit_failures")
        self._errors = Metrics.counter(METRICS_NAMESPACE, "broker_errors")

    def teardown(self) -> None:
        for consumer in self._consumers.values():
            consumer.close()
        self._consumers.clear()
        if self._committer is not None:
            self._committer.close()
            self._committer = None

    def _consumer_for(self, key: tuple[str, int]) -> KafkaConsumer:
        consumer = self._consumers.pop(key, None)
        if consumer is None:
            consumer = new_consumer(self._config, with_group=False)
            consumer.assign([TopicPartition(*key)])
        self._consumers[key] = consumer
        while len(self._consumers) > _CONSUMER_CACHE:
            _, old = self._consumers.popitem(last=False)
            old.close()
        return consumer

    def _drop_consumer(self, key: tuple[str, int]) -> None:
        consumer = self._consumers.pop(key, None)
        if consumer is not None:
            consumer.close()

    def process(self, element: PartitionRange,
                bundle_finalizer=beam.DoFn.BundleFinalizerParam,
                tracker=_RANGE_RESTRICTION,
                watermark_estimator=_MANUAL_WATERMARK):
        config = self._config
        key = element.key
        tp = TopicPartition(*key)
        restriction: OffsetRange = tracker.current_restriction()
        position = restriction.start
        name = f"{element.topic}-{element.partition}"
        records_read = Metrics.counter(METRICS_NAMESPACE, f"records-{name}")
        bytes_read = Metrics.counter(METRICS_NAMESPACE, f"bytes-{name}")
        backlog = Metrics.gauge(METRICS_NAMESPACE, f"backlog-{name}")
        last_claimed: int | None = None
        done = False
        delay = 0.0
        deadline = time.monotonic() + config.bundle_seconds
        try:
            consumer = self._consumer_for(key)
            if consumer.position(tp) != position:
                consumer.seek(tp, position)
            while not done and time.monotonic() < deadline:
                batch = consumer.poll(timeout_ms=config.poll_timeout_ms,
                                      max_records=config.max_poll_records).get(tp, [])
                for record in batch:
                    if record.offset < position:
                        continue  # re-delivered after an offset reset
                    if (element.stop_time_ms is not None
                            and record.timestamp >= element.stop_time_ms):
                        tracker.try_claim(StopAt(record.offset))
                        done = True
                        break
                    if not tracker.try_claim(record.offset):
                        done = True
                        break
                    last_claimed = record.offset
                    position = record.offset + 1
                    records_read.inc()
                    bytes_read.inc(len(record.value or b"") + len(record.key or b""))
                    yield self._timestamped(record, watermark_estimator)
                if done:
                    break
                position = max(position, consumer.position(tp))
                high = consumer.highwater(tp)
                if high is not None:
                    backlog.set(max(0, high - position))
                if position >= restriction.stop:
                    tracker.try_claim(restriction.stop)
                    done = True
                    break
                caught_up = high is not None and position >= high
                done = self._stop_when_idle(element, tracker, position, caught_up)
                self._advance_watermark(key, watermark_estimator, caught_up, position)
                if caught_up and not batch:
                    delay = config.poll_timeout_ms / 1000
                    break
            self._failures.pop(key, None)
        except KafkaError as exc:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            self._errors.inc()
            delay = min(config.backoff_max_seconds,
                        config.backoff_initial_seconds * 2 ** (failures - 1))
            delay *= 0.5 + random.random() / 2
            _log.warning("kafka read failed, retrying with backoff", extra={
                "topic": element.topic, "partition": element.partition, "offset": position,
                "attempt": failures, "retry_in_s": round(delay, 2),
                "error_class": type(exc).__name__, "error": str(exc)})
            self._drop_consumer(key)
        if last_claimed is not None and config.commit_offsets:
            commit_at = last_claimed + 1
            bundle_finalizer.register(lambda: self._commit(tp, commit_at))
        if not done:
            tracker.defer_remainder(Duration.of(delay))

    def _stop_when_idle(self, element: PartitionRange, tracker, position: int,
                        caught_up: bool) -> bool:
        """Drained (``--stop drained:S``) or past the stop time: end the range here."""
        config = self._config
        if not caught_up:
            self._idle_since.pop(element.key, None)
            return False
        now = time.time()
        if element.stop_time_ms is not None and now * 1000 >= element.stop_time_ms:
            tracker.try_claim(StopAt(position))
            return True
        if config.stop.kind is not StopKind.DRAINED:
            return False
        since = self._idle_since.get(element.key)
        if since is None or since[0] != position:
            self._idle_since[element.key] = (position, time.monotonic())
            return False
        if time.monotonic() - since[1] >= config.stop.idle_seconds:
            _log.info("partition drained, stopping", extra={
                "topic": element.topic, "partition": element.partition, "offset": position})
            tracker.try_claim(StopAt(position))
            return True
        return False

    def _timestamped(self, record, watermark_estimator) -> beam.window.TimestampedValue:
        policy = self._config.timestamp_policy
        if policy is TimestampPolicy.PROCESSING_TIME or record.timestamp is None \
                or record.timestamp < 0:
            event_time = Timestamp.now()
        else:
            event_time = Timestamp.of(record.timestamp / 1000)
        if policy is not TimestampPolicy.PROCESSING_TIME:
            mark = event_time - Duration.of(self._config.max_delay_seconds)
            if mark > watermark_estimator.current_watermark():
                watermark_estimator.set_watermark(mark)
        message = RawMessage(value=record.value, provenance=Provenance(
            kind=ProvenanceKind.KAFKA, topic=record.topic, partition=record.partition,
            offset=record.offset,
            timestamp=None if record.timestamp is None or record.timestamp < 0
            else datetime.fromtimestamp(record.timestamp / 1000, UTC),
            key=record.key,
            headers={k: (v or b"") for k, v in (record.headers or [])}))
        return beam.window.TimestampedValue(message, event_time)

    def _advance_watermark(self, key, watermark_estimator, caught_up: bool,
                           position: int) -> None:
        """Processing time: now. Otherwise: an idle partition moves to now - max delay,
        so downstream windows close although no record arrives (as KafkaIO's policies)."""
        config = self._config
        if config.timestamp_policy is TimestampPolicy.PROCESSING_TIME:
            mark = Timestamp.now()
        elif caught_up:
            since = self._idle_since.get(key)
            if since is None or since[0] != position:
                self._idle_since.setdefault(key, (position, time.monotonic()))
                return
            if time.monotonic() - since[1] < config.idle_watermark_seconds:
                return
            mark = Timestamp.now() - Duration.of(config.max_delay_seconds)
        else:
            return
        if mark > watermark_estimator.current_watermark():
            watermark_estimator.set_watermark(mark)

    def _commit(self, tp: TopicPartition, offset: int) -> None:
        key = (tp.topic, tp.partition)
        if self._committed.get(key, -1) >= offset:
            return
        try:
            if self._committer is None:
                self._committer = new_consumer(self._config, with_group=True)
            self._committer.commit({tp: OffsetAndMetadata(offset, "", -1)})
            self._committed[key] = offset
        except KafkaError as exc:
            # Not fatal: the next finalized bundle commits a later offset; a restart before
            # then re-reads from the older commit (at-least-once).
            self._commit_failures.inc()
            _log.warning("offset commit failed", extra={
                "topic": tp.topic, "partition": tp.partition, "offset": offset,
                "group_id": self._config.group_id, "error_class": type(exc).__name__,
                "error": str(exc)})


class ReadPartitionsUnbounded(ReadPartitions):
    """Streaming variant: the runner treats each element as unbounded work."""

    @beam.DoFn.unbounded_per_element()
    def process(self, element: PartitionRange,
                bundle_finalizer=beam.DoFn.BundleFinalizerParam,
                tracker=_RANGE_RESTRICTION,
                watermark_estimator=_MANUAL_WATERMARK):
        yield from super().process(element, bundle_finalizer, tracker, watermark_estimator)


class ReadFromKafka(beam.PTransform):
    """PBegin -> PCollection[RawMessage], event-timestamped by ``config.timestamp_policy``.

    ``--kafka-io=xlang`` is handled by the graph with ``connectors.xlang_kafka`` instead.
    """

    def __init__(self, config: KafkaSourceConfig, label: str | None = None) -> None:
        super().__init__(label)
        self._config = config

    def expand(self, pbegin):
        config = self._config
        if config.bounded:
            discover, read = DiscoverPartitions(config), ReadPartitions(config)
        else:
            discover, read = WatchPartitions(config), ReadPartitionsUnbounded(config)
        return (
            pbegin
            | "Impulse" >> beam.Impulse()
            | "DiscoverPartitions" >> beam.ParDo(discover)
            | "ReadPartitions" >> beam.ParDo(read).with_output_types(RawMessage))
