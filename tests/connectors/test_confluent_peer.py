"""The Confluent wire format against an independent peer: confluent-kafka's Schema Registry
client and Avro serde (Confluent's Python client, on librdkafka). Skipped while
confluent-kafka is installed without its schema-registry extra (see the import below).

newsbeam's side makes the calls its Kafka sink (``id_for`` under ``<topic>-value``, then
``encode_confluent``) and its Kafka readers (``decode_value`` with a registry client) make;
the peer runs with its defaults. Both talk to the same registry stand-in
(``tests/support/registry.py``), so these tests prove agreement on the framing (``00`` +
big-endian id), the registry requests, the subject name and the Avro datum, not
compatibility with a real registry server. The records are written by hand here, and the
Avro body newsbeam writes is also read by Apache Avro's own Python implementation, because
both newsbeam and confluent-kafka encode with fastavro.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import avro.io
import avro.schema
import pytest

import schemas
from connectors.schema_registry import SchemaRegistryClient, value_subject
from schemas.encoding import decode_value, encode_confluent
from tests.support.registry import RegistryStandIn

try:
    from confluent_kafka.schema_registry import Schema
    from confluent_kafka.schema_registry import SchemaRegistryClient as PeerRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext
except ImportError as missing:  # confluent-kafka installed without its schema-registry extra
    pytest.skip(f"confluent-kafka's Schema Registry client does not import ({missing}): it needs "
                "the extra confluent-kafka[avro] (authlib, cachetools, httpx2)",
                allow_module_level=True)

TOPIC = "articles.energy"


def _ms(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# An Article as the schema spells it, written out by hand: every union branch, nested
# records, arrays, maps, an enum, bytes, longs beyond 32 bits, timestamp-millis, non-ASCII.
ARTICLE: dict[str, Any] = {
    "schema_version": 2,
    "id": "a-7f3c",
    "url": "https://tuoitre.example/vindkraft?utm_source=x#top",
    "canonical_url": "https://tuoitre.example/vindkraft",
    "title": "Vindkraft på Ørsted-feltet",
    "body": "Første avsnitt.\n\nNguồn: Reuters – 3 GW.",
    "language": "nb",
    "language_confidence": 0.9375,
    "source": "Tuổi Trẻ",
    "source_url": None,
    "author": "Åse Ødegård",
    "published_at": _ms(2024, 5, 17, 6, 30, 12),
    "captions": ["Turbiner i Nordsjøen", ""],
    "topics": [{
        "tag": "energy",
        "score": 1.75,
        "iptc_code": "medtop:20000256",
        "evidence": [{"term": "vindkraft", "field": "title", "start": 0, "end": 9,
                      "weight": 0.5},
                     {"term": "GW", "field": "body", "start": -1, "end": 2**31 - 1,
                      "weight": -0.0}],
    }],
    "duplicate_of": "a-0001",
    "duplicate_kind": "near_duplicate",
    "duplicate_similarity": 0.91,
    "related": [{"id": "a-0002", "relation": "probable_translation", "confidence": 0.8}],
    "boilerplate": {"lines_kept": 12, "lines_removed": 3, "chars_removed": 240,
                    "reasons": {"nav": 2, "share-bar": 1}, "learned_chrome_overruled": True},
    "routes": ["energy"],
    "provenance": {
        "kind": "KAFKA",
        "topic": "raw.articles",
        "partition": 3,
        "offset": 2**40 + 7,
        "timestamp": _ms(2024, 5, 17, 6, 31),
        "key": b"\x00\xffkey",
        "headers": {"trace": b"\x01\x02", "empty": b""},
        "file": None,
        "line": None,
    },
    "processed_at": _ms(2024, 5, 17, 6, 31, 5),
}


def _context() -> SerializationContext:
    return SerializationContext(TOPIC, MessageField.VALUE)


def _apache_avro_read(body: bytes, name: str) -> dict[str, Any]:
    """Apache Avro's Python implementation (not fastavro) reads an Avro binary datum."""
    schema = avro.schema.parse(schemas.schema_json(name))
    decoder = avro.io.BinaryDecoder(io.BytesIO(body))
    datum = avro.io.DatumReader(schema, schema).read(decoder)
    assert decoder.reader.read() == b"", "the datum ends where the message ends"
    return datum


def test_newsbeam_reads_what_confluent_kafka_writes(registry: RegistryStandIn) -> None:
    peer = PeerRegistryClient({"url": registry.url})
    serializer = AvroSerializer(peer, schemas.schema_json("article"))  # auto-registers
    payload = serializer(ARTICLE, _context())

    # The peer registered the .avsc under TopicNameStrategy's subject, as newsbeam names it.
    assert registry.subjects == {value_subject(TOPIC): [1]}
    assert payload[:5] == b"\x00\x00\x00\x00\x01", payload[:5].hex()

    reader = SchemaRegistryClient(registry.url)  # fresh: fetches the writer's schema by id
    name, datum = decode_value(payload, reader, expected="article")
    assert name == "article"
    assert datum == ARTICLE
    assert ("GET", "/schemas/ids/1") in registry.requests


def test_confluent_kafka_reads_what_newsbeam_writes(registry: RegistryStandIn) -> None:
    writer = SchemaRegistryClient(registry.url)
    schema_id = writer.id_for(value_subject(TOPIC), schemas.schema_json("article"))
    payload = encode_confluent(schema_id, "article", ARTICLE)

    peer = PeerRegistryClient({"url": registry.url})  # knows nothing yet: asks by id
    assert AvroDeserializer(peer)(payload, _context()) == ARTICLE
    assert any(path.startswith(f"/schemas/ids/{schema_id}")
               for method, path in registry.requests if method == "GET")
    assert payload[:5] == b"\x00" + schema_id.to_bytes(4, "big"), payload[:5].hex()
    assert _apache_avro_read(payload[5:], "article") == ARTICLE


def test_both_clients_get_the_same_schema_id_under_the_same_subject(
        registry: RegistryStandIn) -> None:
    subject = value_subject(TOPIC)
    # newsbeam first, the peer second: the peer is handed newsbeam's id and version.
    ours = SchemaRegistryClient(registry.url).id_for(subject, schemas.schema_json("article"))
    peer = PeerRegistryClient({"url": registry.url})
    article = Schema(schemas.schema_json("article"), "AVRO")
    assert peer.register_schema(subject, article) == ours
    found = peer.lookup_schema(subject, article)
    assert (found.schema_id, found.version) == (ours, 1)
    assert registry.subjects == {subject: [ours]}, "registered once, one version"

    # The peer first (its serializer, subject chosen by its default strategy), newsbeam
    # second: newsbeam finds the peer's id by lookup and does not register a second version.
    raw_topic = "raw.articles"
    AvroSerializer(peer, schemas.schema_json("raw_article"))(
        {"url": "https://example.org/a", "published_at": None},
        SerializationContext(raw_topic, MessageField.VALUE))
    peer_id = registry.subjects[value_subject(raw_topic)][0]
    assert peer_id != ours
    newsbeam = SchemaRegistryClient(registry.url)
    assert newsbeam.lookup(value_subject(raw_topic), schemas.load_schema("raw_article")) == peer_id
    assert newsbeam.id_for(value_subject(raw_topic), schemas.schema_json("raw_article")) == peer_id
    assert registry.subjects == {subject: [ours], value_subject(raw_topic): [peer_id]}
