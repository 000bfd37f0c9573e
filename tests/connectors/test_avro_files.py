from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from connectors.avro_files import CODECS, WriteAvroFiles, list_avro_files, read_avro_records
from schemas.encoding import (
    UnknownSchemaFingerprint,
    decode_single_object,
    encode_single_object,
    schema_fingerprint,
)
from schemas.models import Article, DeadLetter, Provenance, ProvenanceKind, RawArticle
from schemas.routes import route_article, route_dead_letter
from tests.support.avro_json import from_avro_json
from tests.support.jvm import java_peer


def _articles(n: int) -> list[Article]:
    return [Article(id=f"id-{i}", url=f"https://a.b/{i}", canonical_url=f"https://a.b/{i}",
                    body=f"body {i}", provenance=Provenance(kind=ProvenanceKind.FILE, file="f", line=i))
            for i in range(n)]


def _write(tmp: Path, articles: list[Article], codec: str = "deflate",
           letters: tuple[DeadLetter, ...] = ()) -> None:
    routed = [r for a in articles for r in route_article(a)] + list(map(route_dead_letter, letters))
    with TestPipeline() as pipeline:
        _ = pipeline | beam.Create(routed) | WriteAvroFiles(str(tmp), codec=codec)


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


def _timestamped(articles: list[Article], start: float, step: float) -> list:
    return [beam.window.TimestampedValue(a, start + i * step) for i, a in enumerate(articles)]


def test_streaming_layout_windows_and_rolls_by_size(tmp_path: Path) -> None:
    """Fixed windows name the files; a small size limit rolls to several files per window;
    every record is in exactly one finished file."""
    articles = [a.model_copy(update={"body": "x" * 3000}) for a in _articles(12)]
    start = datetime(2026, 11, 18, 11, 0, tzinfo=UTC).timestamp()
    with TestPipeline() as pipeline:
        _ = (pipeline | beam.Create(_timestamped(articles, start, 10))
             | beam.FlatMap(route_article)
             | WriteAvroFiles(str(tmp_path), codec="null", window_seconds=60,
                              max_file_bytes=8000))
    files = list_avro_files(str(tmp_path))
    labels = sorted({Path(f).name.split("-")[1] for f in files})
    assert labels == ["20261118T110000", "20261118T110100"]  # 12 records, 10 s apart
    assert len(files) > len(labels), "the size limit rolled to more than one file per window"
    ids = [r["id"] for f in files for r in read_avro_records(f)]
    assert sorted(ids) == sorted(a.id for a in articles)


def _write_bounded(tmp: Path, articles: list[Article], shards: int = 3) -> None:
    with TestPipeline() as pipeline:
        _ = (pipeline | beam.Create(articles) | beam.FlatMap(route_article)
             | WriteAvroFiles(str(tmp), bounded=True, shards=shards))


def test_bounded_layout_is_deterministic_shards_and_a_rerun_replaces_exactly(tmp_path: Path) -> None:
    _write_bounded(tmp_path, _articles(20))
    first = {f: [r["id"] for r in read_avro_records(f)] for f in list_avro_files(str(tmp_path))}
    assert {Path(f).name for f in first} <= {f"part-0000{i}-of-00003.avro" for i in range(3)}
    assert all(ids == sorted(ids) for ids in first.values()), "records sorted by id"
    assert sorted(i for ids in first.values() for i in ids) == sorted(f"id-{i}" for i in range(20))

    _write_bounded(tmp_path, list(reversed(_articles(20))))  # same input, other order
    again = {f: [r["id"] for r in read_avro_records(f)] for f in list_avro_files(str(tmp_path))}
    assert again == first

    _write_bounded(tmp_path, _articles(1))  # a smaller input: stale shard files go away
    left = list_avro_files(str(tmp_path))
    assert [r["id"] for f in left for r in read_avro_records(f)] == ["id-0"]
    assert not list((tmp_path / ".tmp").glob("*"))


def test_options_are_checked_where_they_enter() -> None:
    with pytest.raises(ValueError, match="codec"):
        WriteAvroFiles("out", codec="lz4")
    with pytest.raises(ValueError, match="shards"):
        WriteAvroFiles("out", bounded=True, shards=0)


def _letters() -> tuple[DeadLetter, ...]:
    """Dead letters with what their schema holds beyond an article's: bytes that are not
    UTF-8 (a NUL too), a Kafka key and headers map of bytes, timestamps, non-ASCII text."""
    at = datetime(2026, 11, 18, 11, 0, 5, 123000, tzinfo=UTC)
    return (
        DeadLetter(id="dl-kafka", stage="parse", error_class="InvalidJson",
                   error_message="ungültiges JSON ✗", payload=b"\xff\xfe\x00{oops",
                   provenance=Provenance(kind=ProvenanceKind.KAFKA, topic="in", partition=2,
                                         offset=2**40, timestamp=at, key=b"\x80k",
                                         headers={"trace": b"\x00\x01", "ü": b""}),
                   failed_at=at),
        DeadLetter(id="dl-file", stage="sink", error_class="MessageSizeTooLarge",
                   error_message="too large", payload=b"x" * 300,
                   provenance=Provenance(kind=ProvenanceKind.FILE, file="in.jsonl", line=7),
                   failed_at=at))


@pytest.mark.parametrize("codec", CODECS)
def test_java_avro_reads_the_files_of_every_codec(tmp_path: Path, codec: str) -> None:
    """Java Avro's DataFileReader (tests/support/java) is the reader: every ``--avro-codec``
    newsbeam offers must give files another implementation reads, record for record, in
    the article routes and in the dead_letter route alike."""
    articles = [a.model_copy(update={"title": "Kraft æøå ✓", "body": f"body {a.id} " * 40})
                for a in _articles(4)]
    letters = _letters()
    _write(tmp_path / "out", articles, codec=codec, letters=letters)
    expected = {("untagged", a.id): a.model_copy(update={"routes": ["untagged"]}).to_avro()
                for a in articles}
    expected |= {("dead_letter", letter.id): letter.to_avro() for letter in letters}
    got: dict[tuple[str, str], dict] = {}
    for n, path in enumerate(list_avro_files(str(tmp_path / "out"))):
        out = tmp_path / f"java-{n}.json"
        printed = java_peer("AvroPeer", "container", path, out)
        assert printed.strip() == codec  # the codec the file says it uses, read by Java
        route = Path(path).parent.name
        name = "dead_letter" if route == "dead_letter" else "article"
        for line in out.read_text(encoding="utf-8").splitlines():
            datum = from_avro_json(name, line)
            got[(route, datum["id"])] = datum
    assert got == expected
