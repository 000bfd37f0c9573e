"""Avro-JSON, the text form Java Avro's peer (``tests/support/java/AvroPeer.java``) reads
and writes, and the bundled schemas as files for it."""

from __future__ import annotations

import io
from pathlib import Path

import fastavro

import schemas

__all__ = ["avro_json", "from_avro_json", "schema_file"]


def avro_json(name: str, datum: dict) -> str:
    """``datum`` of schema ``name`` as one Avro-JSON line."""
    out = io.StringIO()
    fastavro.json_writer(out, schemas.parsed_schema(name), [datum])
    return out.getvalue()


def from_avro_json(name: str, text: str) -> dict:
    """The first Avro-JSON datum of ``text`` as a record of schema ``name``."""
    return next(fastavro.json_reader(io.StringIO(text), schemas.parsed_schema(name)))


def schema_file(folder: Path, name: str) -> Path:
    """The bundled ``.avsc`` of ``name``, written into ``folder``."""
    path = folder / f"{name}.avsc"
    path.write_text(schemas.schema_json(name))
    return path
