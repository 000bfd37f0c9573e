"""The Avro files a run writes, read back by route, and the source offsets they hold."""

from __future__ import annotations

import json
from pathlib import Path

from connectors.avro_files import list_avro_files, read_avro_records

__all__ = ["VOLATILE", "comparable_records", "decisions_by_route", "read_routes",
           "source_positions"]

VOLATILE = ("processed_at", "failed_at")  # wall-clock stamps: differ between any two runs

#: routes an article is in alone; only topic-tag routes share one article
_SOLE_ROUTES = frozenset({"untagged", "duplicates"})


def read_routes(out: Path) -> dict[str, list[dict]]:
    """Every record under ``out``, by route folder."""
    routes: dict[str, list[dict]] = {}
    for path in list_avro_files(str(out)):
        route = Path(path).parent.name
        routes.setdefault(route, []).extend(read_avro_records(path))
    return routes


def comparable_records(out: Path) -> dict[str, list[dict]]:
    """Route -> records without wall-clock fields, sorted by id and provenance: equal for
    two runs that decided alike."""
    return {route: sorted(({k: v for k, v in r.items() if k not in VOLATILE} for r in records),
                          key=lambda r: (r["id"], json.dumps(r["provenance"], default=str)))
            for route, records in read_routes(out).items()}


def decisions_by_route(out: Path) -> dict[str, dict]:
    """Per route (dead letters by source offset): article id -> the id it duplicates."""
    table: dict[str, dict] = {}
    for route, records in read_routes(out).items():
        if route == "dead_letter":
            table[route] = {(r["provenance"]["partition"], r["provenance"]["offset"]): None
                            for r in records}
        else:
            table[route] = {r["id"]: r["duplicate_of"] for r in records}
    return table


def source_positions(routes: dict[str, list[dict]]) -> set[tuple[int, int]]:
    """The ``(partition, offset)`` of every record of ``routes`` (route -> records), as a
    set: an article with several tags is in several tag routes. Checked on the way: an
    offset is dead letters or one article, never both; that article is once in each of
    its routes, and in more than one only when they are all tag routes."""
    letters: set[tuple[int, int]] = set()
    articles: dict[tuple[int, int], list[tuple[str, str]]] = {}
    for route, records in routes.items():
        for record in records:
            position = (record["provenance"]["partition"], record["provenance"]["offset"])
            if route == "dead_letter":
                letters.add(position)
            else:
                articles.setdefault(position, []).append((route, record["id"]))
    shared = sorted(letters & articles.keys())
    assert not shared, f"dead letters and articles share offsets {shared[:5]}"
    for position, found in articles.items():
        places = [route for route, _ in found]
        assert len({ident for _, ident in found}) == 1, f"{position} is several articles: {found}"
        assert len(set(places)) == len(places), f"{position} twice in one route: {found}"
        assert len(places) == 1 or not _SOLE_ROUTES & set(places), f"{position} in {places}"
    return letters | articles.keys()
