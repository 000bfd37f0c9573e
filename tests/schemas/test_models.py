"""The pydantic models and the .avsc files agree field by field, and records round-trip."""

from __future__ import annotations

import io
import types
import typing
from datetime import UTC, datetime
from enum import Enum

import fastavro
import pytest
from pydantic import BaseModel

import schemas
from schemas.models import (
    Article,
    BoilerplateStats,
    DeadLetter,
    Evidence,
    Provenance,
    ProvenanceKind,
    RawArticle,
    Relation,
    TopicTag,
)

MODELS = {"raw_article": RawArticle, "article": Article, "dead_letter": DeadLetter}

_PRIMITIVES = {"string": str, "int": int, "long": int, "double": float, "float": float,
               "bytes": bytes, "boolean": bool}


def _split_optional(annotation: object) -> tuple[object, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        assert len(rest) == 1
        return rest[0], True
    return annotation, False


def _assert_type_matches(avro_type: object, annotation: object, where: str) -> None:
    if isinstance(avro_type, list):
        assert "null" in avro_type and len(avro_type) == 2, f"{where}: only [null, T] unions"
        inner, optional = _split_optional(annotation)
        assert optional, f"{where}: Avro type is nullable, model field is not"
        _assert_type_matches(next(t for t in avro_type if t != "null"), inner, where)
        return
    _, optional = _split_optional(annotation)
    assert not optional, f"{where}: model field is optional, Avro type is not"
    if isinstance(avro_type, str):
        assert annotation is _PRIMITIVES[avro_type], f"{where}: {avro_type} vs {annotation}"
    elif avro_type.get("logicalType") == "timestamp-millis":
        assert annotation is datetime, f"{where}: timestamp-millis vs {annotation}"
    elif avro_type["type"] == "array":
        assert typing.get_origin(annotation) is list, where
        _assert_type_matches(avro_type["items"], typing.get_args(annotation)[0], where + "[]")
    elif avro_type["type"] == "map":
        assert typing.get_origin(annotation) is dict, where
        key, value = typing.get_args(annotation)
        assert key is str
        _assert_type_matches(avro_type["values"], value, where + "{}")
    elif avro_type["type"] == "enum":
        assert isinstance(annotation, type) and issubclass(annotation, Enum), where
        assert [m.value for m in annotation] == avro_type["symbols"], where
    elif avro_type["type"] == "record":
        assert isinstance(annotation, type) and issubclass(annotation, BaseModel), where
        _assert_record_matches(avro_type, annotation)
    else:
        raise AssertionError(f"{where}: unhandled Avro type {avro_type}")


def _assert_record_matches(record: dict, model: type[BaseModel]) -> None:
    model_fields = {name: f for name, f in model.model_fields.items() if not f.exclude}
    avro_fields = {f["name"]: f for f in record["fields"]}
    assert list(avro_fields) == list(model_fields), (
        f"{record['name']}: Avro fields {list(avro_fields)} vs model fields {list(model_fields)}")
    for name, avro_field in avro_fields.items():
        assert avro_field.get("doc"), f"{record['name']}.{name} has no doc"
        _assert_type_matches(avro_field["type"], model_fields[name].annotation,
                             f"{record['name']}.{name}")


@pytest.mark.parametrize("name", schemas.SCHEMA_NAMES)
def test_model_and_schema_agree_field_by_field(name: str) -> None:
    schema = schemas.load_schema(name)
    assert schema["namespace"] == "io.newsbeam.v1"
    assert schema.get("doc")
    _assert_record_matches(schema, MODELS[name])


def _provenance() -> Provenance:
    return Provenance(kind=ProvenanceKind.KAFKA, topic="articles", partition=2, offset=41,
                      timestamp=datetime(2026, 11, 1, 12, 0, 0, 123000, tzinfo=UTC),
                      key=b"k-1", headers={"trace": b"\x00\x01"})


EXAMPLES = {
    "raw_article": RawArticle(id="a1", url="https://example.com/a", title="T", body="b",
                              html="<p>b</p>", source="example.com", language="en",
                              published_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    "article": Article(
        id="a1", url="https://example.com/a?utm_source=x", canonical_url="https://example.com/a",
        title="Chip plant", body="Body.", language="en", language_confidence=0.9,
        source="example.com", source_url="https://origin.example/x", author="A. Writer",
        published_at=datetime(2026, 1, 2, tzinfo=UTC), captions=["A photo (Foto: X/VNA)"],
        topics=[TopicTag(tag="semiconductors", score=0.8, iptc_code="medtop:20000230",
                         evidence=[Evidence(term="chip", field="title", start=0, end=4, weight=1.0)])],
        duplicate_of="a0", duplicate_kind="near_duplicate", duplicate_similarity=0.91,
        related=[Relation(id="a9", relation="probable_translation", confidence=0.7)],
        boilerplate=BoilerplateStats(lines_kept=3, lines_removed=2, chars_removed=40,
                                     reasons={"image_placeholder": 2}),
        routes=["duplicates"], provenance=_provenance()),
    "dead_letter": DeadLetter(id="d1", stage="parse", error_class="InvalidJson",
                              error_message="bad", payload=b"\xff{", provenance=_provenance()),
}


@pytest.mark.parametrize("name", schemas.SCHEMA_NAMES)
def test_records_round_trip_through_avro_and_model(name: str) -> None:
    example = EXAMPLES[name]
    buffer = io.BytesIO()
    fastavro.writer(buffer, schemas.parsed_schema(name), [example.to_avro()])
    buffer.seek(0)
    (datum,) = list(fastavro.reader(buffer))
    assert type(example).model_validate(datum) == example


def test_optional_fields_round_trip_as_null() -> None:
    minimal = Article(id="x", url="u", canonical_url="u",
                      provenance=Provenance(kind=ProvenanceKind.FILE, file="f.jsonl", line=3))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schemas.parsed_schema("article"), minimal.to_avro())
    buffer.seek(0)
    datum = fastavro.schemaless_reader(buffer, schemas.parsed_schema("article"))
    assert datum["duplicate_of"] is None and datum["provenance"]["offset"] is None
    assert Article.model_validate(datum) == minimal


def test_provenance_is_defined_identically_in_both_output_schemas() -> None:
    def provenance_of(name: str) -> dict:
        return next(f["type"] for f in schemas.load_schema(name)["fields"] if f["name"] == "provenance")

    assert provenance_of("article") == provenance_of("dead_letter")


@pytest.mark.parametrize("model, field", [
    (Provenance, "timestamp"), (RawArticle, "published_at"), (Article, "published_at"),
    (Article, "processed_at"), (DeadLetter, "failed_at")])
def test_every_timestamp_is_utc_milliseconds_so_avro_round_trips_are_exact(
        model: type[BaseModel], field: str) -> None:
    from datetime import timedelta, timezone

    base = EXAMPLES["article"] if model is Article else (
        _provenance() if model is Provenance else EXAMPLES[
            "raw_article" if model is RawArticle else "dead_letter"])
    oslo = datetime(2026, 3, 1, 13, 30, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    naive = datetime(2026, 3, 1, 12, 30, 0, 999999)
    for given, expected in ((oslo, datetime(2026, 3, 1, 12, 30, 0, 123000, tzinfo=UTC)),
                            (naive, datetime(2026, 3, 1, 12, 30, 0, 999000, tzinfo=UTC))):
        record = model.model_validate(base.model_dump() | {field: given})
        assert getattr(record, field) == expected
        assert getattr(record, field).utcoffset() == timedelta(0)


def test_dead_letter_stage_doc_lists_exactly_the_stage_enum() -> None:
    """``dead_letter.avsc`` documents the values ``DeadLetter.stage`` can hold: the enum's."""
    import re

    from schemas.failures import Stage

    field = next(f for f in schemas.load_schema("dead_letter")["fields"] if f["name"] == "stage")
    listed = re.findall(r"[a-z_]+", field["doc"].split(":", 1)[1].replace(" or ", ", "))
    assert listed == [stage.value for stage in Stage]
