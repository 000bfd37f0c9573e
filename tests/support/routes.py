"""The Avro files a run writes, read back by route."""

from __future__ import annotations

from pathlib import Path

from connectors.avro_files import list_avro_files, read_avro_records

__all__ = ["read_routes"]


def read_routes(out: Path) -> dict[str, list[dict]]:
    """Every record under ``out``, by route folder."""
    routes: dict[str, list[dict]] = {}
    for path in list_avro_files(str(out)):
        route = Path(path).parent.name
        routes.setdefault(route, []).extend(read_avro_records(path))
    return routes
