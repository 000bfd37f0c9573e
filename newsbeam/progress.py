"""Progress while a pipeline runs: a line every few seconds, and optional Prometheus metrics.

Beam metrics are only readable when a job ends on the local runners, so the records that
reach the sinks are counted as they pass: rate, per-route counts and the event-time lag
(now minus the Kafka timestamp of the newest record seen). Each worker process reports
for itself; ``--metrics-port`` serves the same figures to Prometheus.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import apache_beam as beam

from schemas.routes import RoutedRecord

__all__ = ["ProgressTracker", "ReportProgress"]

_log = logging.getLogger(__name__)


class ProgressTracker:
    """Counts routed records and formats a progress line; no Beam, no I/O."""

    def __init__(self, interval_seconds: float = 5.0, clock=time.monotonic) -> None:
        self.interval = interval_seconds
        self._clock = clock
        self._started = clock()
        self._last_report = self._started
        self._last_total = 0
        self.routes: Counter[str] = Counter()
        self.newest_event: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.routes.values())

    def observe(self, route: str, event_time: datetime | None) -> None:
        self.routes[route] += 1
        if event_time is not None and (self.newest_event is None or event_time > self.newest_event):
            self.newest_event = event_time

    def lag_seconds(self, now: datetime | None = None) -> float | None:
        if self.newest_event is None:
            return None
        return max(0.0, ((now or datetime.now(UTC)) - self.newest_event).total_seconds())

    def due(self) -> bool:
        return self._clock() - self._last_report >= self.interval

    def line(self) -> str:
        now = self._clock()
        elapsed = max(now - self._last_report, 1e-9)
        rate = (self.total - self._last_total) / elapsed
        self._last_report, self._last_total = now, self.total
        lag = self.lag_seconds()
        lag_text = "n/a" if lag is None else f"{lag:.1f}s"
        routes = " ".join(f"{route}={count}" for route, count in sorted(self.routes.items()))
        return (f"progress: {self.total} records, {rate:.1f} rec/s, lag {lag_text}, "
                f"elapsed {now - self._started:.0f}s | {routes}")


class _PrometheusExporter:
    """One HTTP exporter per process and port (Prometheus scrapes processes, not DoFns)."""

    _lock = threading.Lock()
    _started: dict[int, tuple[object, object] | None] = {}

    @classmethod
    def metrics(cls, port: int) -> tuple[object, object] | None:
        with cls._lock:
            if port not in cls._started:
                from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

                registry = CollectorRegistry()
                records = Counter("newsbeam_records", "Records delivered to sinks, per route.",
                                  ["route"], registry=registry)
                lag = Gauge("newsbeam_event_lag_seconds",
                            "Now minus the event time of the newest record seen.", registry=registry)
                try:
                    start_http_server(port, addr="127.0.0.1", registry=registry)
                except OSError as exc:  # another worker process on this host serves it
                    _log.warning("metrics port in use; this worker exports no metrics",
                                 extra={"port": port, "error": str(exc)})
                    cls._started[port] = None
                    return None
                cls._started[port] = (records, lag)
            return cls._started[port]


class _ReportProgressFn(beam.DoFn):
    def __init__(self, interval_seconds: float, metrics_port: int | None) -> None:
        self._interval = interval_seconds
        self._port = metrics_port

    def setup(self) -> None:
        self._tracker = ProgressTracker(self._interval)
        self._prometheus = _PrometheusExporter.metrics(self._port) if self._port else None

    def process(self, record: RoutedRecord) -> Iterator[RoutedRecord]:
        event = record.record.get("provenance", {}).get("timestamp")
        self._tracker.observe(record.route, event)
        if self._prometheus is not None:
            records, lag = self._prometheus
            records.labels(record.route).inc()
            current = self._tracker.lag_seconds()
            if current is not None:
                lag.set(current)
        if self._tracker.due():
            print(self._tracker.line(), file=sys.stderr, flush=True)
        yield record


class ReportProgress(beam.PTransform):
    """Pass-through that prints a progress line every ``interval_seconds`` per worker."""

    def __init__(self, interval_seconds: float = 5.0, metrics_port: int | None = None) -> None:
        super().__init__()
        if interval_seconds <= 0:
            raise ValueError("the progress interval must be positive")
        self._interval = interval_seconds
        self._port = metrics_port

    def expand(self, routed: beam.PCollection) -> beam.PCollection:
        return routed | beam.ParDo(_ReportProgressFn(self._interval, self._port))
