"""Parse and validate: raw message bytes -> ``Article`` drafts, or a dead letter with the reason.

Accepts a UTF-8 JSON object (``{id?, url, title?, body?|html?, source?, language?,
published_at?}``) or an Avro ``raw_article`` record in single-object encoding. The id is the
producer's when given, else derived from the canonical URL, so replays and reruns agree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam import pvalue
from pydantic import ValidationError

from pipeline.stage import ARTICLES, DEAD_LETTER
from schemas.encoding import UnknownSchemaFingerprint, decode_single_object, is_single_object
from schemas.failures import Stage, StageError, dead_letter
from schemas.models import Article, RawArticle, RawMessage
from schemas.urls import canonical_url

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "ParseArticles", "derive_id", "parse_message"]

DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024


def derive_id(canonical: str) -> str:
    """A stable id from the canonical URL: the same page always gets the same id."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def decode_raw_article(value: bytes | None, *, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> RawArticle:
    """Bytes -> validated ``RawArticle``; raises ``StageError`` naming what is wrong."""
    if value is None:
        raise StageError("Tombstone", "message has no value (tombstone or null value)")
    if len(value) > max_bytes:
        raise StageError("MessageTooLarge",
                         f"message is {len(value)} bytes, over the limit of {max_bytes} bytes")
    if not value.strip():
        raise StageError("EmptyMessage", "message value is empty")
    if is_single_object(value):
        try:
            _, datum = decode_single_object(value, expected="raw_article")
        except UnknownSchemaFingerprint as exc:
            raise StageError("UnknownSchemaFingerprint", str(exc)) from exc
        except (ValueError, EOFError, IndexError) as exc:
            raise StageError("InvalidAvro", f"cannot decode Avro record: {exc}") from exc
    else:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StageError("InvalidUtf8", f"message is not valid UTF-8: {exc}") from exc
        try:
            datum = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise StageError("InvalidJson", f"message is not valid JSON: {exc}") from exc
        if not isinstance(datum, dict):
            raise StageError("NotAnObject",
                             f"message is a JSON {type(datum).__name__}, expected an object")
    try:
        raw = RawArticle.model_validate(datum)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise StageError("ValidationError", f"invalid article: {problems}") from exc
    try:  # JSON may escape lone surrogates ("\\ud800"): no UTF-8 output could hold them
        raw.model_dump_json()
    except ValueError as exc:
        raise StageError("InvalidUnicode", f"article text is not valid Unicode: {exc}") from exc
    return raw


def to_article(raw: RawArticle, message: RawMessage) -> Article:
    canonical = canonical_url(raw.url)
    try:
        host = urlsplit(canonical).hostname
    except ValueError as exc:  # e.g. "http://[::1/x": later stages would split it again
        raise StageError("InvalidUrl", f"url cannot be parsed: {exc}") from exc
    return Article(
        id=raw.id or derive_id(canonical),
        url=raw.url,
        canonical_url=canonical,
        title=(raw.title or "").strip(),
        body=raw.body or "",
        html=raw.html,
        language=raw.language.lower() if raw.language else "und",
        language_confidence=1.0 if raw.language else 0.0,
        source=raw.source or host,
        published_at=raw.published_at,
        provenance=message.provenance,
    )


def parse_message(message: RawMessage, *, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Article:
    return to_article(decode_raw_article(message.value, max_bytes=max_bytes), message)


class _ParseFn(beam.DoFn):
    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._parsed = beam.metrics.Metrics.counter(Stage.PARSE.value, "articles")
        self._failed = beam.metrics.Metrics.counter(Stage.PARSE.value, "dead_letters")

    def process(self, message: RawMessage) -> Iterator[Article | pvalue.TaggedOutput]:
        try:
            article = parse_message(message, max_bytes=self._max_bytes)
        except StageError as exc:
            self._failed.inc()
            yield pvalue.TaggedOutput(
                DEAD_LETTER, dead_letter(Stage.PARSE, exc, message.value or b"", message.provenance))
            return
        self._parsed.inc()
        yield article


@beam.typehints.with_input_types(RawMessage)
@beam.typehints.with_output_types(Article)
class ParseArticles(beam.PTransform):
    """Messages -> articles (main output) and dead letters (``DEAD_LETTER``)."""

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        super().__init__()
        if max_message_bytes <= 0:
            raise ValueError("max_message_bytes must be positive")
        self._max_bytes = max_message_bytes

    def expand(self, messages: beam.PCollection) -> pvalue.DoOutputsTuple:
        return messages | beam.ParDo(_ParseFn(self._max_bytes)).with_outputs(
            DEAD_LETTER, main=ARTICLES)
