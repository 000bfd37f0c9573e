"""A streaming writer for the file-sink tests: ``ReadFromKafka`` -> a light router ->
``WriteRoutes``, run in-process or in a subprocess the kill test SIGKILLs
(``python -c "from tests.support.sink_writer import streaming_writer; ..."``)."""

from __future__ import annotations

import json
import time

__all__ = ["streaming_writer"]


def _to_routed(message) -> list:
    """A light stand-in for the stages: the raw article, tagged by its number, routed."""
    from schemas.models import Article, TopicTag
    from schemas.routes import route_article

    raw = json.loads(message.value)
    number = int(raw["id"].rsplit("-", 1)[1])
    tag = ("energy", "culture", "defense", None)[number % 4]
    return route_article(Article(
        id=raw["id"], url=raw["url"], canonical_url=raw["url"], title=raw["title"],
        body=raw["body"], provenance=message.provenance,
        topics=[TopicTag(tag=tag, score=1.0, iptc_code="x")] if tag else []))


def _slowly(message, route, delay: float) -> list:
    if delay:
        time.sleep(delay)
    return route(message)


def streaming_writer(argv: list[str], delay: float = 0.0) -> None:
    """``ReadFromKafka`` (unbounded unless ``--stop`` says otherwise) -> ``WriteRoutes``.

    Run in a subprocess by the kill test; the stages in between are replaced by
    ``_to_routed`` so the test exercises the sink, not the cleaning/dedup stages.
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from connectors.kafka.options import KafkaOptions
    from connectors.kafka.source import ReadFromKafka
    from connectors.sinks import WriteRoutes
    from newsbeam.options import sink_settings
    from newsbeam.runners import resolve_runner

    options = PipelineOptions(argv)
    with beam.Pipeline(runner=resolve_runner(options), options=options) as pipeline:
        routed = (pipeline
                  | "ReadFromKafka" >> ReadFromKafka(options.view_as(KafkaOptions).source_config())
                  | "Route" >> beam.FlatMap(_slowly, _to_routed, delay)
                  | "Split" >> beam.Partition(lambda r, _: int(r.route == "untagged"), 2))
        # Two inputs, as the stages hand articles and dead letters over separately.
        # Unbounded (--stop never / drained): the per-bundle streaming layout.
        _ = tuple(routed) | "WriteRoutes" >> WriteRoutes(sink_settings(options, bounded=False))
