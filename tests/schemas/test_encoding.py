"""Avro encodings of Kafka values, and schema evolution across ``schemas/history/``."""

from __future__ import annotations

import copy
import io
import json
import struct
from datetime import UTC, datetime
from pathlib import Path

import avro.datafile
import avro.io
import avro.schema
import fastavro
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

import schemas
from schemas.encoding import (
    UnknownSchemaFingerprint,
    decode_single_object,
    decode_value,
    encode_confluent,
    encode_single_object,
    history_schemas,
    schema_fingerprint,
    schema_name_of,
)
from schemas.models import (
    Article,
    BoilerplateStats,
    DeadLetter,
    Evidence,
    Provenance,
    ProvenanceKind,
    Relation,
    TopicTag,
)
from tests.support.jvm import java_peer


def _article() -> Article:
    """An article with every optional part filled, as the pipeline's output."""
    return Article(
        id="a1", url="https://n.example/a?utm_source=x", canonical_url="https://n.example/a",
        title="Wind cable", body="First.\n\nSecond.", language="en", language_confidence=0.98,
        source="n.example", source_url="https://o.example/a", author="Ann",
        published_at=datetime(2026, 11, 1, 12, tzinfo=UTC), captions=["Photo: x"],
        topics=[TopicTag(tag="energy", score=3.5, iptc_code="medtop:20000256",
                         evidence=[Evidence(term="wind", field="title", start=0, end=4,
                                            weight=1.0)])],
        related=[Relation(id="b2", relation="probable_translation", confidence=0.9)],
        boilerplate=BoilerplateStats(lines_kept=2, lines_removed=1, chars_removed=10,
                                     reasons={"share": 1}),
        routes=["energy"],
        provenance=Provenance(kind=ProvenanceKind.KAFKA, topic="in", partition=1, offset=5,
                              key=b"a1", headers={"h": b"v"},
                              timestamp=datetime(2026, 11, 1, 12, 1, tzinfo=UTC)))


def _letter() -> DeadLetter:
    return DeadLetter(id="d1", stage="parse", error_class="InvalidUtf8", error_message="bad",
                      payload=b"\xff\xfe", provenance=Provenance(kind=ProvenanceKind.FILE,
                                                                 file="in.jsonl", line=3))


SAMPLES = {"article": _article, "dead_letter": _letter}


class _Registry:
    def __init__(self) -> None:
        self.by_id = {7: schemas.load_schema("article")}

    def schema_by_id(self, schema_id: int) -> dict:
        return self.by_id[schema_id]


def test_single_object_round_trip_and_refusals() -> None:
    article = _article()
    payload = encode_single_object("article", article.to_avro())
    assert payload[:2] == b"\xc3\x01" and payload[2:10] == schema_fingerprint("article")
    name, datum = decode_single_object(payload, expected="article")
    assert name == "article" and Article.model_validate(datum) == article
    with pytest.raises(UnknownSchemaFingerprint, match="expected 'dead_letter'"):
        decode_single_object(payload, expected="dead_letter")
    with pytest.raises(UnknownSchemaFingerprint, match="unknown Avro schema fingerprint"):
        decode_single_object(b"\xc3\x01" + b"\x01" * 8 + payload[10:])
    with pytest.raises(ValueError, match="neither"):
        decode_value(b'{"json": true}')


def test_confluent_frame_layout_and_decoding_with_a_schema_source() -> None:
    article = _article()
    payload = encode_confluent(7, "article", article.to_avro())
    assert payload[:5] == b"\x00\x00\x00\x00\x07"
    assert payload[5:] == encode_single_object("article", article.to_avro())[10:]
    name, datum = decode_value(payload, _Registry())
    assert name == "article" and Article.model_validate(datum) == article
    with pytest.raises(ValueError, match="out of range"):
        encode_confluent(-1, "article", article.to_avro())
    assert schema_name_of(schemas.schema_json("dead_letter")) == "dead_letter"
    with pytest.raises(UnknownSchemaFingerprint):
        schema_name_of({"type": "record", "name": "Other", "fields": []})


# ------------------------------------------------------------------ schema evolution

def _current_version(name: str) -> int:
    fields = schemas.load_schema(name)["fields"]
    return next(f["default"] for f in fields if f["name"] == "schema_version")


def _compatible(reader: dict, writer: dict) -> bool:
    result = ReaderWriterCompatibilityChecker().get_compatibility(
        avro.schema.parse(json.dumps(reader)), avro.schema.parse(json.dumps(writer)))
    return result.compatibility is SchemaCompatibilityType.compatible


