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

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from newsbeam.jobs import run_streaming
from schemas.routes import ROUTES
from tests.support import REPO
from tests.support.librdkafka import produce_acked
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


def test_every_codec_librdkafka_writes_is_read(any_broker, tmp_path: Path) -> None:
    bootstrap = any_broker.bootstrap_servers
    topic = _create_topic(bootstrap, len(CODECS))
    expected: dict[tuple[int, int], str] = {}
    for partition, codec in enumerate(CODECS):
        articles = [_article(codec, i) for i in range(PER_CODEC)]
        positions = produce_acked(bootstrap, topic, [json.dumps(a).encode() for a in articles],
                                  partition=partition, codec=codec)
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
    plain = produce_acked(bootstrap, topic,
                          [json.dumps(_article("plain", i)).encode() for i in range(4)],
                          partition=0)
    packed = produce_acked(bootstrap, topic,
                           [json.dumps(_article("lz4", i)).encode() for i in range(4)],
                           partition=0, codec="lz4")
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


def _read_topic_values(bootstrap: str, topic: str) -> list[bytes]:
    """Every value of ``topic`` up to its high watermarks, read by librdkafka."""
    peer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"judge-{uuid.uuid4().hex}",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        metadata = peer.list_topics(topic, timeout=30).topics[topic]
        ends = {p: peer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                for p in metadata.partitions}
        peer.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end > 0])
        values: list[bytes] = []
        seen = {p: 0 for p in ends}
        while any(seen[p] < ends[p] for p in ends):
            message = peer.poll(10)
            assert message is not None, f"{topic}: read {seen} of {ends}"
            assert message.error() is None, message.error()
            seen[message.partition()] = message.offset() + 1
            values.append(message.value())
        return values
    finally:
        peer.close()


def _spec_decode(name: str, message: bytes, fingerprint: bytes) -> dict:
    """The Avro spec's single-object encoding, decoded with Apache Avro's Python library:
    ``C3 01``, the schema's 8-byte little-endian CRC-64-AVRO fingerprint (here Java's),
    then the binary datum, read to its last byte."""
    import io

    import avro.io
    import avro.schema

    import schemas

    assert message[:2] == b"\xc3\x01" and message[2:10] == fingerprint, message[:10].hex()
    body = io.BytesIO(message[10:])
    datum = avro.io.DatumReader(avro.schema.parse(schemas.schema_json(name))).read(
        avro.io.BinaryDecoder(body))
    assert body.read() == b""
    return datum


@pytest.mark.slow
def test_five_codecs_and_java_single_object_articles_in_single_object_route_topics_out(
        apache_kafka, tmp_path: Path) -> None:
    """Issue 16's acceptance run: librdkafka writes one partition per codec, Java Avro's
    BinaryMessageEncoder writes RawArticles into a sixth; ``newsbeam run --stop drained``
    ingests every offset, and every message of the route topics it writes decodes with
    Java's BinaryMessageDecoder and with the spec (Apache Avro's Python library) alike."""
    import struct

    from tests.support.avro_json import avro_json, from_avro_json, schema_file
    from tests.support.jvm import java_peer

    bootstrap = apache_kafka.bootstrap_servers
    topic = _create_topic(bootstrap, len(CODECS) + 1)
    expected: set[tuple[int, int]] = set()
    for partition, codec in enumerate(CODECS):
        values = [json.dumps(_article(codec, i)).encode() for i in range(PER_CODEC)]
        expected.update(produce_acked(bootstrap, topic, values, partition=partition, codec=codec))
    raw = [{"id": f"java-{i}", "url": f"https://peer.example/java/{i}",
            "title": f"Java report {i}", "body": _article("java", i)["body"], "html": None,
            "source": "peer.example", "language": None, "published_at": None}
           for i in range(PER_CODEC)]
    (tmp_path / "raw.jsonl").write_text("\n".join(avro_json("raw_article", r).strip() for r in raw))
    (tmp_path / "raw").mkdir()
    java_peer("AvroPeer", "encode-many", schema_file(tmp_path, "raw_article"),
              tmp_path / "raw.jsonl", tmp_path / "raw")
    messages = [path.read_bytes() for path in sorted((tmp_path / "raw").glob("*.bin"))]
    assert len(messages) == PER_CODEC
    expected.update(produce_acked(bootstrap, topic, messages, partition=len(CODECS)))

    admin = AdminClient({"bootstrap.servers": bootstrap})  # route topics exist beforehand,
    for future in admin.create_topics(  # as on a production cluster without auto-creation
            [NewTopic(f"{topic}.{route}", 1, 1) for route in ROUTES]).values():
        future.result(timeout=60)
    summary = run_streaming([
        "--bootstrap-servers", bootstrap, "--topic", topic, "--group-id", f"g-{topic}",
        "--start", "earliest", "--stop", "drained:2", "--sink", f"kafka:{topic}.{{route}}"])
    assert summary.records_in == len(expected)

    found: set[tuple[int, int]] = set()
    for route in ROUTES:
        values = _read_topic_values(bootstrap, f"{topic}.{route}")
        name = "dead_letter" if route == "dead_letter" else "article"
        fingerprint = struct.pack(
            "<q", int(java_peer("AvroPeer", "fingerprint", schema_file(tmp_path, name))))
        folder = tmp_path / route
        folder.mkdir()
        for i, value in enumerate(values):
            (folder / f"{i:05d}.bin").write_bytes(value)
        java_peer("AvroPeer", "decode-many", schema_file(tmp_path, name), folder,
                  tmp_path / f"{route}.jsonl")
        by_java = [from_avro_json(name, line) for line in
                   (tmp_path / f"{route}.jsonl").read_text().splitlines() if line.strip()]
        by_spec = [_spec_decode(name, value, fingerprint) for value in values]
        assert len(by_java) == len(by_spec) == len(values)
        for java, spec in zip(by_java, by_spec, strict=True):
            assert java["id"] == spec["id"]
            assert java["provenance"]["offset"] == spec["provenance"]["offset"]
            found.add((spec["provenance"]["partition"], spec["provenance"]["offset"]))
    assert found == expected  # every ingested offset is in a route topic, decodable by both
