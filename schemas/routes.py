"""Routes: the one list of topic tags, the route names, and which routes a record takes.

Routes: one per tag (an article with two tags goes to both), ``untagged``, ``duplicates``
(a duplicate goes there, with ``duplicate_of`` set, and nowhere else) and ``dead_letter``.
A ``RoutedRecord`` is what every sink consumes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from schemas.models import Article, DeadLetter

__all__ = [
    "DEAD_LETTER_ROUTE",
    "DUPLICATES_ROUTE",
    "ROUTES",
    "TAGS",
    "UNTAGGED_ROUTE",
    "RoutedRecord",
    "route_article",
    "route_dead_letter",
    "routes_for",
]

# The topic tags, in their report order. The taxonomy (pipeline/taxonomy/tags.yaml) must
# define exactly these; its loader refuses anything else.
TAGS: tuple[str, ...] = ("energy", "semiconductors", "defense", "culture")

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
