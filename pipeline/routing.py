"""The routing stage: every article and dead letter becomes ``RoutedRecord``s.

Which routes a record takes is the record kernel's rule (``schemas.routes``); this stage
applies it in Beam and counts what the run summary reports.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from schemas.failures import Stage
from schemas.models import Article, DeadLetter
from schemas.routes import DEAD_LETTER_ROUTE, RoutedRecord, route_article, route_dead_letter

__all__ = ["RouteArticles"]


class _RouteArticleFn(beam.DoFn):
    """Routes an article and counts what the run summary reports."""

    def process(self, article: Article) -> Iterator[RoutedRecord]:
        beam.metrics.Metrics.counter("output", "boilerplate_chars_removed").inc(
            article.boilerplate.chars_removed)
        beam.metrics.Metrics.counter("output", "boilerplate_lines_removed").inc(
            article.boilerplate.lines_removed)
        for record in route_article(article):
            beam.metrics.Metrics.counter(Stage.ROUTE.value, record.route).inc()
            yield record


class _RouteDeadLetterFn(beam.DoFn):
    def process(self, letter: DeadLetter) -> Iterator[RoutedRecord]:
        beam.metrics.Metrics.counter(Stage.ROUTE.value, DEAD_LETTER_ROUTE).inc()
        yield route_dead_letter(letter)


class RouteArticles(beam.PTransform):
    """``{"articles": ..., "<stage>": dead letters, ...}`` -> the same keys, as ``RoutedRecord``s.

    Not merged into one PCollection: on Beam's FnApiRunner a Flatten is a stage boundary
    that an unbounded read never lets the stage after it cross, so a streaming run would
    write nothing. ``pipeline.graph.DeliverRoutes`` merges them only for bounded inputs.
    """

    def expand(self, inputs: dict[str, beam.PCollection]) -> dict[str, beam.PCollection]:
        routed = {}
        for name, pcoll in inputs.items():
            if name == "articles":
                routed[name] = pcoll | "RouteEachArticle" >> beam.ParDo(_RouteArticleFn())
            else:
                routed[name] = pcoll | f"RouteDeadLetters{name}" >> beam.ParDo(_RouteDeadLetterFn())
        return routed
