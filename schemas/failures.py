"""Failures as values: every record a stage cannot handle becomes a ``DeadLetter``.

``Stage`` names where a failure happened. Its value is what ``DeadLetter.stage`` holds
(and ``schemas/dead_letter.avsc`` documents exactly these values); its ``label`` is the
Beam step label of the stage, which never changes (Dataflow and Flink match steps by
name when a streaming job is updated). A ``StageError`` is an expected, classified
failure; anything else a stage raises is kept with its exception class as the reason.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from schemas.models import Article, DeadLetter, Provenance

__all__ = ["Stage", "StageError", "dead_letter", "dead_letter_for_article"]


class Stage(StrEnum):
    """Where a record failed: ``DeadLetter.stage``, metric namespaces and step labels."""

    PARSE = "parse"
    LIMITS = "limits"
    CLEAN = "clean"
    LANGUAGE = "language"
    DEDUP = "dedup"
    TAG = "tag"
    ROUTE = "route"
    SINK = "sink"

    @property
    def label(self) -> str:
        """The stage's Beam step label (stable across releases)."""
        return _LABELS[self]


_LABELS = {
    Stage.PARSE: "ParseArticles",
    Stage.LIMITS: "EnforceLimits",
    Stage.CLEAN: "CleanArticles",
    Stage.LANGUAGE: "DetectLanguage",
    Stage.DEDUP: "DeduplicateArticles",
    Stage.TAG: "TagTopics",
    Stage.ROUTE: "RouteArticles",
    Stage.SINK: "WriteRoutes",
}


class StageError(Exception):
    """An expected, classified failure: ``error_class`` names it in the dead letter."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


def dead_letter(stage: Stage, exc: BaseException, payload: bytes,
                provenance: Provenance) -> DeadLetter:
    """The dead letter of ``payload`` that failed in ``stage`` with ``exc``."""
    stage = Stage(stage)
    error_class = exc.error_class if isinstance(exc, StageError) else type(exc).__name__
    message = str(exc) or error_class
    identity = f"{stage.value}|{provenance.model_dump_json(exclude={'key', 'headers'})}".encode()  # bytes may be non-UTF-8
    return DeadLetter(
        id=hashlib.sha256(identity).hexdigest()[:32],
        stage=stage.value,
        error_class=error_class,
        error_message=message[:2000],
        payload=payload,
        provenance=provenance,
    )


def dead_letter_for_article(stage: Stage, exc: BaseException, article: Article) -> DeadLetter:
    """The dead letter of an article that failed after parsing: the record as JSON."""
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
