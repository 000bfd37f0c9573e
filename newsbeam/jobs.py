"""Entry points that build and run a pipeline: streaming from Kafka, batch over files."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pipeline import PipelineVisitor

from connectors.article_files import ReadArticleFiles, expand_paths
from connectors.kafka.options import KafkaOptions
from newsbeam.delivery import DeliverRoutes
from newsbeam.options import NewsbeamOptions, sink_settings, stage_settings
from newsbeam.runners import resolve_runner, runner_name
from newsbeam.summary import RunSummary, summary_from_result
from pipeline.graph import ProcessArticles

__all__ = ["build_streaming", "run_batch", "run_streaming"]

_log = logging.getLogger(__name__)


def _run(pipeline: beam.Pipeline) -> RunSummary:
    result = pipeline.run()
    result.wait_until_finish()
    return summary_from_result(result)


def _pipeline(options: PipelineOptions) -> beam.Pipeline:
    runner = resolve_runner(options)
    if isinstance(runner, str) and "Dask" in runner:
        raise ValueError("Beam's DaskRunner has no user state, which cleaning and dedup need "
                         "in run/process; use `newsbeam replay --runner DaskRunner` for "
                         "backfills on Dask")
    return beam.Pipeline(runner=runner, options=options)


def _deliver(options: PipelineOptions, *, bounded: bool) -> DeliverRoutes:
    """Progress and sinks; ``bounded`` is the file layout (``connectors.avro_files``)."""
    ours = options.view_as(NewsbeamOptions)
    return DeliverRoutes(sink_settings(options, bounded=bounded),
                         progress_interval=ours.progress_interval,
                         metrics_port=ours.metrics_port)


def _streaming_files_bounded(messages: beam.PCollection, options: PipelineOptions) -> bool:
    """``run``'s file layout: per-bundle streaming files, except for a bounded Kafka read
    (``--stop now|offsets|timestamp``) that commits no offsets, which gets the
    deterministic shards of ``process``. A bounded read that commits keeps the per-bundle
    layout: it commits in bundle finalization, before a GroupByKey downstream would have
    written the files, while per-bundle files are complete inside the reading bundle."""
    return messages.is_bounded and not options.view_as(KafkaOptions).commit_offsets


def run_batch(inputs: Sequence[str], argv: Sequence[str]) -> RunSummary:
    """``newsbeam process``: the streaming stages over files, in batch."""
    options = PipelineOptions(list(argv))
    paths = expand_paths(list(inputs))
    pipeline = _pipeline(options)
    _ = (pipeline
         | "ReadArticleFiles" >> ReadArticleFiles(paths)
         | "ProcessArticles" >> ProcessArticles(stage_settings(options), bounded=True)
         | "DeliverRoutes" >> _deliver(options, bounded=True))
    _log.info("batch run starting", extra={"inputs": len(paths)})
    return _run(pipeline)


def build_streaming(argv: Sequence[str]) -> beam.Pipeline:
    """The streaming pipeline for ``argv``, constructed, not run (deployments submit it)."""
    from connectors.kafka.source import source_from_options

    options = PipelineOptions(list(argv))
    pipeline = _pipeline(options)
    source = source_from_options(options)
    messages = pipeline | "ReadFromKafka" >> source
    _ = (messages
         | "ProcessArticles" >> ProcessArticles(stage_settings(options))
         | "DeliverRoutes" >> _deliver(
             options, bounded=_streaming_files_bounded(messages, options)))
    consumed = getattr(source, "consumed", None)
    if consumed is not None and runner_name(options) == "FnApiRunner":
        raise ValueError("--commit-after sinks needs a runner that runs a Flatten of "
                         "unbounded inputs (Prism, Flink, Dataflow); Beam's in-process "
                         "runner never would, so nothing would be committed: leave "
                         "--commit-after at auto (read) there")
    if consumed is not None:  # --commit-after sinks: commit once every sink wrote
        from connectors.kafka.commits import CommitWhenWritten

        config = options.view_as(KafkaOptions).source_config()
        _ = (consumed, *_leaves(pipeline, besides=consumed)) | "CommitOffsets" >> \
            CommitWhenWritten(config)
    return pipeline


def _leaves(pipeline: beam.Pipeline, besides: beam.PCollection) -> list[beam.PCollection]:
    """Every PCollection of ``pipeline`` that no step reads (the sinks' last outputs),
    other than ``besides``."""
    produced: list[beam.PCollection] = []
    read: set[int] = set()

    class _Visitor(PipelineVisitor):
        def visit_transform(self, node) -> None:
            read.update(id(p) for p in node.inputs)
            produced.extend(p for p in node.outputs.values() if isinstance(p, beam.PCollection))

    pipeline.visit(_Visitor())
    return [p for p in produced if id(p) not in read and p is not besides]


def run_streaming(argv: Sequence[str]) -> RunSummary:
    """``newsbeam run``: Kafka -> stages -> sinks, until stopped (or drained, if asked)."""
    return _run(build_streaming(argv))
