"""Publish message values to a topic: ``newsbeam produce``, the demo and the tests.

Keys are the article id (or URL) so one article always lands on the same partition.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

__all__ = ["ensure_topic", "message_key", "publish_values"]

_log = logging.getLogger(__name__)


def ensure_topic(bootstrap_servers: str, topic: str, partitions: int = 3,
                 **client_config: object) -> bool:
    """Create ``topic`` if it does not exist; True when it was created."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_config)
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


def publish_values(bootstrap_servers: str, topic: str, values: Iterable[bytes],
                   **producer_config: object) -> int:
    """Send every value (acks=all), flush, and return how many were acknowledged."""
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all",
                             retries=5, linger_ms=5, **producer_config)
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