def _project(datum, schema):
    """``datum`` as a reader on ``schema`` sees it: fields the schema lacks dropped, at
    every depth (a new field may be added inside a nested record)."""
    if isinstance(schema, list):  # a union: the record branch, if the datum is one
        branch = next((b for b in schema if isinstance(b, dict) and b.get("type") == "record"),
                      None)
        return _project(datum, branch) if branch and isinstance(datum, dict) else datum
    if isinstance(schema, dict) and schema.get("type") == "record":
        return {f["name"]: _project(datum[f["name"]], f["type"])
                for f in schema["fields"] if f["name"] in datum}
    if isinstance(schema, dict) and schema.get("type") == "array" and datum is not None:
        return [_project(item, schema["items"]) for item in datum]
    if isinstance(schema, dict) and isinstance(schema.get("type"), dict | list):
        return _project(datum, schema["type"])
    return datum


def test_every_output_schema_has_its_published_versions_in_history() -> None:
    """A published version never changes; a changed schema bumps ``schema_version``."""
    history = {(name, version): json.loads(text) for name, version, text in history_schemas()}
    for name in ("article", "dead_letter"):
        versions = sorted(v for n, v in history if n == name)
        assert versions, f"schemas/history/{name}.v1.avsc is missing"
        current = _current_version(name)
        if current in versions:
            assert history[(name, current)] == schemas.load_schema(name), (
                f"{name}.avsc differs from published v{current}: bump schema_version and "
                f"add the new file, keeping schemas/history/{name}.v{current}.avsc")
        else:
            assert current == versions[-1] + 1


def _resolve(body: bytes, writer: avro.schema.Schema, reader: avro.schema.Schema) -> dict:
    """Apache Avro's Python library (not fastavro, which newsbeam uses) reads the binary
    datum ``body`` written with ``writer`` as a reader on ``reader``, to its last byte."""
    stream = io.BytesIO(body)
    datum = avro.io.DatumReader(writer, reader).read(avro.io.BinaryDecoder(stream))
    assert stream.read() == b"", "datum not read to its last byte"
    return datum


@pytest.mark.parametrize(("name", "version", "text"), history_schemas(),
                         ids=[f"{n}.v{v}" for n, v, _ in history_schemas()])
def test_a_reader_on_a_previous_schema_reads_current_records(name: str, version: int,
                                                             text: str, tmp_path: Path) -> None:
    """Both directions, judged by Apache Avro's Python library (``avro``) resolving the
    schemas, never by fastavro on both sides: a consumer still on a published version reads
    what newsbeam writes now (single-object datum and container file), and newsbeam
    (current schema) reads a message written then by peers (datum by ``avro``, fingerprint by
    Java Avro), resolved as ``avro`` resolves it (new fields get their defaults)."""
    old = json.loads(text)
    current = schemas.load_schema(name)
    assert _compatible(reader=old, writer=current) and _compatible(reader=current, writer=old)
    old_schema = avro.schema.parse(text)
    current_schema = avro.schema.parse(schemas.schema_json(name))

    record = SAMPLES[name]().to_avro()
    old_datum = _project(record, old)  # what the old schema knows of it, nested fields too
    message = encode_single_object(name, record)
    assert _resolve(message[10:], current_schema, old_schema) == old_datum
    buffer = io.BytesIO()
    fastavro.writer(buffer, schemas.parsed_schema(name), [record])  # as the file sink writes
    buffer.seek(0)
    with avro.datafile.DataFileReader(buffer, avro.io.DatumReader(None, old_schema)) as files:
        assert list(files) == [old_datum]

    # A message written on the old version still decodes, resolved to the current schema.
    out = io.BytesIO()
    avro.io.DatumWriter(old_schema).write(old_datum, avro.io.BinaryEncoder(out))
    old_file = tmp_path / f"{name}.v{version}.avsc"
    old_file.write_text(text)  # little-endian, as the spec says:
    old_fingerprint = struct.pack("<q", int(java_peer("AvroPeer", "fingerprint", old_file)))
    decoded_name, datum = decode_single_object(b"\xc3\x01" + old_fingerprint + out.getvalue())
    assert decoded_name == name
    assert datum == _resolve(out.getvalue(), old_schema, current_schema)
    assert _project(datum, old) == old_datum


def test_the_compatibility_check_refuses_breaking_changes() -> None:
    """The check above is not vacuous: removing a required field or adding one without a
    default breaks one of the two directions."""
    current = schemas.load_schema("article")
    added = copy.deepcopy(current)
    added["fields"].append({"name": "new_field", "type": "string"})
    assert _compatible(reader=current, writer=added)  # old readers ignore new fields
    assert not _compatible(reader=added, writer=current)  # new reader: no default
    added["fields"][-1]["default"] = ""
    assert _compatible(reader=added, writer=current)
    removed = copy.deepcopy(current)
    removed["fields"] = [f for f in removed["fields"] if f["name"] != "canonical_url"]
    assert not _compatible(reader=current, writer=removed)
