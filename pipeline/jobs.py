"""Entry points that build and run a pipeline: streaming from Kafka, batch over files."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from connectors.article_files import ReadArticleFiles, expand_paths
from pipeline.graph import ProcessArticles, WriteRoutes, resolve_runner
from pipeline.options import NewsbeamOptions
from pipeline.progress import ReportProgress
from pipeline.summary import RunSummary, summary_from_result

__all__ = ["run_batch", "run_streaming"]

_log = logging.getLogger(__name__)


def _run(pipeline: beam.Pipeline) -> RunSummary:
    result = pipeline.run()
    result.wait_until_finish()
    return summary_from_result(result)


def run_batch(inputs: Sequence[str], argv: Sequence[str]) -> RunSummary:
    """``newsbeam process``: the streaming stages over files, in batch."""
    options = PipelineOptions(list(argv))
    ours = options.view_as(NewsbeamOptions)
    paths = expand_paths(list(inputs))
    pipeline = beam.Pipeline(runner=resolve_runner(options), options=options)
    _ = (pipeline
         | "ReadArticleFiles" >> ReadArticleFiles(paths)
         | "ProcessArticles" >> ProcessArticles(ours)
         | "ReportProgress" >> ReportProgress(ours.progress_interval, ours.metrics_port)
         | "WriteRoutes" >> WriteRoutes(ours.sink_specs(), ours.avro_codec))
    _log.info("batch run starting", extra={"inputs": len(paths)})
    return _run(pipeline)


def run_streaming(argv: Sequence[str]) -> RunSummary:
    """``newsbeam run``: Kafka -> stages -> sinks, until stopped (or drained, if asked)."""
    from connectors.kafka_options import KafkaOptions
    from connectors.kafka_source import ReadFromKafka

    options = PipelineOptions(list(argv))
    ours = options.view_as(NewsbeamOptions)
    kafka = options.view_as(KafkaOptions)
    pipeline = beam.Pipeline(runner=resolve_runner(options), options=options)
    _ = (pipeline
         | "ReadFromKafka" >> ReadFromKafka(kafka.source_config())
         | "ProcessArticles" >> ProcessArticles(ours)
         | "ReportProgress" >> ReportProgress(ours.progress_interval, ours.metrics_port)
         | "WriteRoutes" >> WriteRoutes(ours.sink_specs(), ours.avro_codec))
    return _run(pipeline)
