from __future__ import annotations

import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.parse import ParseArticles, decode_raw_article, derive_id, parse_message
from pipeline.stage import ARTICLES, DEAD_LETTER
from schemas.encoding import encode_single_object
from schemas.failures import StageError
from schemas.models import Provenance, ProvenanceKind, RawArticle, RawMessage

PROV = Provenance(kind=ProvenanceKind.KAFKA, topic="articles", partition=0, offset=7)


def message(value: bytes | None) -> RawMessage:
    return RawMessage(value=value, provenance=PROV)


def test_json_article_becomes_article_with_derived_id_and_host_source() -> None:
    article = parse_message(message(json.dumps(
        {"url": "https://News.example.com/a?utm_source=rss", "title": " T ", "body": "text"}).encode()))
    assert article.canonical_url == "https://news.example.com/a"
    # sha256("https://news.example.com/a"), first 32 hex digits (worked out with sha256sum)
    assert article.id == derive_id("https://news.example.com/a") == "428160c49aa1378fa92e68f179b36156"
    assert article.source == "news.example.com"
    assert article.title == "T" and article.body == "text"
    assert article.provenance == PROV


def test_producer_id_and_language_are_kept() -> None:
    article = parse_message(message(b'{"id": "x-1", "url": "https://a.b/c", "html": "<p>x</p>", "language": "NB"}'))
    assert article.id == "x-1" and article.html == "<p>x</p>"
    assert article.language == "nb" and article.language_confidence == 1.0


def test_same_url_with_tracking_parameters_gets_the_same_id() -> None:
    a = parse_message(message(b'{"url": "https://a.b/c?utm_campaign=x", "body": "1"}'))
    b = parse_message(message(b'{"url": "https://a.b/c", "body": "2"}'))
    assert a.id == b.id


def test_avro_single_object_raw_article_is_accepted() -> None:
    raw = RawArticle(url="https://a.b/c", body="hello", title="Hi")
    article = parse_message(message(encode_single_object("raw_article", raw.to_avro())))
    assert article.title == "Hi" and article.body == "hello"


@pytest.mark.parametrize(("value", "error_class"), [
    (None, "Tombstone"),
    (b"", "EmptyMessage"),
    (b"\xff\xfe{", "InvalidUtf8"),
    (b"{not json", "InvalidJson"),
    (b"[1, 2]", "NotAnObject"),
    (b'{"title": "no url", "body": "x"}', "ValidationError"),
    (b'{"url": "https://a.b", "body": "   "}', "ValidationError"),
    (b'{"url": "https://a.b", "body": 5}', "ValidationError"),
    (b"\xc3\x01" + b"\x00" * 8 + b"\x02", "UnknownSchemaFingerprint"),
])
def test_bad_input_is_refused_with_a_named_reason(value: bytes | None, error_class: str) -> None:
    with pytest.raises(StageError) as caught:
        decode_raw_article(value)
    assert caught.value.error_class == error_class
    assert str(caught.value)


def test_oversized_message_is_refused() -> None:
    with pytest.raises(StageError) as caught:
        decode_raw_article(b'{"url": "u", "body": "' + b"x" * 200 + b'"}', max_bytes=100)
    assert caught.value.error_class == "MessageTooLarge"


def test_parse_transform_splits_good_and_bad_and_keeps_the_payload() -> None:
    good = message(b'{"url": "https://a.b/1", "body": "fine"}')
    bad = message(b"{broken")
    with TestPipeline() as pipeline:
        outputs = pipeline | beam.Create([good, bad]) | ParseArticles()
        assert_that(outputs[ARTICLES] | "Urls" >> beam.Map(lambda a: a.url),
                    equal_to(["https://a.b/1"]), label="articles")
        assert_that(outputs[DEAD_LETTER] | "Letters" >> beam.Map(
            lambda d: (d.stage, d.error_class, d.payload, d.provenance.offset)),
            equal_to([("parse", "InvalidJson", b"{broken", 7)]), label="dead")
