"""One message through the stages' own DoFns, in the order of ``pipeline/graph.py``.

Runs in a child process (``pipeline.limits.TimeLimitedCall``), so a record that makes a
stage spin is stopped and reported instead of hanging the test. The DoFns are the real
ones, called with stand-ins for Beam state; routed records are Avro-encoded as the file
sink would, so an article that cannot be written shows up here too.
"""

from __future__ import annotations

import base64
import inspect
import io
import time
from typing import Any

import fastavro

import pipeline.graph
import schemas
from pipeline.clean import CleanArticles, _CleanArticlesFn, site_of
from pipeline.dedup import DedupConfig
from pipeline.dedup.streaming import DEDUP_KEY, _DeduplicateFn, fingerprint_or_none
from pipeline.language import _DetectLanguageFn
from pipeline.limits import ArticleLimits, _EnforceLimitsFn
from pipeline.parse import DEFAULT_MAX_MESSAGE_BYTES, _ParseFn
from pipeline.stage import DEAD_LETTER
from pipeline.stateful_order import InMemoryBag, InMemoryValue
from pipeline.tagging import _TagTopicsFn
from schemas.models import Article, DeadLetter, Provenance, ProvenanceKind, RawMessage
from schemas.routes import route_article, route_dead_letter

__all__ = ["LIMITS_WIRED", "run_chain"]

LIMITS_WIRED = "EnforceLimits" in inspect.getsource(pipeline.graph)


def _setup(fn: Any) -> Any:
    if hasattr(fn, "setup"):
        fn.setup()
    return fn


_PARSE = _setup(_ParseFn(DEFAULT_MAX_MESSAGE_BYTES))
_LIMITS = _setup(_EnforceLimitsFn(ArticleLimits()))
_CLEAN = _setup(_CleanArticlesFn(*CleanArticles()._args))
_LANGUAGE = _setup(_DetectLanguageFn())
_DEDUP_CONFIG = DedupConfig()
_DEDUP = _setup(_DeduplicateFn(_DEDUP_CONFIG))
_TAG = _setup(_TagTopicsFn())


def _stages(article: Article) -> list[tuple[str, Any]]:
    clean_state = InMemoryValue()
    dedup_records, dedup_meta = InMemoryBag(), InMemoryValue()
    stages: list[tuple[str, Any]] = []
    if LIMITS_WIRED:
        stages.append(("limits", lambda a: _LIMITS.process(a)))
    stages += [
        ("clean", lambda a: _CLEAN.process((site_of(a), a), learner_state=clean_state)),
        ("language", lambda a: _LANGUAGE.process(a)),
        ("dedup", lambda a: _DEDUP.process(
            (DEDUP_KEY, (a, fingerprint_or_none(a, _DEDUP_CONFIG))),
            records=dedup_records, meta=dedup_meta)),
        ("tag", lambda a: _TAG.process(a)),
    ]
    return stages


def _encode(record: Any) -> None:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schemas.parsed_schema(record.schema), record.record)


def run_chain(value_b64: str | None, key_b64: str | None, timestamp_ms: int | None,
              headers: list[list[str]], serial: int) -> dict[str, Any]:
    """The message's fate: outcome, stage, reason, routes and seconds per stage."""
    value = None if value_b64 is None else base64.b64decode(value_b64)
    key = None if key_b64 is None else base64.b64decode(key_b64)
    provenance = Provenance(
        kind=ProvenanceKind.KAFKA, topic="hostile", partition=0, offset=serial, key=key,
        headers={name: base64.b64decode(raw) for name, raw in headers},
        timestamp=None if timestamp_ms is None else timestamp_ms / 1000)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    outputs = list(_PARSE.process(RawMessage(value=value, provenance=provenance)))
    seconds["parse"] = time.perf_counter() - started
    items: list[Any] = outputs
    for name, stage in _stages(outputs[0]) if isinstance(outputs[0], Article) else []:
        started = time.perf_counter()
        items = [out for item in items for out in stage(item)]
        seconds[name] = round(time.perf_counter() - started, 3)
        if not any(isinstance(item, Article) for item in items):
            break
    result: dict[str, Any] = {"seconds": seconds, "routes": []}
    for item in items:
        letter = getattr(item, "value", None) if getattr(item, "tag", None) == DEAD_LETTER else None
        if isinstance(letter, DeadLetter):
            _encode(route_dead_letter(letter))
            result.update(outcome="dead letter", stage=letter.stage, reason=letter.error_class,
                          message=letter.error_message[:300])
        elif isinstance(item, Article):
            records = route_article(item)
            for record in records:
                _encode(record)
            result.update(outcome="processed", routes=[r.route for r in records])
    return result
