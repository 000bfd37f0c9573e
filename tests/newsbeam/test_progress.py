from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline

from newsbeam.broker import free_port
from newsbeam.progress import ProgressTracker, ReportProgress
from schemas.routes import RoutedRecord


class FakeClock:
    """A manual clock so rates are exact (time is an input here, not a measurement)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_line_reports_rate_lag_and_routes() -> None:
    clock = FakeClock()
    tracker = ProgressTracker(interval_seconds=5, clock=clock)
    event = datetime.now(UTC) - timedelta(seconds=30)
    for _ in range(20):
        tracker.observe("energy", event)
    tracker.observe("dead_letter", None)
    assert not tracker.due()
    clock.now = 10.0
    assert tracker.due()
    line = tracker.line()
    assert "21 records" in line and "2.1 rec/s" in line
    assert "energy=20" in line and "dead_letter=1" in line
    assert 29 <= tracker.lag_seconds() <= 40
    clock.now = 20.0
    assert "0.0 rec/s" in tracker.line()


def test_prometheus_endpoint_serves_route_counts() -> None:
    port = free_port()
    record = RoutedRecord("culture", "article", "id-1", {"provenance": {"timestamp": None}})
    with TestPipeline() as pipeline:
        _ = pipeline | beam.Create([record, record]) | ReportProgress(5.0, metrics_port=port)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'newsbeam_records_total{route="culture"} 2.0' in body
