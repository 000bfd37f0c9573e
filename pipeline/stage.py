"""The shared stage base: set up once, guard each record, count, one labelled ``ParDo``.

Every stage is a pure core (no Beam) plus a thin ``StageFn`` that calls it. ``StageFn``
builds heavy objects once per worker (``create`` in ``setup()``, never at import), turns an
exception raised by the core into a ``DeadLetter`` on the ``DEAD_LETTER`` output (the
record, its provenance and the reason: never dropped, never swallowed), and counts dead
letters under the stage's metric namespace. ``apply_stage`` applies a DoFn under the
stage's stable step label with the two outputs ``(ARTICLES, DEAD_LETTER)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

import apache_beam as beam
from apache_beam import pvalue

from schemas.failures import Stage, dead_letter_for_article
from schemas.models import Article

__all__ = ["ARTICLES", "DEAD_LETTER", "StageFn", "apply_stage", "guard_stage"]

_log = logging.getLogger(__name__)

ARTICLES = "articles"
DEAD_LETTER = "dead_letter"

T = TypeVar("T")


def guard_stage(stage: Stage, article: Article,
                compute: Callable[[Article], T]) -> Iterator[T | pvalue.TaggedOutput]:
    """Yield ``compute(article)``, or the article's dead letter if the stage fails on it."""
    try:
        result = compute(article)
    except Exception as exc:  # noqa: BLE001 - routed to the dead-letter output, not swallowed
        beam.metrics.Metrics.counter(stage.value, "dead_letters").inc()
        _log.warning("stage failed on record", extra={
            "stage": stage.value, "error_class": type(exc).__name__,
            "provenance": article.provenance.describe(), "article_id": article.id})
        yield pvalue.TaggedOutput(DEAD_LETTER, dead_letter_for_article(stage, exc, article))
        return
    yield result


class StageFn(beam.DoFn):
    """A stateless stage's DoFn: ``create`` once per worker, ``apply`` per article, guarded."""

    stage: ClassVar[Stage]

    def create(self) -> None:
        """Build the stage's heavy objects (models, automata); runs once per DoFn instance."""

    def apply(self, article: Article) -> Article:
        raise NotImplementedError

    def setup(self) -> None:
        self.create()

    def process(self, article: Article) -> Iterator[Article | pvalue.TaggedOutput]:
        yield from guard_stage(self.stage, article, self.apply)


def apply_stage(pcoll: beam.PCollection, fn: beam.DoFn, label: str) -> Any:
    """``pcoll | label >> ParDo(fn)`` with the stage outputs ``ARTICLES`` and ``DEAD_LETTER``."""
    return pcoll | label >> beam.ParDo(fn).with_outputs(DEAD_LETTER, main=ARTICLES)
