"""librdkafka (``confluent-kafka``), the most common independent Kafka client, writes the
topics; newsbeam reads them, on the embedded broker and on Apache Kafka.

The expected values come from the peer: the (partition, offset) of every record as
librdkafka's delivery reports give them, and the article ids it was handed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from newsbeam.jobs import run_streaming
from tests.support import REPO
from tests.support.routes import read_routes

#: every codec Kafka defines, one per partition (a producer compresses all its batches alike)
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
PER_CODEC = 12

WORDS = ("wind turbine grid cable harbour power plant electricity operator offshore "
         "capacity megawatt council museum gallery festival chip factory wafer navy").split()


def _article(codec: str, i: int) -> dict:
    body = " ".join(WORDS[(i * 5 + k * 3) % len(WORDS)] for k in range(180))
    return {"id": f"{codec}-{i}", "url": f"https://peer.example/{codec}/{i}",
            "title": f"{codec} report {i}", "body": f"Report {codec} number {i}. {body}."}


def _create_topic(bootstrap: str, partitions: int) -> str:
    name = f"peer-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result(timeout=60)
    return name


def _produce(bootstrap: str, topic: str, partition: int, codec: str,
             values: list[bytes]) -> list[tuple[int, int]]:
    """Produce ``values`` with librdkafka to one partition; return the acknowledged
    positions (several records per batch: linger lets librdkafka batch them)."""
    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec,
                         "linger.ms": 50, "acks": "all", "enable.idempotence": True})
    acked: list[tuple[int, int]] = []
    errors: list[str] = []

    def report(error, message) -> None:
        if error is not None:
            errors.append(str(error))
        else:
            acked.append((message.partition(), message.offset()))

    for value in values:
        producer.produce(topic, value=value, partition=partition, on_delivery=report)
    assert producer.flush(60) == 0, "librdkafka did not deliver everything"
    assert not errors, errors
    return acked


def test_every_codec_librdkafka_writes_is_read(any_broker, tmp_path: Path) -> None:
    bootstrap = any_broker.bootstrap_servers
    topic = _create_topic(bootstrap, len(CODECS))
    expected: dict[tuple[int, int], str] = {}
    for partition, codec in enumerate(CODECS):
        articles = [_article(codec, i) for i in range(PER_CODEC)]
        positions = _produce(bootstrap, topic, partition, codec,
                             [json.dumps(a).encode() for a in articles])
        expected.update(zip(positions, (a["id"] for a in articles), strict=True))
    assert len(expected) == len(CODECS) * PER_CODEC

    summary = run_streaming([
        "--bootstrap-servers", bootstrap, "--topic", topic, "--group-id", f"g-{topic}",
        "--start", "earliest", "--stop", "drained:2", "--output-dir", str(tmp_path / "out")])

    routes = read_routes(tmp_path / "out")
    assert "dead_letter" not in routes, routes.get("dead_letter")
    found = {(r["provenance"]["partition"], r["provenance"]["offset"]): r["id"]
             for records in routes.values() for r in records}
    assert found == expected
    assert summary.records_in == len(expected)


def test_a_batch_this_client_cannot_decode_stops_the_job_with_its_offset(
        broker, tmp_path: Path) -> None:
    """Without a codec library (here lz4, hidden from a ``newsbeam run`` subprocess so
    kafka-python itself finds none) the job stops at once, names topic, partition and
    offset, and commits nothing past the readable records before the batch."""
    bootstrap = broker.bootstrap_servers
    topic = _create_topic(bootstrap, 1)
    plain = _produce(bootstrap, topic, 0, "none",
                     [json.dumps(_article("plain", i)).encode() for i in range(4)])
    packed = _produce(bootstrap, topic, 0, "lz4",
                      [json.dumps(_article("lz4", i)).encode() for i in range(4)])
    first_packed = min(offset for _, offset in packed)
    assert first_packed == max(offset for _, offset in plain) + 1
    shadow = tmp_path / "shadow" / "lz4"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('lz4 hidden by the test')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow.parent), str(REPO)])}
    group = f"g-{topic}"
    done = subprocess.run(
        [sys.executable, "-m", "newsbeam.cli", "run", "--bootstrap-servers", bootstrap,
         "--topic", topic, "--group-id", group, "--start", "earliest", "--stop", "drained:2",
         "--output-dir", str(tmp_path / "out")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode != 0
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("newsbeam run: error:"), done.stderr[-3000:]
    for word in (f"topic {topic}", "partition 0", f"offset {first_packed}",
                 "UnsupportedCodecError", "lz4"):
        assert word in error, error
    assert done.stderr.count("kafka unreachable") == 0  # not retried as an outage
    peer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        committed = peer.committed([TopicPartition(topic, 0)], timeout=30)[0].offset
    finally:
        peer.close()
    assert committed < 0 or committed <= first_packed  # none, or at most the readable ones
