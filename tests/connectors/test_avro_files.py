from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from connectors.avro_codec import (
    UnknownSchemaFingerprint,
    decode_single_object,
    encode_single_object,
    schema_fingerprint,
)
from connectors.avro_files import WriteAvroFiles, list_avro_files, read_avro_records
from pipeline.models import Article, Provenance, ProvenanceKind, RawArticle
from pipeline.routing import route_article


def _articles(n: int) -> list[Article]:
    return [Article(id=f"id-{i}", url=f"https://a.b/{i}", canonical_url=f"https://a.b/{i}",
                    body=f"body {i}", provenance=Provenance(kind=ProvenanceKind.FILE, file="f", line=i))
            for i in range(n)]


def _write(tmp: Path, articles: list[Article]) -> None:
    with TestPipeline() as pipeline:
        _ = (pipeline | beam.Create(articles) | beam.FlatMap(route_article)
             | WriteAvroFiles(str(tmp)))


def test_written_files_read_back_equal_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    articles = _articles(5)
    _write(tmp_path, articles)
    files = list_avro_files(str(tmp_path))
    assert files and all("/untagged/" in f for f in files)
    back = [Article.model_validate(r) for f in files for r in read_avro_records(f)]
    assert sorted(back, key=lambda a: a.id) == [a.model_copy(update={"routes": ["untagged"]})
                                                 for a in articles]
    assert not list((tmp_path / ".tmp").glob("*"))


def test_rerun_of_the_same_input_replaces_instead_of_duplicating(tmp_path: Path) -> None:
    _write(tmp_path, _articles(3))
    first = list_avro_files(str(tmp_path))
    _write(tmp_path, _articles(3))
    assert list_avro_files(str(tmp_path)) == first


def test_single_object_encoding_round_trip_and_unknown_fingerprint() -> None:
    raw = RawArticle(url="https://a.b", body="x")
    payload = encode_single_object("raw_article", raw.to_avro())
    assert payload[:2] == b"\xc3\x01" and payload[2:10] == schema_fingerprint("raw_article")
    name, datum = decode_single_object(payload)
    assert name == "raw_article" and RawArticle.model_validate(datum) == raw
    with pytest.raises(UnknownSchemaFingerprint):
        decode_single_object(b"\xc3\x01" + b"\x01" * 8 + payload[10:])
