from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.avro_files import list_avro_files, read_avro_records
from newsbeam.broker import EmbeddedBroker

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


def read_routes(out: Path) -> dict[str, list[dict]]:
    """Every record under ``out``, by route folder."""
    routes: dict[str, list[dict]] = {}
    for path in list_avro_files(str(out)):
        route = Path(path).parent.name
        routes.setdefault(route, []).extend(read_avro_records(path))
    return routes
