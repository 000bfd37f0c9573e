"""Transactional topics on Apache Kafka, written by librdkafka's transactional producer.

The oracles are outside newsbeam: librdkafka's delivery reports say at which offsets the
committed transactions' records sit, the broker decides what is committed, aborted or still
open, and Kafka's own ``kafka-consumer-groups`` (``ConsumerGroupCommand`` from the broker's
jars) reports the group's lag. newsbeam reads ``read_committed`` by default: aborted records
never reach an output, a drained stop ends at the last stable offset, and the committed
offset is the position past the transaction markers (lag 0, not 1).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from newsbeam.cli import main
from newsbeam.kafka_broker import ApacheKafkaBroker
from schemas.models import Article, DeadLetter
from tests.support.routes import read_routes
from tests.support.stories import prose

GROUP_TOOL = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


def _topic(broker: ApacheKafkaBroker) -> str:
    name = f"tx-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    return name


class _Transactions:
    """librdkafka's transactional producer; remembers each record's offset by outcome."""

    def __init__(self, broker: ApacheKafkaBroker, topic: str) -> None:
        self.topic, self.committed, self.aborted = topic, {}, {}
        self._producer = Producer({"bootstrap.servers": broker.bootstrap_servers,
                                   "transactional.id": f"newsbeam-test-{uuid.uuid4().hex}"})
        self._producer.init_transactions(30)
        self._pending: dict[int, str] = {}
        self._serial = 0

    def write(self, count: int) -> None:
        """Begin a transaction and write ``count`` distinct articles in it (flushed)."""
        self._producer.begin_transaction()
        for _ in range(count):
            self._serial += 1
            article = {"id": f"tx-{self.topic}-{self._serial}", "title": f"Story {self._serial}",
                       "url": f"https://tx.example/{self.topic}/{self._serial}",
                       "body": prose(5000 + self._serial)}
            self._producer.produce(self.topic, json.dumps(article).encode(), partition=0,
                                   on_delivery=self._delivered(article["id"]))
        assert self._producer.flush(30) == 0

    def _delivered(self, article_id: str):
        def report(error, message) -> None:
            assert error is None, error
            self._pending[message.offset()] = article_id
        return report

    def commit(self) -> None:
        self._producer.commit_transaction(30)
        self.committed.update(self._pending)
        self._pending = {}

    def abort(self) -> None:
        self._producer.abort_transaction(30)
        self.aborted.update(self._pending)
        self._pending = {}


def _run(broker: ApacheKafkaBroker, topic: str, group: str, out: Path) -> None:
    code = main(["run", "--bootstrap-servers", broker.bootstrap_servers, "--topic", topic,
                 "--group-id", group, "--start", "committed", "--stop", "drained:2",
                 "--output-dir", str(out)])
    assert code == 0


def _outputs(out: Path) -> set[int]:
    """Source offsets of every record written (an article may be in several topic routes;
    a record is either in article routes or a dead letter, never both)."""
    articles: set[int] = set()
    letters: set[int] = set()
    for route, records in read_routes(out).items():
        for record in records:
            if route == "dead_letter":
                letters.add(DeadLetter.model_validate(record).provenance.offset)
            else:
                articles.add(Article.model_validate(record).provenance.offset)
    assert not articles & letters
    return articles | letters


def _lag_by_kafka(broker: ApacheKafkaBroker, group: str, topic: str) -> tuple[int, int, int]:
    """(current offset, log end offset, lag) of partition 0, as kafka-consumer-groups
    prints them."""
    printed = broker.tool(GROUP_TOOL, "--bootstrap-server", broker.bootstrap_servers,
                          "--describe", "--group", group)
    lines = [line.split() for line in printed.splitlines() if line.strip()]
    header = next(row for row in lines if "CURRENT-OFFSET" in row)
    row = next(row for row in lines if topic in row)
    value = dict(zip(header, row, strict=False))
    return int(value["CURRENT-OFFSET"]), int(value["LOG-END-OFFSET"]), int(value["LAG"])


def _log_end(broker: ApacheKafkaBroker, topic: str) -> int:
    peer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "peek"})
    try:
        return peer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)[1]
    finally:
        peer.close()


@pytest.mark.slow
def test_committed_aborted_committed_gives_the_committed_records_and_lag_zero(
        apache_kafka: ApacheKafkaBroker, tmp_path: Path) -> None:
    topic = _topic(apache_kafka)
    writer = _Transactions(apache_kafka, topic)
    for outcome in ("commit", "abort", "commit"):
        writer.write(20)
        getattr(writer, outcome)()
    assert len(writer.committed) == 40 and len(writer.aborted) == 20

    _run(apache_kafka, topic, "tx-group", tmp_path / "out")

    # every committed record once, no aborted one
    assert _outputs(tmp_path / "out") == set(writer.committed)
    end = _log_end(apache_kafka, topic)
    assert end == max(writer.committed) + 2  # the last record, then the commit marker
    assert _lag_by_kafka(apache_kafka, "tx-group", topic) == (end, end, 0)


@pytest.mark.slow
def test_a_drained_stop_ends_at_an_open_transaction_and_the_next_run_reads_it(
        apache_kafka: ApacheKafkaBroker, tmp_path: Path) -> None:
    topic = _topic(apache_kafka)
    writer = _Transactions(apache_kafka, topic)
    writer.write(10)
    writer.commit()
    writer.write(5)  # open: not committed while the first run reads

    _run(apache_kafka, topic, "tx-open", tmp_path / "first")
    assert _outputs(tmp_path / "first") == set(writer.committed)
    current, end, lag = _lag_by_kafka(apache_kafka, "tx-open", topic)
    assert current == max(writer.committed) + 2  # the last stable offset
    assert (end, lag) == (current + 5, 5)  # the open transaction's records wait

    first = dict(writer.committed)
    writer.commit()
    _run(apache_kafka, topic, "tx-open", tmp_path / "second")
    second = {o: i for o, i in writer.committed.items() if o not in first}
    assert len(second) == 5
    assert _outputs(tmp_path / "second") == set(second)
    end = _log_end(apache_kafka, topic)
    assert _lag_by_kafka(apache_kafka, "tx-open", topic) == (end, end, 0)
