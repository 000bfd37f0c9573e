"""The Avro schemas: the contract with producers and downstream consumers.

The ``.avsc`` files beside this module are the single source of truth; the pydantic
models in ``schemas.models`` mirror them and ``tests/test_schemas.py`` proves it.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import fastavro

__all__ = ["SCHEMA_NAMES", "load_schema", "parsed_schema", "schema_json"]

SCHEMA_NAMES = ("raw_article", "article", "dead_letter")


@cache
def schema_json(name: str) -> str:
    if name not in SCHEMA_NAMES:
        raise ValueError(f"unknown schema {name!r}; expected one of {SCHEMA_NAMES}")
    return resources.files(__package__).joinpath(f"{name}.avsc").read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """The schema as a plain JSON document (a fresh copy each call)."""
    return json.loads(schema_json(name))


@cache
def parsed_schema(name: str) -> dict[str, Any]:
    """The schema parsed by fastavro, cached: parse once, encode many times."""
    return fastavro.parse_schema(load_schema(name))
