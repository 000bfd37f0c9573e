"""Topics as a user meets them: create one, publish values to it, read one back decoded.

Keys are the article id (or URL) so one article always lands on the same partition. Each
function takes the ``KafkaClientSettings`` of the cluster, so ``newsbeam produce`` and
``newsbeam inspect`` reach a TLS/SASL cluster exactly like ``run`` and ``replay``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from kafka import TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from connectors.kafka.settings import KafkaClientSettings, KafkaSinkConfig, new_producer
from schemas.encoding import SchemaSource, decode_value

__all__ = ["TopicRecord", "ensure_topic", "message_key", "publish_values", "read_topic"]

_log = logging.getLogger(__name__)


def ensure_topic(client: KafkaClientSettings, topic: str, partitions: int = 3) -> bool:
    """Create ``topic`` if it does not exist; True when it was created."""
    admin = client.admin()
    try:
        if topic in admin.list_topics():
            return False
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        _log.info("created topic", extra={"topic": topic, "partitions": partitions})
        return True
    except TopicAlreadyExistsError:
        return False
    finally:
        admin.close()


def message_key(value: bytes) -> bytes | None:
    """The article's id, else its URL, when the value is a JSON object; else no key."""
    try:
        datum = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(datum, dict):
        key = datum.get("id") or datum.get("url")
        if isinstance(key, str) and key:
            return key.encode("utf-8")
    return None


def publish_values(client: KafkaClientSettings, topic: str, values: Iterable[bytes]) -> int:
    """Send every value with the sink's durable producer settings (acks=all, retries,
    idempotence), flush, and return how many were acknowledged."""
    producer = new_producer(KafkaSinkConfig(client=client))
    futures = []
    try:
        for value in values:
            futures.append(producer.send(topic, value=value, key=message_key(value)))
        producer.flush()
        for future in futures:
            future.get(timeout=30)
    finally:
        producer.close()
    return len(futures)


class TopicRecord(NamedTuple):
    """One decoded message of a route topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    schema: str | None  # None: the value could not be decoded (record holds the error)
    record: dict[str, Any]
    headers: dict[str, bytes]


def read_topic(client: KafkaClientSettings, topic: str, *, registry: SchemaSource | None = None,
               timeout_seconds: float = 30.0) -> Iterator[TopicRecord]:
    """Every message of ``topic`` up to its current high watermark, decoded (either encoding).

    Bounded by ``consumer.highwater()`` (known after a fetch), not ``end_offsets()``, which
    some brokers (Tansu) answer stale; uses ``assign()``, no consumer group.
    """
    consumer = client.consumer(enable_auto_commit=False, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise ValueError(f"topic {topic!r} does not exist on {client.bootstrap_servers}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout_seconds
        pending = set(tps)
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic!r} did not reach the high watermark of "
                                   f"{sorted(tp.partition for tp in pending)} within "
                                   f"{timeout_seconds:.0f}s")
            for batch in consumer.poll(timeout_ms=200).values():
                for message in batch:
                    try:
                        name, record = decode_value(message.value or b"", registry)
                    except ValueError as exc:  # not ours: reported, reading goes on
                        name, record = None, {"error": f"{type(exc).__name__}: {exc}"}
                    yield TopicRecord(message.topic, message.partition, message.offset,
                                      message.key, name, record,
                                      {k: v for k, v in message.headers or ()})
            for tp in list(pending):
                high = consumer.highwater(tp)
                if high is not None and consumer.position(tp) >= high:
                    pending.discard(tp)
    finally:
        consumer.close()

