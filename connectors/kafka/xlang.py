"""``--kafka-io=xlang``: Beam's cross-language Kafka IO (Java KafkaIO) behind our types.

``XlangReadFromKafka`` yields the same ``RawMessage`` elements as the native source and
``XlangWriteToKafka`` takes the same ``OutgoingRecord`` elements as the native sink, so
the graph swaps them on a flag. Expanding them needs Java and the Beam Java IO expansion
service jar (downloaded from Maven Central by Beam, or ``--expansion-service``); the
tests here can only check construction. Differences from the native IO:

* start: ``committed`` (group offsets, else earliest), ``earliest``, ``latest`` and
  ``timestamp:`` are supported; ``offsets:`` is not. Stop: only ``never``.
* topics: ``--topic`` only (KafkaIO's Python wrapper takes no pattern); new partitions
  are discovered with ``dynamic_read_poll_interval_seconds``.
* sink: a record that cannot be delivered fails the bundle (the runner retries it)
  instead of becoming a dead letter; the returned dead-letter PCollection stays empty.
* client properties, secrets included, travel in the expansion request (Java names).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.typehints.row_type import RowTypeConstraint

from connectors.kafka.positions import StartKind, StopKind, TimestampPolicy
from connectors.kafka.settings import KafkaClientSettings, KafkaSinkConfig, KafkaSourceConfig
from schemas.models import DeadLetter, Provenance, ProvenanceKind, RawMessage

__all__ = ["XlangReadFromKafka", "XlangWriteToKafka", "java_properties", "xlang_read_kwargs"]

_POLICIES = {
    TimestampPolicy.CREATE_TIME: "CreateTime",
    TimestampPolicy.LOG_APPEND_TIME: "LogAppendTime",
    TimestampPolicy.PROCESSING_TIME: "ProcessingTime",
}
# kafka-python names whose Java name is not simply underscores -> dots.
_JAVA_NAMES = {
    "ssl_cafile": "ssl.truststore.location",
    "ssl_certfile": "ssl.keystore.location",
    "ssl_keyfile": "ssl.key.location",
    "ssl_password": "ssl.key.password",
}
# KafkaIO's write-with-headers row; a schema'd type, so the rows cross to Java as Beam rows.
_HEADER_ROW = RowTypeConstraint.from_fields([("key", str), ("value", bytes)])
_RECORD_ROW = RowTypeConstraint.from_fields([("key", bytes), ("value", bytes), ("topic", str),
                                             ("headers", Sequence[_HEADER_ROW])])
_NO_JAVA_EQUIVALENT = frozenset({"ssl_check_hostname", "api_version", "selector",
                                 "bootstrap_timeout_ms", "sasl_plain_username",
                                 "sasl_plain_password"})


def java_properties(client: KafkaClientSettings) -> dict[str, str]:
    """Client settings as Java Kafka properties (SASL PLAIN becomes ``sasl.jaas.config``).

    The result holds secrets in clear: it is for the expansion request only, never logs.
    """
    kwargs = client.client_kwargs()
    props = {"bootstrap.servers": ",".join(kwargs.pop("bootstrap_servers"))}
    for name, value in kwargs.items():
        if name in _NO_JAVA_EQUIVALENT:
            continue
        java = _JAVA_NAMES.get(name, name.replace("_", "."))
        props[java] = str(value).lower() if isinstance(value, bool) else str(value)
    if "sasl_plain_username" in kwargs:
        user = kwargs["sasl_plain_username"].replace('"', '\\"')
        password = str(kwargs.get("sasl_plain_password", "")).replace('"', '\\"')
        module = ("org.apache.kafka.common.security.scram.ScramLoginModule"
                  if str(kwargs.get("sasl_mechanism", "")).startswith("SCRAM")
                  else "org.apache.kafka.common.security.plain.PlainLoginModule")
        props["sasl.jaas.config"] = f'{module} required username="{user}" password="{password}";'
    return props


def xlang_read_kwargs(config: KafkaSourceConfig) -> dict[str, Any]:
    """Arguments of ``apache_beam.io.kafka.ReadFromKafka`` for this config, or
    ``ValueError`` naming what KafkaIO's Python wrapper cannot do."""
    if config.topic_pattern:
        raise ValueError("--kafka-io=xlang takes --topic only, not --topic-pattern")
    if config.stop.kind is not StopKind.NEVER:
        raise ValueError("--kafka-io=xlang supports --stop never only; use the native IO "
                         "for drained/now/offsets/timestamp stops")
    start = config.start
    if start.kind is StartKind.OFFSETS:
        raise ValueError("--kafka-io=xlang cannot start from explicit offsets")
    consumer = java_properties(config.client)
    consumer["group.id"] = config.group_id
    consumer["enable.auto.commit"] = "false"
    reset = StartKind.LATEST if start.kind is StartKind.LATEST else start.fallback
    consumer["auto.offset.reset"] = reset.value
    kwargs: dict[str, Any] = {
        "consumer_config": consumer,
        "topics": list(config.topics),
        "with_metadata": True,
        "commit_offset_in_finalize": config.commit_offsets,
        "timestamp_policy": _POLICIES[config.timestamp_policy],
    }
    if start.kind is StartKind.TIMESTAMP:
        kwargs["start_read_time"] = start.timestamp_ms
    if config.discovery_interval_seconds > 0:
        kwargs["dynamic_read_poll_interval_seconds"] = max(
            1, int(config.discovery_interval_seconds))
    return kwargs


