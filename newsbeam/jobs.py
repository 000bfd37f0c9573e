"""Entry points that build and run a pipeline: streaming from Kafka, batch over files."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from connectors.article_files import ReadArticleFiles, expand_paths
from newsbeam.delivery import DeliverRoutes
from newsbeam.options import NewsbeamOptions, stage_settings
from newsbeam.runners import resolve_runner
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
        raise SystemExit("Beam's DaskRunner has no user state, which cleaning and dedup need "
                         "in run/process; use `newsbeam replay --runner DaskRunner` for "
                         "backfills on Dask")
    return beam.Pipeline(runner=runner, options=options)


def _deliver(options: NewsbeamOptions, bounded: bool | None = None) -> DeliverRoutes:
    return DeliverRoutes(options.sink_specs(), options.avro_codec,
                         progress_interval=options.progress_interval,
                         metrics_port=options.metrics_port, bounded=bounded)


def run_batch(inputs: Sequence[str], argv: Sequence[str]) -> RunSummary:
    """``newsbeam process``: the streaming stages over files, in batch."""
    options = PipelineOptions(list(argv))
    ours = options.view_as(NewsbeamOptions)
    paths = expand_paths(list(inputs))
    pipeline = _pipeline(options)
    _ = (pipeline
         | "ReadArticleFiles" >> ReadArticleFiles(paths)
         | "ProcessArticles" >> ProcessArticles(stage_settings(options), bounded=True)
         | "DeliverRoutes" >> _deliver(ours, bounded=True))
    _log.info("batch run starting", extra={"inputs": len(paths)})
    return _run(pipeline)


def build_streaming(argv: Sequence[str]) -> beam.Pipeline:
    """The streaming pipeline for ``argv``, constructed, not run (deployments submit it)."""
    from connectors.kafka.source import source_from_options

    options = PipelineOptions(list(argv))
    ours = options.view_as(NewsbeamOptions)
    pipeline = _pipeline(options)
    _ = (pipeline
         | "ReadFromKafka" >> source_from_options(options)
         | "ProcessArticles" >> ProcessArticles(stage_settings(options))
         | "DeliverRoutes" >> _deliver(ours))
    return pipeline


def run_streaming(argv: Sequence[str]) -> RunSummary:
    """``newsbeam run``: Kafka -> stages -> sinks, until stopped (or drained, if asked)."""
    return _run(build_streaming(argv))
