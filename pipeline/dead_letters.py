"""The dead-letter path: every failure becomes a ``DeadLetter`` value, never a lost record.

Each stage's DoFn yields its results through ``guard_stage``, which turns an exception
raised by the stage's pure core into a ``DeadLetter`` on the ``DEAD_LETTER`` tagged output,
keeping the record (as JSON) and its provenance. The job keeps running; the reason is kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import apache_beam as beam
from apache_beam import pvalue

from pipeline.models import Article, DeadLetter, Provenance

__all__ = [
    "ARTICLES",
    "DEAD_LETTER",
    "StageError",
    "dead_letter",
    "dead_letter_for_article",
    "guard_stage",
]

_log = logging.getLogger(__name__)

ARTICLES = "articles"
DEAD_LETTER = "dead_letter"

T = TypeVar("T")


class StageError(Exception):
    """An expected, classified failure: ``error_class`` names it in the dead letter."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


def dead_letter(stage: str, exc: BaseException, payload: bytes,
                provenance: Provenance) -> DeadLetter:
    error_class = exc.error_class if isinstance(exc, StageError) else type(exc).__name__
    message = str(exc) or error_class
    identity = f"{stage}|{provenance.model_dump_json(exclude={'key', 'headers'})}".encode()  # bytes may be non-UTF-8
    return DeadLetter(
        id=hashlib.sha256(identity).hexdigest()[:32],
        stage=stage,
        error_class=error_class,
        error_message=message[:2000],
        payload=payload,
        provenance=provenance,
    )


def dead_letter_for_article(stage: str, exc: BaseException, article: Article) -> DeadLetter:
    payload = json.dumps(_article_payload(article), ensure_ascii=False, default=str).encode(errors="backslashreplace")  # lone surrogates
    return dead_letter(stage, exc, payload, article.provenance)


def _article_payload(article: Article) -> dict[str, Any]:
    """The record as a RawArticle-shaped JSON object, so it can be fixed and re-published."""
    payload: dict[str, Any] = {
        "id": article.id, "url": article.url, "title": article.title or None,
        "source": article.source, "language": article.language if article.language != "und" else None,
        "published_at": article.published_at.isoformat() if article.published_at else None,
    }
    if article.html is not None:
        payload["html"] = article.html
    if article.body:
        payload["body"] = article.body
    return payload


def guard_stage(stage: str, article: Article,
                compute: Callable[[Article], T]) -> Iterator[T | pvalue.TaggedOutput]:
    """Yield ``compute(article)``, or the article's dead letter if the stage fails on it."""
    try:
        result = compute(article)
    except Exception as exc:  # noqa: BLE001 - routed to the dead-letter output, not swallowed
        beam.metrics.Metrics.counter(stage, "dead_letters").inc()
        _log.warning("stage failed on record", extra={
            "stage": stage, "error_class": type(exc).__name__,
            "provenance": article.provenance.describe(), "article_id": article.id})
        yield pvalue.TaggedOutput(DEAD_LETTER, dead_letter_for_article(stage, exc, article))
        return
    yield result
