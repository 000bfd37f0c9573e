"""The Kafka sink: ``WriteToKafka``, a kafka-python producer per DoFn instance.

Input: ``OutgoingRecord(topic, key, value, provenance, headers)`` (or a plain
``(topic, key, value, provenance)`` tuple): the routing stage encodes each article (Avro)
and names its route topic; the key is the article id, so one article always lands in the
same partition. The producer is durable by default: ``acks=all``, retries, idempotence.
Every bundle is flushed in ``finish_bundle``, so a bundle completes only once its records
are acknowledged; a record that could not be delivered leaves on the output as a
``DeadLetter`` (stage ``sink``) with its bytes: nothing is dropped.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue
from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from connectors.kafka.settings import KafkaSinkConfig, new_producer
from schemas.failures import Stage, dead_letter
from schemas.models import DeadLetter, Provenance

__all__ = ["OutgoingRecord", "WriteToKafka"]

_log = logging.getLogger(__name__)

METRICS_NAMESPACE = "WriteToKafka"


class OutgoingRecord(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes
    provenance: Provenance
    headers: tuple[tuple[str, bytes], ...] = ()


class _ProduceFn(beam.DoFn):
    def __init__(self, config: KafkaSinkConfig) -> None:
        self._config = config
        self._producer: KafkaProducer | None = None

    def setup(self) -> None:
        self._written = Metrics.counter(METRICS_NAMESPACE, "records_written")
        self._bytes = Metrics.counter(METRICS_NAMESPACE, "bytes_written")
        self._failed = Metrics.counter(METRICS_NAMESPACE, "delivery_failures")

    def teardown(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self._config.flush_timeout_seconds)
            self._producer = None

    def start_bundle(self) -> None:
        self._pending: list[tuple[object, OutgoingRecord, WindowedValue]] = []

    def _failure(self, record: OutgoingRecord, exc: BaseException) -> DeadLetter:
        self._failed.inc()
        _log.warning("kafka delivery failed, record sent to the dead-letter route", extra={
            "topic": record.topic, "provenance": record.provenance.describe(),
            "error_class": type(exc).__name__, "error": str(exc)})
        return dead_letter(Stage.SINK, exc, record.value, record.provenance)

    def process(self, element, timestamp=beam.DoFn.TimestampParam,
                window=beam.DoFn.WindowParam):
        record = element if isinstance(element, OutgoingRecord) else OutgoingRecord(*element)
        if self._producer is None:  # a bad configuration raises here, it is not a record's fault
            self._producer = new_producer(self._config)
        try:
            future = self._producer.send(record.topic, key=record.key, value=record.value,
                                         headers=list(record.headers) or None)
        except (KafkaError, ValueError, AssertionError) as exc:
            # Refused before sending (too large, unknown topic, no metadata in time).
            yield self._failure(record, exc)
            return
        self._pending.append((future, record, WindowedValue(None, timestamp, [window])))

    def finish_bundle(self):
        if not self._pending:
            return
        assert self._producer is not None
        try:
            self._producer.flush(timeout=self._config.flush_timeout_seconds)
        except KafkaTimeoutError as exc:
            _log.warning("kafka flush timed out", extra={
                "pending": len(self._pending), "error": str(exc)})
        for future, record, where in self._pending:
            if future.is_done and future.succeeded():
                self._written.inc()
                self._bytes.inc(len(record.value))
                continue
            exc = (future.exception if future.is_done and future.exception is not None
                   else KafkaTimeoutError(f"not acknowledged within "
                                          f"{self._config.flush_timeout_seconds}s"))
            yield where.with_value(self._failure(record, exc))
        self._pending = []


class WriteToKafka(beam.PTransform):
    """PCollection[OutgoingRecord] -> PCollection[DeadLetter] (the undeliverable ones)."""

    def __init__(self, config: KafkaSinkConfig, label: str | None = None) -> None:
        super().__init__(label)
        self._config = config

    def expand(self, records):
        return (records
                | "ProduceRecords" >> beam.ParDo(_ProduceFn(self._config))
                .with_output_types(DeadLetter))

