"""The embedded broker (Tansu) for the tests: behind the TCP proxy, and topic helpers.

The ``broker`` fixture itself (one broker per test module) is in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from newsbeam.broker import EmbeddedBroker, die_with_parent, find_tansu
from tests.support.proxy import TcpProxy

__all__ = ["ProxiedBroker", "create_topic", "create_topics", "produce", "proxied_broker"]

_TANSU_ENV = ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE")


class ProxiedBroker(EmbeddedBroker):
    """Tansu listening on its own port but advertising ``advertised_port`` (the proxy's)."""

    def __init__(self, advertised_port: int) -> None:
        super().__init__()
        self.advertised_port = advertised_port

    def start(self) -> ProxiedBroker:
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env.setdefault("RUST_LOG", "warn")
        self._process = subprocess.Popen(
            [str(find_tansu()), "broker", "--listener-url", f"tcp://127.0.0.1:{self.port}",
             "--advertised-listener-url", f"tcp://127.0.0.1:{self.advertised_port}",
             "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            start_new_session=True, preexec_fn=die_with_parent)
        self._wait_until_ready()
        return self


@contextmanager
def proxied_broker(tls: ssl.SSLContext | None = None) -> Iterator[TcpProxy]:
    """A broker reachable only through a ``TcpProxy`` (metadata advertises the proxy, so
    every client connection goes through it); yields the proxy (``proxy.address``).
    With ``tls`` the proxy terminates TLS in front of the plaintext broker."""
    with TcpProxy(tls=tls) as proxy, ProxiedBroker(proxy.port) as broker:
        proxy.target = ("127.0.0.1", broker.port)
        yield proxy


def create_topics(bootstrap_servers: str, names: Iterable[str], partitions: int = 1) -> None:
    """Create the topics ``names`` with ``partitions`` each. Apache Kafka in the tests
    creates no topic on first use (``auto.create.topics.enable=false``, as on a production
    cluster), so a test creates every topic it writes, route topics too."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    finally:
        admin.close()


def create_topic(bootstrap_servers: str, partitions: int, prefix: str = "t") -> str:
    """A fresh topic (unique name, so tests sharing a broker do not interfere)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap_servers, [name], partitions)
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
