"""Delivery: routed records -> progress reports -> every sink chosen on the command line.

No Flatten on an unbounded input: on Beam's FnApiRunner (our DirectRunner) a Flatten is a
stage boundary, and a stage after it never runs while an unbounded read goes on. Routed
articles and each stage's dead letters therefore travel as separate PCollections to the
sinks; bounded runs merge them, so deterministic file shards see every record of a route.
"""

from __future__ import annotations

import apache_beam as beam

from connectors.sinks import SinkSettings, WriteRoutes
from newsbeam.progress import ReportProgress

__all__ = ["DeliverRoutes"]


class DeliverRoutes(beam.PTransform):
    """Routed records (one PCollection or ``ProcessArticles``' dict) -> progress + sinks.

    ``settings`` come from ``newsbeam.options.sink_settings``; returns nothing (everything
    is written).
    """

    def __init__(self, settings: SinkSettings, *, progress_interval: float = 5.0,
                 metrics_port: int | None = None) -> None:
        super().__init__()
        self._settings = settings
        self._progress_interval = progress_interval
        self._metrics_port = metrics_port

    def expand(self, routed: beam.PCollection | dict[str, beam.PCollection]) -> None:
        streams = routed if isinstance(routed, dict) else {"routes": routed}
        if len(streams) > 1 and all(s.is_bounded for s in streams.values()):
            streams = {"routes": tuple(streams.values()) | "MergeRoutes" >> beam.Flatten()}
        for name, stream in streams.items():
            suffix = "" if name == "routes" else name
            reported = stream | f"ReportProgress{suffix}" >> ReportProgress(
                self._progress_interval, self._metrics_port)
            _ = reported | f"WriteRoutes{suffix}" >> WriteRoutes(self._settings)
