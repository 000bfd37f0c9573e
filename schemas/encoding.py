"""Avro message encodings for Kafka values: single-object (default) and Confluent wire format.

- **Single-object encoding** (the Avro spec's registry-free format): ``C3 01`` + the
  schema's 8-byte CRC-64-AVRO fingerprint (little-endian) + the Avro binary datum. Readers
  look the fingerprint up among the schemas they know (the current ``schemas/*.avsc`` and
  every earlier version in ``schemas/history/``), so a message written with an unknown
  schema is refused with a clear reason instead of misread, and one written with an earlier
  version is resolved to the current schema.
- **Confluent wire format**: ``00`` + the 4-byte big-endian schema id a Schema Registry
  gave the writer's schema + the Avro binary datum. Decoding fetches the writer's schema by
  id (``SchemaRegistryClient.schema_by_id``, cached) and resolves it to the current schema.

Either way the reader returns ``(schema name, datum)`` shaped by the *current* schema.
"""

from __future__ import annotations

import io
import json
import re
import struct
from functools import cache
from importlib import resources
from typing import Any, Protocol

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

import schemas

__all__ = [
    "CONFLUENT_MAGIC",
    "ENCODINGS",
    "SINGLE_OBJECT_MAGIC",
    "SchemaSource",
    "UnknownSchemaFingerprint",
    "decode_confluent",
    "decode_single_object",
    "decode_value",
    "encode_confluent",
    "encode_single_object",
    "history_schemas",
    "is_confluent",
    "is_single_object",
    "schema_fingerprint",
    "schema_name_of",
]

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
ENCODINGS = ("single-object", "confluent")
_HISTORY_NAME = re.compile(r"(?P<name>[a-z_]+)\.v(?P<version>\d+)\.avsc")


class UnknownSchemaFingerprint(ValueError):
    """The message names a schema this reader does not know."""


class SchemaSource(Protocol):
    """What Confluent decoding needs from a registry client."""

    def schema_by_id(self, schema_id: int) -> dict[str, Any]: ...


def _fingerprint_of(schema: dict[str, Any]) -> bytes:
    """The spec's 8-byte little-endian CRC-64-AVRO fingerprint of the schema's Parsing
    Canonical Form (fastavro's hex string already lists the bytes in that order)."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


@cache
def schema_fingerprint(name: str) -> bytes:
    """8-byte little-endian CRC-64-AVRO fingerprint of a bundled (current) schema."""
    return _fingerprint_of(schemas.load_schema(name))


@cache
def history_schemas() -> tuple[tuple[str, int, str], ...]:
    """Earlier published versions: ``(name, version, schema JSON)`` from ``schemas/history/``."""
    found = []
    folder = resources.files(schemas.__name__).joinpath("history")
    if folder.is_dir():
        for entry in folder.iterdir():
            match = _HISTORY_NAME.fullmatch(entry.name)
            if match and match["name"] in schemas.SCHEMA_NAMES:
                found.append((match["name"], int(match["version"]),
                              entry.read_text(encoding="utf-8")))
    return tuple(sorted(found))


@cache
def _known_fingerprints() -> dict[bytes, tuple[str, dict[str, Any]]]:
    """Fingerprint -> (schema name, parsed writer schema), history first, current last."""
    known: dict[bytes, tuple[str, dict[str, Any]]] = {}
    writers = [(name, json.loads(text)) for name, _, text in history_schemas()]
    writers += [(name, schemas.load_schema(name)) for name in schemas.SCHEMA_NAMES]
    for name, schema in writers:
        fp = _fingerprint_of(schema)
        # newsbeam 0.1.0 wrote the fingerprint byte-reversed (big-endian): still read what
        # it wrote to its route topics; never written again.
        known.setdefault(fp[::-1], (name, fastavro.parse_schema(schema)))
    for name, schema in writers:
        known[_fingerprint_of(schema)] = (name, fastavro.parse_schema(schema))
    return known


@cache
def _full_names() -> dict[str, str]:
    """Avro full name (``io.newsbeam.v1.Article``) -> bundled schema name (``article``)."""
    names = {}
    for name in schemas.SCHEMA_NAMES:
        doc = schemas.load_schema(name)
        names[f"{doc['namespace']}.{doc['name']}"] = name
    return names


def schema_name_of(schema: dict[str, Any] | str) -> str:
    """The bundled schema name a writer's schema (JSON or dict) corresponds to."""
    doc = json.loads(schema) if isinstance(schema, str) else schema
    full = doc.get("name", "")
    if "." not in full and doc.get("namespace"):
        full = f"{doc['namespace']}.{full}"
    try:
        return _full_names()[full]
    except KeyError:
        raise UnknownSchemaFingerprint(
            f"writer schema {full!r} is none of {sorted(_full_names())}") from None


