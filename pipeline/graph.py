"""The pipeline graph: the same stages for streaming (Kafka) and batch (files, replays).

``ProcessArticles`` is the whole stage chain, built once and reused by every entry point,
so a replay runs exactly the code a streaming run ran; ``DeliverRoutes`` reports progress
and writes every route to every sink. Step labels equal the transform names and never
change: Dataflow and Flink match steps by name when a job is updated.

No Flatten on an unbounded input: on Beam's FnApiRunner (our DirectRunner) a Flatten is a
stage boundary, and a stage after it never runs while an unbounded read goes on. Routed
articles and each stage's dead letters therefore travel as separate PCollections to the
sinks; bounded runs merge them, so deterministic file shards see every record of a route.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from connectors.route_sinks import WriteRoutes
from pipeline.clean import CleanArticles
from pipeline.dedup import DeduplicateArticles
from pipeline.dedup_bounded import DeduplicateBounded
from pipeline.language import DetectLanguage
from pipeline.limits import EnforceLimits, limits_from_options
from pipeline.options import NewsbeamOptions, SinkSpec
from pipeline.parse import ParseArticles
from pipeline.progress import ReportProgress
from pipeline.routing import RouteArticles
from pipeline.stage import ARTICLES, DEAD_LETTER
from pipeline.tagging import TagTopics

__all__ = ["DeliverRoutes", "ProcessArticles", "resolve_runner"]


class ProcessArticles(beam.PTransform):
    """``RawMessage``s -> routed records: ``{"articles": ..., "<Stage>": dead letters}``.

    parse -> enforce limits -> clean -> detect language -> deduplicate -> tag -> route.
    ``bounded``: a run over a fixed input (files, replays), where deduplication is split
    by story across workers (``DeduplicateBounded``) with the same decisions as the
    streaming step would make over the input in replay order.
    """

    def __init__(self, options: NewsbeamOptions, *, bounded: bool = False) -> None:
        super().__init__()
        self._options = options
        self._bounded = bounded

    def expand(self, messages: beam.PCollection) -> dict[str, beam.PCollection]:
        opts = self._options
        parsed = messages | "ParseArticles" >> ParseArticles(opts.max_message_bytes)
        limited = parsed[ARTICLES] | "EnforceLimits" >> EnforceLimits(limits_from_options(opts))
        cleaned = limited[ARTICLES] | "CleanArticles" >> CleanArticles()
        detected = cleaned[ARTICLES] | "DetectLanguage" >> DetectLanguage()
        dedup = DeduplicateArticles.from_options(opts, ttl_seconds=opts.dedup_ttl_days * 86400)
        if self._bounded:
            dedup = DeduplicateBounded(dedup.config)
        deduplicated = detected[ARTICLES] | "DeduplicateArticles" >> dedup
        tagged = deduplicated[ARTICLES] | "TagTopics" >> TagTopics()
        stages = {"ParseArticles": parsed, "EnforceLimits": limited, "CleanArticles": cleaned,
                  "DetectLanguage": detected, "DeduplicateArticles": deduplicated,
                  "TagTopics": tagged}
        routes = {"articles": tagged[ARTICLES]}
        routes.update({name: outputs[DEAD_LETTER] for name, outputs in stages.items()})
        return routes | "RouteArticles" >> RouteArticles()


class DeliverRoutes(beam.PTransform):
    """Routed records (one PCollection or ``ProcessArticles``' dict) -> progress + sinks."""

    def __init__(self, sinks: list[SinkSpec], avro_codec: str = "deflate", *,
                 progress_interval: float = 5.0, metrics_port: int | None = None,
                 bounded: bool | None = None) -> None:
        super().__init__()
        self._sinks = sinks
        self._avro_codec = avro_codec
        self._progress_interval = progress_interval
        self._metrics_port = metrics_port
        self._bounded = bounded

    def expand(self, routed: beam.PCollection | dict[str, beam.PCollection]) -> dict[str, Any]:
        streams = routed if isinstance(routed, dict) else {"routes": routed}
        if len(streams) > 1 and all(s.is_bounded for s in streams.values()):
            streams = {"routes": tuple(streams.values()) | "MergeRoutes" >> beam.Flatten()}
        outputs: dict[str, Any] = {}
        for name, stream in streams.items():
            suffix = "" if name == "routes" else name
            reported = stream | f"ReportProgress{suffix}" >> ReportProgress(
                self._progress_interval, self._metrics_port)
            written = reported | f"WriteRoutes{suffix}" >> WriteRoutes(
                self._sinks, self._avro_codec, bounded=self._bounded)
            outputs.update({f"{name}.{key}": value for key, value in written.items()})
        return outputs


def resolve_runner(options: PipelineOptions) -> Any:
    """``DirectRunner`` (the default) means Beam's in-process FnApiRunner.

    Beam's Python DirectRunner first tries the Prism runner (a binary fetched at run time)
    and its streaming mode cannot run splittable DoFns; the FnApiRunner runs our
    self-checkpointing Kafka source, state and bundle finalization in-process (and on
    several processes with ``--direct_num_workers N --direct_running_mode multi_processing``).
    """
    name = options.view_as(StandardOptions).runner
    if name in (None, "DirectRunner", "FnApiRunner"):
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    return name
