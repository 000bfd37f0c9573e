"""Reading one partition for a while: the kafka-python side of the Kafka source's SDF.

``PartitionReader`` belongs to one DoFn instance. It keeps a consumer per recently read
partition (``assign()``, no group membership), reads from a position until a deadline,
claiming each record through the caller's restriction tracker, and reports how the read
ended. It also owns what is per partition and not part of a restriction: metrics,
the idle clock, broker-trouble backoff and logs, and offset commits.
"""

from __future__ import annotations

import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.timestamp import Duration, Timestamp
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import (
    AuthorizationError,
    CorruptRecordError,
    KafkaConfigurationError,
    KafkaError,
    SaslAuthenticationFailedError,
    UnsupportedCodecError,
)
from kafka.structs import OffsetAndMetadata

from connectors.kafka.positions import StopKind, TimestampPolicy
from connectors.kafka.settings import KafkaSourceConfig, new_consumer
from schemas.models import Provenance, ProvenanceKind, RawMessage

__all__ = ["METRICS_NAMESPACE", "PartitionReadFailed", "PartitionReader", "ReadOutcome",
           "backoff_seconds", "raw_message"]

_log = logging.getLogger(__name__)

METRICS_NAMESPACE = "ReadFromKafka"
_LOG_APPEND_TIME = 1  # ConsumerRecord.timestamp_type
_CONSUMER_CACHE = 8  # consumers kept per DoFn instance, one per recently read partition
# Errors a retry cannot cure: a batch this client cannot decode (codec library missing,
# corrupt bytes), refused credentials or ACLs, a bad setting.
_FATAL = (UnsupportedCodecError, CorruptRecordError, AuthorizationError,
          SaslAuthenticationFailedError, KafkaConfigurationError)


class PartitionReadFailed(KafkaError):
    """A partition cannot be read past an offset, and retrying will not change that. The
    job stops (the bundle fails, so nothing past the offset is committed)."""


def backoff_seconds(failures: int, initial: float, maximum: float) -> float:
    """The delay before retry number ``failures`` (1, 2, ...): ``initial`` doubling up to
    ``maximum``, with jitter (50-100 %). Any number of failures gives a finite delay."""
    delay = min(maximum, initial * 2.0 ** min(max(failures - 1, 0), 64))
    return delay * (0.5 + random.random() / 2)


def raw_message(record) -> RawMessage:
    """The ``RawMessage`` the Kafka source emits for a kafka-python ``ConsumerRecord``.

    The value as is; the provenance carries topic, partition, offset, the Kafka timestamp
    (``None`` when the record has none: a negative or missing stamp), key and headers. The
    dedup clock (``pipeline.dedup.article_event_time``) reads that timestamp, so anything
    that stands in for the source (the benchmark's plain loop) builds messages here.
    """
    stamped = record.timestamp is not None and record.timestamp >= 0
    return RawMessage(value=record.value, provenance=Provenance(
        kind=ProvenanceKind.KAFKA, topic=record.topic, partition=record.partition,
        offset=record.offset,
        timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC) if stamped else None,
        key=record.key,
        headers={k: (v or b"") for k, v in (record.headers or [])}))


@dataclass
class ReadOutcome:
    """How a ``PartitionReader.read`` call ended."""

    position: int
    last_claimed: int | None = None
    done: bool = False  # the range is over (stop offset/time, drained, or split away)
    retry_in: float = 0.0  # defer this long before reading again (idle or broker trouble)


@dataclass
class _PartitionState:
    """What one DoFn instance remembers about a partition between calls."""

    metrics: dict
    caught_up_at: int | None = None  # position at which the partition was last caught up
    caught_up_since: float = 0.0  # monotonic time it got there
    last_probe: float = 0.0
    failures: int = 0
    mark: Timestamp | None = None  # watermark candidate for this partition
    retry_at: float = 0.0  # monotonic time before which broker trouble is not retried
    warned: bool = False


