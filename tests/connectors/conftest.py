"""Fixtures for the Kafka connector tests: an embedded broker and topic helpers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from connectors.broker import EmbeddedBroker


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


def create_topic(bootstrap_servers: str, partitions: int, prefix: str = "t") -> str:
    """A fresh topic (unique name, so tests sharing a broker do not interfere)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()
    return name


def produce(bootstrap_servers: str, topic: str, count: int, partitions: int, *,
            start: int = 0, timestamp_ms: int | None = None, step_ms: int = 1000,
            ) -> list[tuple[int, int]]:
    """``count`` records round-robin over partitions; returns ``(partition, offset)``s.

    Record ``i`` has key ``k{i}``, value ``v{i}``, header ``n=i`` and, with
    ``timestamp_ms``, CreateTime ``timestamp_ms + i * step_ms``.
    """
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5)
    futures = []
    for i in range(start, start + count):
        futures.append(producer.send(
            topic, key=b"k%d" % i, value=b"v%d" % i, partition=i % partitions,
            headers=[("n", str(i).encode())],
            timestamp_ms=None if timestamp_ms is None else timestamp_ms + i * step_ms))
    producer.flush()
    positions = [(meta.partition, meta.offset) for meta in (f.get(timeout=10) for f in futures)]
    producer.close()
    return positions