def is_single_object(payload: bytes) -> bool:
    return len(payload) >= 10 and payload[:2] == SINGLE_OBJECT_MAGIC


def is_confluent(payload: bytes) -> bool:
    return len(payload) >= 5 and payload[:1] == CONFLUENT_MAGIC


def _datum_bytes(name: str, datum: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schemas.parsed_schema(name), datum)
    return buffer.getvalue()


def encode_single_object(name: str, datum: dict[str, Any]) -> bytes:
    return SINGLE_OBJECT_MAGIC + schema_fingerprint(name) + _datum_bytes(name, datum)


def encode_confluent(schema_id: int, name: str, datum: dict[str, Any]) -> bytes:
    """``00`` + big-endian schema id + datum; ``schema_id`` is what the registry gave ``name``."""
    if not 0 <= schema_id < 2**31:
        raise ValueError(f"schema id {schema_id} out of range")
    return CONFLUENT_MAGIC + struct.pack(">I", schema_id) + _datum_bytes(name, datum)


def _check_expected(name: str, expected: str | None) -> None:
    if expected is not None and name != expected:
        raise UnknownSchemaFingerprint(f"message is a {name!r} record, expected {expected!r}")


def decode_single_object(payload: bytes, expected: str | None = None) -> tuple[str, dict[str, Any]]:
    """Return ``(schema name, datum)``; raise if the fingerprint is unknown or unexpected."""
    if not is_single_object(payload):
        raise ValueError("not an Avro single-object encoded message (missing C3 01 marker)")
    known = _known_fingerprints().get(payload[2:10])
    if known is None:
        raise UnknownSchemaFingerprint(
            f"unknown Avro schema fingerprint {payload[2:10].hex()} (little-endian); "
            f"known: {sorted({name for name, _ in _known_fingerprints().values()})}"
        )
    name, writer = known
    _check_expected(name, expected)
    datum = fastavro.schemaless_reader(io.BytesIO(payload[10:]), writer,
                                       schemas.parsed_schema(name))
    return name, datum


@cache
def _parsed_writer(schema_json: str) -> dict[str, Any]:
    return fastavro.parse_schema(json.loads(schema_json))


def decode_confluent(payload: bytes, registry: SchemaSource,
                     expected: str | None = None) -> tuple[str, dict[str, Any]]:
    """Return ``(schema name, datum)`` of a Confluent-framed message, resolved to the current
    schema; the writer's schema comes from ``registry`` by the id in the frame."""
    if not is_confluent(payload):
        raise ValueError("not a Confluent wire-format message (missing 00 magic byte)")
    (schema_id,) = struct.unpack(">I", payload[1:5])
    writer_doc = registry.schema_by_id(schema_id)
    name = schema_name_of(writer_doc)
    _check_expected(name, expected)
    writer = _parsed_writer(json.dumps(writer_doc, sort_keys=True))
    datum = fastavro.schemaless_reader(io.BytesIO(payload[5:]), writer,
                                       schemas.parsed_schema(name))
    return name, datum


def decode_value(payload: bytes, registry: SchemaSource | None = None,
                 expected: str | None = None) -> tuple[str, dict[str, Any]]:
    """Decode either encoding, told apart by the first byte (``C3`` or ``00``)."""
    if is_single_object(payload):
        return decode_single_object(payload, expected)
    if is_confluent(payload):
        if registry is None:
            raise ValueError("Confluent wire-format message (magic byte 00): pass a schema "
                             "registry (--schema-registry-url) to decode it")
        return decode_confluent(payload, registry, expected)
    raise ValueError("neither Avro single-object (C3 01) nor Confluent wire format (00)")
