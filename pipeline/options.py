"""Command-line flags of the newsbeam pipeline, as Beam ``PipelineOptions``.

Declared with ``_add_argparse_args`` so our flags, ``--runner`` and every runner's own
flags parse together and reach Dataflow/Flink unchanged. Secrets never go here: runner
consoles display options (see ``connectors.kafka_settings`` for credentials).
"""

from __future__ import annotations

import argparse
from typing import NamedTuple

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.limits import add_limit_arguments
from pipeline.parse import DEFAULT_MAX_MESSAGE_BYTES

__all__ = ["NewsbeamOptions", "SinkSpec", "parse_sink"]


class SinkSpec(NamedTuple):
    """``avro:DIR`` or ``kafka:TOPIC_TEMPLATE`` (``{route}`` expands to the route name)."""

    kind: str
    target: str


def parse_sink(text: str) -> SinkSpec:
    kind, sep, target = text.partition(":")
    if not sep or kind not in ("avro", "kafka") or not target:
        raise argparse.ArgumentTypeError(
            f"bad --sink {text!r}: use avro:DIR (e.g. avro:./out, gs://bucket/news) or "
            "kafka:TOPIC_TEMPLATE (e.g. kafka:articles.{route})")
    if kind == "kafka" and "{route}" not in target:
        raise argparse.ArgumentTypeError(
            f"bad --sink {text!r}: the Kafka topic template needs {{route}}, e.g. articles.{{route}}")
    return SinkSpec(kind, target)


class NewsbeamOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("newsbeam")
        group.add_argument(
            "--output-dir", "--output_dir", dest="output_dir", default=None,
            help="Write Avro files per route under this directory (same as --sink avro:DIR).")
        group.add_argument(
            "--sink", dest="sinks", action="append", default=None, type=str,
            help="A sink for every route: avro:DIR or kafka:TOPIC_TEMPLATE with {route}. "
                 "Repeat for several sinks.")
        group.add_argument(
            "--avro-codec", dest="avro_codec", default="deflate",
            choices=["null", "deflate", "snappy", "zstandard", "bzip2", "xz"],
            help="Compression codec of Avro container files (default: deflate).")
        group.add_argument(
            "--max-message-bytes", dest="max_message_bytes", type=int,
            default=DEFAULT_MAX_MESSAGE_BYTES,
            help="Messages larger than this go to the dead-letter route (default: 8 MiB).")
        group.add_argument(
            "--dedup-ttl-days", dest="dedup_ttl_days", type=float, default=7.0,
            help="How long an article is remembered for deduplication (default: 7 days).")
        group.add_argument(
            "--value-encoding", dest="value_encoding", default="single-object",
            choices=["single-object", "confluent"],
            help="Kafka sink values: Avro single-object encoding with the schema fingerprint "
                 "(default, no registry) or the Confluent wire format (needs "
                 "--schema-registry-url; subject <topic>-value).")
        group.add_argument(
            "--schema-registry-url", dest="schema_registry_url", default=None,
            help="Schema Registry for --value-encoding confluent. Credentials: env "
                 "NEWSBEAM_SCHEMA_REGISTRY_USER_INFO=user:password or "
                 "NEWSBEAM_SCHEMA_REGISTRY_USER_INFO_FILE=PATH, never a flag.")
        group.add_argument(
            "--file-window-seconds", dest="file_window_seconds", type=float, default=60.0,
            help="Streaming Avro files: fixed event-time windows of this length, one file "
                 "set per route and window (default: 60).")
        group.add_argument(
            "--max-file-bytes", dest="max_file_bytes", type=int, default=64 * 1024 * 1024,
            help="Streaming Avro files roll to a new file past this size (default: 64 MiB).")
        group.add_argument(
            "--file-shards", dest="file_shards", type=int, default=4,
            help="Bounded runs (process, replays): files per route, "
                 "part-<shard>-of-<N>.avro, by article id (default: 4).")
        add_limit_arguments(group)
        group.add_argument(
            "--progress-interval", dest="progress_interval", type=float, default=5.0,
            help="Seconds between progress lines (rate, lag, per-route counts) on stderr.")
        group.add_argument(
            "--metrics-port", dest="metrics_port", type=int, default=None,
            help="Serve Prometheus metrics on 127.0.0.1:PORT (records per route, event lag).")

    def sink_specs(self) -> list[SinkSpec]:
        specs = [parse_sink(text) for text in (self.sinks or [])]
        if self.output_dir:
            specs.append(SinkSpec("avro", self.output_dir))
        if not specs:
            raise ValueError("no sink given: pass --output-dir DIR or --sink avro:DIR / "
                             "--sink kafka:articles.{route}")
        return specs
