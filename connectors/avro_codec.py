"""Avro single-object encoding (the spec's registry-free message format).

A message is ``C3 01`` + the schema's 8-byte CRC-64-AVRO fingerprint (little-endian) +
the Avro binary datum. Readers look the fingerprint up among the schemas they know, so a
message written with an unknown schema is refused with a clear reason instead of misread.
"""

from __future__ import annotations

import io
from functools import cache
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

import schemas

__all__ = [
    "SINGLE_OBJECT_MAGIC",
    "UnknownSchemaFingerprint",
    "decode_single_object",
    "encode_single_object",
    "is_single_object",
    "schema_fingerprint",
]

SINGLE_OBJECT_MAGIC = b"\xc3\x01"


class UnknownSchemaFingerprint(ValueError):
    """The message names a schema this reader does not know."""


@cache
def schema_fingerprint(name: str) -> bytes:
    """8-byte little-endian CRC-64-AVRO fingerprint of a bundled schema."""
    canonical = to_parsing_canonical_form(schemas.load_schema(name))
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))[::-1]


@cache
def _known_fingerprints() -> dict[bytes, str]:
    return {schema_fingerprint(name): name for name in schemas.SCHEMA_NAMES}


def is_single_object(payload: bytes) -> bool:
    return len(payload) >= 10 and payload[:2] == SINGLE_OBJECT_MAGIC


def encode_single_object(name: str, datum: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    buffer.write(SINGLE_OBJECT_MAGIC)
    buffer.write(schema_fingerprint(name))
    fastavro.schemaless_writer(buffer, schemas.parsed_schema(name), datum)
    return buffer.getvalue()


def decode_single_object(payload: bytes, expected: str | None = None) -> tuple[str, dict[str, Any]]:
    """Return ``(schema name, datum)``; raise if the fingerprint is unknown or unexpected."""
    if not is_single_object(payload):
        raise ValueError("not an Avro single-object encoded message (missing C3 01 marker)")
    name = _known_fingerprints().get(payload[2:10])
    if name is None:
        raise UnknownSchemaFingerprint(
            f"unknown Avro schema fingerprint {payload[2:10][::-1].hex()}; "
            f"known: {sorted(_known_fingerprints().values())}"
        )
    if expected is not None and name != expected:
        raise UnknownSchemaFingerprint(f"message is a {name!r} record, expected {expected!r}")
    datum = fastavro.schemaless_reader(io.BytesIO(payload[10:]), schemas.parsed_schema(name))
    return name, datum
