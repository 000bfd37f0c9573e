"""Fixtures for the Kafka connector tests: an embedded broker and topic helpers."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from newsbeam.broker import EmbeddedBroker, find_tansu
from tests.connectors.tcp_proxy import TcpProxy


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


class _AdvertisedBroker(EmbeddedBroker):
    """Tansu listening on its own port but advertising another (the proxy's)."""

    def __init__(self, advertised_port: int) -> None:
        super().__init__()
        self.advertised_port = advertised_port

    def start(self) -> _AdvertisedBroker:
        env = {k: v for k, v in os.environ.items()
               if k not in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE")}
        self._process = subprocess.Popen(
            [str(find_tansu()), "broker", "--listener-url", f"tcp://127.0.0.1:{self.port}",
             "--advertised-listener-url", f"tcp://127.0.0.1:{self.advertised_port}",
             "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            start_new_session=True)
        self._wait_until_ready()
        return self


@contextmanager
def proxied_broker() -> Iterator[TcpProxy]:
    """A broker reachable only through a ``TcpProxy`` (metadata advertises the proxy, so
    every client connection goes through it); yields the proxy (``proxy.port``)."""
    with TcpProxy(0) as proxy:
        with _AdvertisedBroker(proxy.port) as broker:
            proxy.target = ("127.0.0.1", broker.port)
            yield proxy


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
            **producer_config) -> list[tuple[int, int]]:
    """``count`` records round-robin over partitions; returns ``(partition, offset)``s.

    Record ``i`` has key ``k{i}``, value ``v{i}``, header ``n=i`` and, with
    ``timestamp_ms``, CreateTime ``timestamp_ms + i * step_ms``.
    """
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5,
                             **producer_config)
    futures = []
    for i in range(start, start + count):
        futures.append(producer.send(
            topic, key=b"k%d" % i, value=b"v%d" % i, partition=i % partitions,
            headers=[("n", str(i).encode())],
            timestamp_ms=None if timestamp_ms is None else timestamp_ms + i * step_ms))
    producer.flush()
    positions = [(meta.partition, meta.offset) for meta in (f.get(timeout=90) for f in futures)]
    producer.close()
    return positions
