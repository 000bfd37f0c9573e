"""The topic the runner tests (Prism, Flink) run newsbeam on, and how they read the result.

Partition 0 holds the seeds in file order (their duplicates among them), partition 1 two
undecodable values and three unrelated, undated articles, Kafka timestamps a second apart
in offset order. The oracles come from outside newsbeam: the producer's acknowledgements
(librdkafka) say which offsets exist, a librdkafka consumer reads the group's committed
offsets (not the broker's ListOffsets, which Tansu answers with the last batch's base
offset + 1).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from connectors.article_files import expand_paths, iter_file_values
from connectors.kafka.settings import KafkaClientSettings
from connectors.kafka.topics import ensure_topic
from newsbeam.jobs import run_streaming
from schemas.models import Article, DeadLetter
from tests.support import REPO
from tests.support.routes import read_routes
from tests.support.stories import prose

__all__ = ["committed", "lone", "produce_runner_topic", "route_table", "run_drained", "seed_values",
           "produce_copies_topic", "replay_decisions"]


def seed_values() -> list[bytes]:
    """The values of every article file in ``seeds/``, in file order."""
    return [value for path in expand_paths([str(REPO / "seeds")])
            for _, value in iter_file_values(path)]


def produce_runner_topic(bootstrap: str, topic: str) -> dict[tuple[int, int], bytes]:
    """Create and fill ``topic``; ``{(partition, offset): value}`` of every acknowledged
    record."""
    ensure_topic(KafkaClientSettings(bootstrap_servers=bootstrap), topic, 2)
    seeds = seed_values()
    others = [b"\xff not utf-8", json.dumps({"url": "https://x.example/1", "body": ""}).encode()]
    others += [json.dumps({"id": f"unrelated-{i}", "url": f"https://other.example/{i}",
                           "title": f"Unrelated {i}", "body": prose(1000 + i)}).encode()
               for i in range(3)]
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True})
    acked: dict[tuple[int, int], bytes] = {}
    errors: list[str] = []

    def on_delivery(error, message) -> None:
        if error is not None:
            errors.append(str(error))
        else:
            acked[(message.partition(), message.offset())] = message.value()

    # Kafka timestamps a second apart, in offset order, as a newsroom's feed has them
    start_ms = int(time.time() * 1000) - 600_000
    for partition, values in ((0, seeds), (1, others)):
        for i, value in enumerate(values):
            producer.produce(topic, value=value, partition=partition, on_delivery=on_delivery,
                             timestamp=start_ms + 1000 * i)
    assert producer.flush(30) == 0 and not errors, errors
    assert len(acked) == len(seeds) + len(others)
    return acked


def run_drained(bootstrap: str, topic: str, out: Path, group: str, *runner: str) -> None:
    """``newsbeam run`` from the earliest offset until the topic is drained."""
    run_streaming(["--bootstrap-servers", bootstrap, "--topic", topic, "--group-id", group,
                   "--start", "earliest", "--stop", "drained:3", "--output-dir", str(out),
                   *runner])


def route_table(out: Path) -> dict[str, dict]:
    """Per route: articles as ``{id: duplicate_of}``, dead letters as
    ``{(partition, offset): error_class}``; and (``_offsets``) the source offset of every
    article."""
    table: dict[str, dict] = {"dead_letter": {}, "_offsets": {}}
    for route, records in read_routes(out).items():
        if route == "dead_letter":
            letters = [DeadLetter.model_validate(r) for r in records]
            table[route] = {(d.provenance.partition, d.provenance.offset): d.error_class
                            for d in letters}
        else:
            articles = [Article.model_validate(r) for r in records]
            table[route] = {a.id: a.duplicate_of for a in articles}
            table["_offsets"].update(
                {(a.provenance.partition, a.provenance.offset): a.id for a in articles})
    return table


def lone(table: dict[str, dict], copies: set[str]) -> dict[str, str]:
    """Article id -> route, for articles outside ``copies`` (every id that is a duplicate,
    or the original of one, on either runner)."""
    return {article: route for route, articles in table.items()
            if route not in ("duplicates", "dead_letter", "_offsets")
            for article in articles if article not in copies}


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets of partitions 0 and 1, read by librdkafka."""
    peer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "enable.auto.commit": False})
    try:
        found = peer.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=30)
    finally:
        peer.close()
    return {tp.partition: tp.offset for tp in found}


def produce_copies_topic(bootstrap: str, topic: str) -> None:
    """The demo's topic: the seeds over three partitions by key, so copies of a story sit
    in different partitions."""
    from connectors.kafka.topics import message_key
    from tests.support.librdkafka import produce_acked

    ensure_topic(KafkaClientSettings(bootstrap_servers=bootstrap), topic, 3)
    acked = produce_acked(bootstrap, topic, seed_values(), key=message_key)
    assert len({p for p, _ in acked}) > 1


def replay_decisions(bootstrap: str, topic: str, out: Path) -> dict[str, dict]:
    """``newsbeam replay`` of the whole topic into ``out``; its ``decisions_by_route``."""
    from newsbeam.cli import main
    from tests.support.routes import decisions_by_route

    assert main(["replay", "--bootstrap-servers", bootstrap, "--topic", topic, "--no-progress",
                 "--from", "earliest", "--to", "now", "--output-dir", str(out)]) == 0
    return decisions_by_route(out)