class PartitionReader:
    def __init__(self, config: KafkaSourceConfig) -> None:
        self._config = config
        self._consumers: OrderedDict[tuple[str, int], KafkaConsumer] = OrderedDict()
        self._committer: KafkaConsumer | None = None
        self._states: dict[tuple[str, int], _PartitionState] = {}
        self._committed: dict[tuple[str, int], int] = {}
        self._uncommitted: dict[tuple[str, int], int] = {}
        self._commit_retry_at = 0.0
        self._commit_failures = Metrics.counter(METRICS_NAMESPACE, "commit_failures")
        self._broker_errors = Metrics.counter(METRICS_NAMESPACE, "broker_errors")

    def close(self) -> None:
        for consumer in self._consumers.values():
            consumer.close()
        self._consumers.clear()
        if self._committer is not None:
            self._committer.close()
            self._committer = None

    def mark(self, key: tuple[str, int]) -> Timestamp | None:
        state = self._states.get(key)
        return None if state is None else state.mark

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

    def _state(self, key: tuple[str, int]) -> _PartitionState:
        state = self._states.get(key)
        if state is None:
            name = f"{key[0]}-{key[1]}"
            state = self._states[key] = _PartitionState(metrics={
                "records": Metrics.counter(METRICS_NAMESPACE, f"records-{name}"),
                "bytes": Metrics.counter(METRICS_NAMESPACE, f"bytes-{name}"),
                "backlog": Metrics.gauge(METRICS_NAMESPACE, f"backlog-{name}")})
        return state

    def read(self, key: tuple[str, int], position: int, stop: int, stop_time_ms: int | None,
             claim: Callable[[int], bool], stop_at: Callable[[int], None], seconds: float,
             ) -> Iterator[beam.window.TimestampedValue]:
        """Read ``key`` from ``position`` for up to ``seconds``; returns a ``ReadOutcome``.

        ``claim(offset)`` must succeed before a record is emitted; ``stop_at(offset)`` ends
        the range there. Stops exactly at ``stop`` (exclusive), at the first record stamped
        ``>= stop_time_ms``, or once drained (``--stop drained:S``).
        """
        config = self._config
        tp = TopicPartition(*key)
        state = self._state(key)
        outcome = ReadOutcome(position)
        deadline = time.monotonic() + seconds
        if position >= stop:  # an empty range (a partition the stop offsets do not list)
            stop_at(stop)
            outcome.done = True
            return outcome
        wait = state.retry_at - time.monotonic()
        if wait > 0:  # broker trouble: honour the backoff even where a runner resumes the
            time.sleep(min(wait, seconds))  # restriction at once (the FnApiRunner does)
            if state.retry_at > time.monotonic():
                outcome.retry_in = state.retry_at - time.monotonic()
                return outcome
        try:
            consumer = self._consumer_for(key)
            if consumer.position(tp) != position:
                consumer.seek(tp, position)
            while time.monotonic() < deadline:
                batch = consumer.poll(timeout_ms=config.poll_timeout_ms,
                                      max_records=config.max_poll_records).get(tp, [])
                for record in batch:
                    if record.offset < outcome.position:
                        continue  # re-delivered after an offset reset
                    if record.offset >= stop or (stop_time_ms is not None
                                                 and record.timestamp >= stop_time_ms):
                        stop_at(min(record.offset, stop))
                        outcome.done = True
                        return outcome
                    if not claim(record.offset):
                        outcome.done = True
                        return outcome
                    outcome.last_claimed, outcome.position = record.offset, record.offset + 1
                    state.metrics["records"].inc()
                    state.metrics["bytes"].inc(len(record.value or b"") + len(record.key or b""))
                    yield self._timestamped(record, state)
                    if time.monotonic() >= deadline:
                        break  # the rest of the batch is re-fetched by the next call
                else:
                    outcome.position = max(outcome.position, consumer.position(tp))
                if batch and time.monotonic() >= deadline:
                    break
                if outcome.position >= stop:  # exact stop, past offset gaps too
                    stop_at(stop)
                    outcome.done = True
                    return outcome
                high = consumer.highwater(tp)
                if high is not None:
                    state.metrics["backlog"].set(max(0, high - outcome.position))
                if batch:
                    state.caught_up_at = None
                    self._recovered(key, state)  # records came: the broker answers
                    continue
                if high is None or outcome.position < high:
                    end = self._probe(key, state, consumer, tp)
                    if end != outcome.position:
                        continue
                    # The broker's end for this isolation level is exactly here: what lies
                    # up to the high watermark is an open transaction (read_committed stops
                    # at the last stable offset), so the partition is caught up. (Only an
                    # exact match: the embedded broker answers the end with the last
                    # batch's base offset + 1, below the position while records remain.)
                # Caught up with the last fetch.
                if state.caught_up_at != outcome.position:
                    state.caught_up_at, state.caught_up_since = outcome.position, time.monotonic()
                if self._finished(key, state, consumer, tp, outcome.position, stop_time_ms):
                    stop_at(outcome.position)
                    outcome.done = True
                    return outcome
                self._idle_mark(state)
                outcome.retry_in = config.poll_timeout_ms / 1000
                break
            # (An empty poll proves nothing: kafka-python returns one during an outage too.
            # Recovery is a fetched record or a probe answered, see ``_probe``.)
        except KafkaError as exc:
            outcome.retry_in = self._failed(key, state, exc, outcome.position)
        return outcome

    def _probe(self, key, state: _PartitionState, consumer: KafkaConsumer, tp,
               force: bool = False) -> int | None:
        """Ask the broker for the log end (at most every ``liveness_seconds``): raises on
        an unreachable broker, so an outage is noticed, logged and retried with backoff."""
        now = time.monotonic()
        if not force and now - state.last_probe < self._config.liveness_seconds:
            return None
        state.last_probe = now
        end = consumer.end_offsets([tp], timeout_ms=self._config.probe_timeout_ms)[tp]
        self._recovered(key, state)
        return end

    def _finished(self, key, state, consumer, tp, position: int,
                  stop_time_ms: int | None) -> bool:
        """Drained, or caught up past the stop time, and the broker confirms it: a stale
        high watermark during an outage must not end a read early."""
        config = self._config
        past_time = stop_time_ms is not None and time.time() * 1000 >= stop_time_ms
        drained = (config.stop.kind is StopKind.DRAINED
                   and time.monotonic() - state.caught_up_since >= config.stop.idle_seconds)
        if not (past_time or drained):
            self._probe(key, state, consumer, tp)
            return False
        was_failing = state.failures > 0
        end = self._probe(key, state, consumer, tp, force=True)
        if was_failing:
            return False  # reachable again: the idle time starts now (see ``_recovered``)
        if end is not None and end > position:
            return False  # the broker knows more records than our last fetch did
        _log.info("partition read finished", extra={
            "topic": key[0], "partition": key[1], "offset": position,
            "reason": "stop time reached" if past_time else "drained"})
        return True

    def _failed(self, key, state: _PartitionState, exc: KafkaError, position: int) -> float:
        if isinstance(exc, _FATAL):
            raise PartitionReadFailed(
                f"cannot read topic {key[0]} partition {key[1]} at offset {position}: "
                f"{type(exc).__name__}: {exc} (not retried: nothing past offset {position} "
                "is committed; fix the cause and restart)") from exc
        state.failures += 1
        state.caught_up_at = None  # an unreachable broker is not a drained partition
        self._broker_errors.inc()
        config = self._config
        delay = backoff_seconds(state.failures, config.backoff_initial_seconds,
                                config.backoff_max_seconds)
        state.retry_at = time.monotonic() + delay
        _log.warning("kafka unreachable or failing, retrying with backoff", extra={
            "topic": key[0], "partition": key[1], "offset": position,
            "attempt": state.failures, "retry_in_s": round(delay, 2),
            "error_class": type(exc).__name__, "error": str(exc)})
        if not getattr(exc, "retriable", False):
            consumer = self._consumers.pop(key, None)
            if consumer is not None:
                consumer.close()
        return delay

    def _recovered(self, key, state: _PartitionState) -> None:
        if state.failures:
            _log.info("kafka reachable again, reading resumes", extra={
                "topic": key[0], "partition": key[1], "failed_attempts": state.failures})
            state.failures = 0
            # Time spent caught up with a stale high watermark during the outage does not
            # count towards --stop drained:S: producers may not have resumed yet.
            state.caught_up_at = None

    def _timestamped(self, record, state: _PartitionState) -> beam.window.TimestampedValue:
        config = self._config
        message = raw_message(record)
        has_time = message.provenance.timestamp is not None
        if config.timestamp_policy is TimestampPolicy.PROCESSING_TIME or not has_time:
            event_time = Timestamp.now()
            state.mark = event_time
        else:
            if (config.timestamp_policy is TimestampPolicy.LOG_APPEND_TIME
                    and record.timestamp_type != _LOG_APPEND_TIME and not state.warned):
                state.warned = True
                _log.warning("--timestamp-policy log-append-time, but the topic stamps "
                             "records with CreateTime; using those timestamps", extra={
                                 "topic": record.topic, "partition": record.partition})
            event_time = Timestamp(micros=record.timestamp * 1000)
            mark = event_time - Duration.of(config.max_delay_seconds)
            if state.mark is None or mark > state.mark:
                state.mark = mark
        return beam.window.TimestampedValue(message, event_time)

    def _idle_mark(self, state: _PartitionState) -> None:
        """An idle partition's watermark moves to now - max delay, so downstream windows
        close although no record arrives (as KafkaIO's timestamp policies do)."""
        config = self._config
        if (config.timestamp_policy is TimestampPolicy.PROCESSING_TIME
                or time.monotonic() - state.caught_up_since >= config.idle_watermark_seconds):
            mark = Timestamp.now() - Duration.of(config.max_delay_seconds)
            if state.mark is None or mark > state.mark:
                state.mark = mark

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Commit next-to-read ``offsets`` to the group, in one request; called on bundle
        finalization. Offsets whose commit failed before are retried with these."""
        merged = dict(self._uncommitted)
        for key, offset in offsets.items():
            merged[key] = max(offset, merged.get(key, -1))
        merged = {k: o for k, o in merged.items() if o > self._committed.get(k, -1)}
        if not merged:
            return
        if time.monotonic() < self._commit_retry_at:
            self._uncommitted = merged  # broker trouble: retried by a later finalization
            return
        try:
            if self._committer is None:
                self._committer = new_consumer(self._config, with_group=True)
            self._committer.commit(
                {TopicPartition(*k): OffsetAndMetadata(o, "", -1) for k, o in merged.items()},
                timeout_ms=self._config.probe_timeout_ms)
        except KafkaError as exc:
            # Not fatal: retried with the next finalized bundle; a restart before then
            # re-reads from the older commit (at-least-once).
            self._uncommitted = merged
            self._commit_retry_at = time.monotonic() + self._config.backoff_max_seconds
            self._commit_failures.inc()
            _log.warning("offset commit failed, will retry", extra={
                "offsets": {f"{t}[{p}]": o for (t, p), o in merged.items()},
                "group_id": self._config.group_id, "error_class": type(exc).__name__,
                "error": str(exc)})
            return
        self._committed.update(merged)
        self._uncommitted = {}
