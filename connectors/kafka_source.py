"""The Kafka source: ``ReadFromKafka``, a pure-Python splittable DoFn on kafka-python.

Impulse -> ``DiscoverPartitions``/``WatchPartitions`` (``connectors.kafka_discovery``) ->
``ReadPartitions``: an SDF reading one ``PartitionRange`` per element with ``assign()``;
restriction = offset range ``[start, stop)``, ``stop`` unbounded when streaming.

Delivery: at-least-once. A record's offset is committed to the consumer group from a
bundle-finalization callback, which runners call only after the bundle's outputs are
durably committed (fused downstream writes included). A crash before that re-reads the
records from the last commit; a record is never skipped.
"""

from __future__ import annotations

import logging
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.io.iobase import RestrictionProgress
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider, WatermarkEstimatorProvider
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Duration, Timestamp
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from connectors.kafka_discovery import DiscoverPartitions, WatchPartitions, new_consumer
from connectors.kafka_ranges import UNBOUNDED, PartitionRange
from connectors.kafka_settings import KafkaSourceConfig, StopKind, TimestampPolicy
from pipeline.models import Provenance, ProvenanceKind, RawMessage

__all__ = ["METRICS_NAMESPACE", "ReadFromKafka", "ReadPartitions", "ReadPartitionsUnbounded",
           "StopAt"]

_log = logging.getLogger(__name__)

METRICS_NAMESPACE = "ReadFromKafka"
_CONSUMER_CACHE = 8  # consumers kept per DoFn instance, one per recently read partition


# ---------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class StopAt:
    """Claim position meaning "the range ends here" (idle stop, stop timestamp)."""

    offset: int


class _KafkaOffsetTracker(OffsetRestrictionTracker):
    """Offset-range tracker whose range can end early (``StopAt``) and may be unbounded."""

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

    def current_progress(self) -> RestrictionProgress:
        if self._range.stop == UNBOUNDED:  # backlog is reported as a metric instead
            return RestrictionProgress(completed=0, remaining=1)
        return super().current_progress()

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




@dataclass
class _PartitionState:
    """What one DoFn instance remembers about a partition between process() calls."""

    caught_up_at: int | None = None  # position at which the partition was last caught up
    caught_up_since: float = 0.0  # monotonic time it got there
    last_probe: float = 0.0
    failures: int = 0
    metrics: dict = field(default_factory=dict)