def _raw_message(row) -> RawMessage:
    timestamp = getattr(row, "timestamp", None)
    headers = {h.key: bytes(h.value or b"") for h in (getattr(row, "headers", None) or [])}
    return RawMessage(value=row.value, provenance=Provenance(
        kind=ProvenanceKind.KAFKA, topic=row.topic, partition=row.partition,
        offset=row.offset, key=row.key, headers=headers,
        timestamp=None if timestamp is None or timestamp < 0
        else datetime.fromtimestamp(timestamp / 1000, UTC)))


class XlangReadFromKafka(beam.PTransform):
    """PBegin -> PCollection[RawMessage] through Java KafkaIO (needs Java to expand)."""

    def __init__(self, config: KafkaSourceConfig, expansion_service: str | None = None,
                 label: str | None = None) -> None:
        super().__init__(label)
        self._kwargs = xlang_read_kwargs(config)
        self._expansion_service = expansion_service

    def expand(self, pbegin):
        from apache_beam.io.kafka import ReadFromKafka as JavaReadFromKafka

        return (pbegin
                | "KafkaIO" >> JavaReadFromKafka(**self._kwargs,
                                                 expansion_service=self._expansion_service)
                | "ToRawMessage" >> beam.Map(_raw_message).with_output_types(RawMessage))


class XlangWriteToKafka(beam.PTransform):
    """PCollection[OutgoingRecord] -> empty PCollection[DeadLetter], through Java KafkaIO.

    The per-record topic travels in the row; ``default_topic`` is KafkaIO's required one.
    """

    def __init__(self, config: KafkaSinkConfig, default_topic: str,
                 expansion_service: str | None = None, label: str | None = None) -> None:
        super().__init__(label)
        producer = java_properties(config.client)
        producer.update({"acks": str(config.acks), "retries": str(config.retries),
                         "enable.idempotence": str(config.enable_idempotence).lower(),
                         "linger.ms": str(config.linger_ms),
                         "delivery.timeout.ms": str(config.delivery_timeout_ms)})
        self.producer_config = producer
        self._topic = default_topic
        self._expansion_service = expansion_service

    def expand(self, records):
        from apache_beam.io.kafka import WriteToKafka as JavaWriteToKafka

        _ = (records
             | "ToRow" >> beam.Map(_to_row).with_output_types(_RECORD_ROW)
             | "KafkaIO" >> JavaWriteToKafka(producer_config=self.producer_config,
                                             topic=self._topic, with_headers=True,
                                             expansion_service=self._expansion_service))
        return (records.pipeline
                | "NoDeadLetters" >> beam.Create([]).with_output_types(DeadLetter))


def _to_row(record) -> beam.Row:
    topic, key, value = record[0], record[1], record[2]
    headers = record[4] if len(record) > 4 else ()
    return beam.Row(key=key or b"", value=value, topic=topic,
                    headers=[beam.Row(key=k, value=v) for k, v in headers])
