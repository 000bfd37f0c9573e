"""The pipeline graph: the same stages for streaming (Kafka) and batch (files, replays).

``ProcessArticles`` is the whole stage chain, built once and reused by every entry point,
so a replay runs exactly the code a streaming run ran. Step labels equal the transform
names and never change: Dataflow and Flink match steps by name when a job is updated.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from connectors.route_sinks import WriteRoutes
from pipeline.clean import CleanArticles
from pipeline.dead_letters import ARTICLES, DEAD_LETTER
from pipeline.dedup import DeduplicateArticles
from pipeline.language import DetectLanguage
from pipeline.options import NewsbeamOptions
from pipeline.parse import ParseArticles
from pipeline.routing import RouteArticles
from pipeline.tagging import TagTopics

__all__ = ["ProcessArticles", "WriteRoutes", "resolve_runner"]


class ProcessArticles(beam.PTransform):
    """``RawMessage``s -> ``RoutedRecord``s: parse, clean, detect language, dedup, tag, route."""

    def __init__(self, options: NewsbeamOptions) -> None:
        super().__init__()
        self._options = options

    def expand(self, messages: beam.PCollection) -> beam.PCollection:
        opts = self._options
        parsed = messages | "ParseArticles" >> ParseArticles(opts.max_message_bytes)
        cleaned = parsed[ARTICLES] | "CleanArticles" >> CleanArticles()
        detected = cleaned[ARTICLES] | "DetectLanguage" >> DetectLanguage()
        deduplicated = detected[ARTICLES] | "DeduplicateArticles" >> DeduplicateArticles(
            ttl_seconds=opts.dedup_ttl_days * 86400)
        tagged = deduplicated[ARTICLES] | "TagTopics" >> TagTopics()
        dead_letters = (
            [stage[DEAD_LETTER] for stage in (parsed, cleaned, detected, deduplicated, tagged)]
            | "CollectDeadLetters" >> beam.Flatten())
        return (tagged[ARTICLES], dead_letters) | "RouteArticles" >> RouteArticles()


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
