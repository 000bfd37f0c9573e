"""Routing: decide which routes each record goes to, then hand records to the sinks.

Routes: one per tag (an article with two tags goes to both), ``untagged``, ``duplicates``
(a duplicate goes there, with ``duplicate_of`` set, and nowhere else) and ``dead_letter``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import apache_beam as beam

from pipeline.models import TAGS, Article, DeadLetter

__all__ = [
    "DEAD_LETTER_ROUTE",
    "DUPLICATES_ROUTE",
    "ROUTES",
    "UNTAGGED_ROUTE",
    "RouteArticles",
    "RoutedRecord",
    "route_article",
    "route_dead_letter",
    "routes_for",
]

UNTAGGED_ROUTE = "untagged"
DUPLICATES_ROUTE = "duplicates"
DEAD_LETTER_ROUTE = "dead_letter"
ROUTES: tuple[str, ...] = (*TAGS, UNTAGGED_ROUTE, DUPLICATES_ROUTE, DEAD_LETTER_ROUTE)


class RoutedRecord(NamedTuple):
    """One record bound for one route: what every sink consumes."""

    route: str
    schema: str  # "article" or "dead_letter": the .avsc the record follows
    key: str  # article id (or dead-letter id): the Kafka message key
    record: dict[str, Any]  # the Avro datum


def routes_for(article: Article) -> list[str]:
    if article.duplicate_of is not None:
        return [DUPLICATES_ROUTE]
    tags = [tag for tag in article.tags if tag in TAGS]
    return sorted(set(tags), key=TAGS.index) or [UNTAGGED_ROUTE]


def route_article(article: Article) -> list[RoutedRecord]:
    routes = routes_for(article)
    record = article.model_copy(update={"routes": routes}).to_avro()
    return [RoutedRecord(route, "article", article.id, record) for route in routes]


def route_dead_letter(letter: DeadLetter) -> RoutedRecord:
    return RoutedRecord(DEAD_LETTER_ROUTE, "dead_letter", letter.id, letter.to_avro())


class _RouteArticleFn(beam.DoFn):
    """Routes an article and counts what the run summary reports."""

    def process(self, article: Article) -> Iterator[RoutedRecord]:
        beam.metrics.Metrics.counter("output", "boilerplate_chars_removed").inc(
            article.boilerplate.chars_removed)
        beam.metrics.Metrics.counter("output", "boilerplate_lines_removed").inc(
            article.boilerplate.lines_removed)
        for record in route_article(article):
            beam.metrics.Metrics.counter("route", record.route).inc()
            yield record


class _RouteDeadLetterFn(beam.DoFn):
    def process(self, letter: DeadLetter) -> Iterator[RoutedRecord]:
        beam.metrics.Metrics.counter("route", DEAD_LETTER_ROUTE).inc()
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