class ReadPartitions(beam.DoFn):
    """``PartitionRange`` -> ``RawMessage`` per record, timestamped by the policy.

    Bounded reads (replay) use this class; streaming uses ``ReadPartitionsUnbounded``.
    Consumers live per DoFn instance (one per recently read partition), not per call.
    """

    def __init__(self, config: KafkaSourceConfig) -> None:
        self._config = config

    def setup(self) -> None:
        self._consumers: OrderedDict[tuple[str, int], KafkaConsumer] = OrderedDict()
        self._committer: KafkaConsumer | None = None
        self._states: dict[tuple[str, int], _PartitionState] = {}
        self._committed: dict[tuple[str, int], int] = {}
        self._commit_failures = Metrics.counter(METRICS_NAMESPACE, "commit_failures")
        self._broker_errors = Metrics.counter(METRICS_NAMESPACE, "broker_errors")

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

    def _state(self, element: PartitionRange) -> _PartitionState:
        state = self._states.get(element.key)
        if state is None:
            name = f"{element.topic}-{element.partition}"
            state = self._states[element.key] = _PartitionState(metrics={
                "records": Metrics.counter(METRICS_NAMESPACE, f"records-{name}"),
                "bytes": Metrics.counter(METRICS_NAMESPACE, f"bytes-{name}"),
                "backlog": Metrics.gauge(METRICS_NAMESPACE, f"backlog-{name}")})
        return state

    def process(self, element: PartitionRange,
                bundle_finalizer=beam.DoFn.BundleFinalizerParam,
                tracker=_RANGE_RESTRICTION,
                watermark_estimator=_MANUAL_WATERMARK):
        config = self._config
        tp = TopicPartition(*element.key)
        state = self._state(element)
        restriction: OffsetRange = tracker.current_restriction()
        position = restriction.start
        last_claimed: int | None = None
        done = False
        delay = 0.0
        deadline = time.monotonic() + config.bundle_seconds
        try:
            consumer = self._consumer_for(element.key)
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
                        done = not tracker.try_claim(StopAt(record.offset))
                        break
                    if not tracker.try_claim(record.offset):
                        done = True
                        break
                    last_claimed, position = record.offset, record.offset + 1
                    state.metrics["records"].inc()
                    state.metrics["bytes"].inc(len(record.value or b"") + len(record.key or b""))
                    yield self._timestamped(record, watermark_estimator)
                if done:
                    break
                position = max(position, consumer.position(tp))
                if position >= restriction.stop:  # exact stop: past gaps too, never beyond
                    tracker.try_claim(restriction.stop)
                    done = True
                    break
                high = consumer.highwater(tp)
                if high is not None:
                    state.metrics["backlog"].set(max(0, high - position))
                if batch:
                    state.caught_up_at = None
                    continue
                if high is None or position < high:
                    self._probe(element, state, consumer, tp, position)
                    continue
                # Caught up with the last fetch: is the broker still there, and for how long?
                if state.caught_up_at != position:
                    state.caught_up_at, state.caught_up_since = position, time.monotonic()
                done = self._stop_if_over(element, state, consumer, tp, tracker, position)
                self._advance_idle_watermark(state, watermark_estimator)
                delay = config.poll_timeout_ms / 1000
                break
            self._recovered(element, state)
        except KafkaError as exc:
            delay = self._failed(element, state, exc, position)
        if last_claimed is not None and config.commit_offsets:
            commit_at = last_claimed + 1
            bundle_finalizer.register(lambda: self._commit(tp, commit_at))
        if config.timestamp_policy is TimestampPolicy.PROCESSING_TIME:
            _raise_watermark(watermark_estimator, Timestamp.now())
        if not done:
            tracker.defer_remainder(Duration.of(delay))

    def _probe(self, element, state, consumer, tp, position) -> int:
        """Ask the broker for the log end (at most every ``liveness_seconds``): raises on
        an unreachable broker, so an outage is noticed, logged and retried with backoff."""
        now = time.monotonic()
        if now - state.last_probe < self._config.liveness_seconds:
            return position
        state.last_probe = now
        end = consumer.end_offsets([tp], timeout_ms=self._config.probe_timeout_ms)[tp]
        self._recovered(element, state)
        return end

    def _stop_if_over(self, element, state, consumer, tp, tracker, position) -> bool:
        """Drained (``--stop drained:S``) or past the stop time: end the range here, once
        the broker confirms nothing is left (a stale high watermark during an outage
        must not end a read early)."""
        config = self._config
        past_time = (element.stop_time_ms is not None
                     and time.time() * 1000 >= element.stop_time_ms)
        drained = (config.stop.kind is StopKind.DRAINED
                   and time.monotonic() - state.caught_up_since >= config.stop.idle_seconds)
        if not (past_time or drained):
            self._probe(element, state, consumer, tp, position)
            return False
        state.last_probe = 0.0
        if self._probe(element, state, consumer, tp, position) > position:
            return False  # the broker knows more records than our last fetch did
        _log.info("partition read finished", extra={
            "topic": element.topic, "partition": element.partition, "offset": position,
            "reason": "stop time reached" if past_time else "drained"})
        tracker.try_claim(StopAt(position))
        return True

    def _failed(self, element, state, exc: KafkaError, position: int) -> float:
        state.failures += 1
        self._broker_errors.inc()
        config = self._config
        delay = min(config.backoff_max_seconds,
                    config.backoff_initial_seconds * 2 ** (state.failures - 1))
        delay *= 0.5 + random.random() / 2
        _log.warning("kafka unreachable or failing, retrying with backoff", extra={
            "topic": element.topic, "partition": element.partition, "offset": position,
            "attempt": state.failures, "retry_in_s": round(delay, 2),
            "error_class": type(exc).__name__, "error": str(exc)})
        if not getattr(exc, "retriable", False):
            consumer = self._consumers.pop(element.key, None)
            if consumer is not None:
                consumer.close()
        return delay

    def _recovered(self, element, state) -> None:
        if state.failures:
            _log.warning("kafka reachable again, reading resumes", extra={
                "topic": element.topic, "partition": element.partition,
                "failed_attempts": state.failures})
            state.failures = 0

    def _timestamped(self, record, watermark_estimator) -> beam.window.TimestampedValue:
        config = self._config
        has_time = record.timestamp is not None and record.timestamp >= 0
        if config.timestamp_policy is TimestampPolicy.PROCESSING_TIME or not has_time:
            event_time = Timestamp.now()
        else:
            event_time = Timestamp(micros=record.timestamp * 1000)
            _raise_watermark(watermark_estimator,
                             event_time - Duration.of(config.max_delay_seconds))
        message = RawMessage(value=record.value, provenance=Provenance(
            kind=ProvenanceKind.KAFKA, topic=record.topic, partition=record.partition,
            offset=record.offset,
            timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC) if has_time else None,
            key=record.key,
            headers={k: (v or b"") for k, v in (record.headers or [])}))
        return beam.window.TimestampedValue(message, event_time)

    def _advance_idle_watermark(self, state: _PartitionState, watermark_estimator) -> None:
        """An idle partition's watermark moves to now - max delay, so downstream windows
        close although no record arrives (as KafkaIO's timestamp policies do)."""
        config = self._config
        if time.monotonic() - state.caught_up_since >= config.idle_watermark_seconds:
            _raise_watermark(watermark_estimator,
                             Timestamp.now() - Duration.of(config.max_delay_seconds))

    def _commit(self, tp: TopicPartition, offset: int) -> None:
        key = (tp.topic, tp.partition)
        if self._committed.get(key, -1) >= offset:
            return
        try:
            if self._committer is None:
                self._committer = new_consumer(self._config, with_group=True)
            self._committer.commit({tp: OffsetAndMetadata(offset, "", -1)},
                                   timeout_ms=self._config.probe_timeout_ms)
            self._committed[key] = offset
        except KafkaError as exc:
            # Not fatal: the next finalized bundle commits a later offset; a restart before
            # then re-reads from the older commit (at-least-once).
            self._commit_failures.inc()
            _log.warning("offset commit failed", extra={
                "topic": tp.topic, "partition": tp.partition, "offset": offset,
                "group_id": self._config.group_id, "error_class": type(exc).__name__,
                "error": str(exc)})


def _raise_watermark(watermark_estimator, mark: Timestamp) -> None:
    if mark > watermark_estimator.current_watermark():
        watermark_estimator.set_watermark(mark)


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
