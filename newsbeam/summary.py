"""The end-of-run summary, read from Beam metrics: what came in and where it went."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apache_beam.metrics.metric import MetricsFilter

from schemas.routes import DEAD_LETTER_ROUTE, DUPLICATES_ROUTE, ROUTES

__all__ = ["RunSummary", "summary_from_result"]


@dataclass
class RunSummary:
    records_in: int = 0
    routes: dict[str, int] = field(default_factory=dict)
    boilerplate_lines_removed: int = 0
    boilerplate_chars_removed: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.routes.get(DUPLICATES_ROUTE, 0)

    @property
    def dead_letters(self) -> int:
        return self.routes.get(DEAD_LETTER_ROUTE, 0)

    def table(self) -> str:
        rows = [("records in", self.records_in)]
        rows += [(f"route {route}", self.routes.get(route, 0)) for route in ROUTES]
        rows += [("duplicates", self.duplicates), ("dead letters", self.dead_letters),
                 ("boilerplate lines removed", self.boilerplate_lines_removed),
                 ("boilerplate chars removed", self.boilerplate_chars_removed)]
        width = max(len(name) for name, _ in rows)
        line = "-" * (width + 12)
        body = "\n".join(f"{name:<{width}}  {value:>9}" for name, value in rows)
        return f"{line}\n{body}\n{line}"


def _counter(result: Any, namespace: str, name: str) -> int:
    counters = result.metrics().query(
        MetricsFilter().with_namespace(namespace).with_name(name))["counters"]
    return int(sum(c.committed or c.attempted or 0 for c in counters))


def summary_from_result(result: Any) -> RunSummary:
    routes = {route: _counter(result, "route", route) for route in ROUTES}
    return RunSummary(
        records_in=_counter(result, "parse", "articles") + _counter(result, "parse", "dead_letters"),
        routes=routes,
        boilerplate_lines_removed=_counter(result, "output", "boilerplate_lines_removed"),
        boilerplate_chars_removed=_counter(result, "output", "boilerplate_chars_removed"),
    )
