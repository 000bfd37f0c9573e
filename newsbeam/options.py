"""Command-line flags of the newsbeam pipeline, as Beam ``PipelineOptions``.

Declared with ``_add_argparse_args`` so our flags, ``--runner`` and every runner's own
flags parse together and reach Dataflow/Flink unchanged. Secrets never go here: runner
consoles display options (see ``connectors.kafka.settings`` for credentials).
"""

from __future__ import annotations

import argparse
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from connectors.kafka.options import KafkaOptions
from connectors.sinks import SinkSettings, SinkSpec, parse_sink
from newsbeam.runners import PRISM_RUNNERS, runner_name
from pipeline.dedup import DedupConfig, DedupOrder
from pipeline.graph import StageSettings
from pipeline.limits import DEFAULT_LIMITS, ArticleLimits
from pipeline.parse import DEFAULT_MAX_MESSAGE_BYTES

__all__ = ["DedupOptions", "NewsbeamOptions", "limits_from_options", "sink_settings",
           "stage_settings"]


_LIMIT_FLAGS = {  # field -> (flag, help)
    "max_body_chars": ("--max-body-chars", "Articles with a longer body go to the dead-letter "
                       "route as BodyTooLong (default: %(default)s characters; 0: no limit)."),
    "max_html_chars": ("--max-html-chars", "Articles with more HTML go to the dead-letter "
                       "route as HtmlTooLarge (default: %(default)s characters; 0: no limit)."),
    "max_html_tags": ("--max-html-tags", "Pages with more '<' than this go to the dead-letter "
                      "route as TooManyTags (default: %(default)s; 0: no limit)."),
    "max_field_chars": ("--max-field-chars", "Longest url, title, id, source or language "
                        "(FieldTooLong; default: %(default)s characters; 0: no limit)."),
}


def _add_limit_arguments(group) -> None:
    """Declare the ``ArticleLimits`` flags on an argparse group (``NewsbeamOptions``)."""
    for name, (flag, help_text) in _LIMIT_FLAGS.items():
        group.add_argument(flag, dest=name, type=int, default=getattr(DEFAULT_LIMITS, name),
                           help=help_text)


def limits_from_options(options: Any) -> ArticleLimits:
    """``ArticleLimits`` from parsed options (missing flags keep the defaults)."""
    return ArticleLimits(**{name: getattr(options, name, None) if getattr(
        options, name, None) is not None else getattr(DEFAULT_LIMITS, name) for name in _LIMIT_FLAGS})


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
        _add_limit_arguments(group)
        group.add_argument(
            "--html-time-limit-seconds", dest="html_time_limit_seconds", type=float,
            default=0.0,
            help="Extract each HTML page in a child process and send a page still being "
                 "extracted after this many seconds to the dead-letter route as StageTimeout "
                 "(default: 0, off). Costs one child process (65-150 MB) per cleaning DoFn "
                 "instance and 4-9 %% of cleaning throughput on HTML articles; the size and "
                 "tag limits already bound most pathological pages. For untrusted web "
                 "input, 10 is a sensible value.")
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


class DedupOptions(PipelineOptions):
    """LSH banding and threshold flags (the TTL is ``--dedup-ttl-days`` of the job options)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("dedup")
        group.add_argument("--dedup-bands", dest="dedup_bands", type=int, default=None,
                           help="LSH bands (default 64); bands x rows <= 192 hash functions.")
        group.add_argument("--dedup-rows", dest="dedup_rows", type=int, default=None,
                           help="Rows per LSH band (default 3).")
        group.add_argument("--dedup-threshold", dest="dedup_threshold", type=float,
                           default=None,
                           help="Estimated Jaccard to the canonical for a near duplicate "
                                "(default 0.35).")
        group.add_argument("--dedup-order", dest="dedup_order", default="auto",
                           choices=["auto", *(order.value for order in DedupOrder)],
                           help="Streaming runs: decide duplicates as articles arrive "
                                "(arrival) or once the watermark passes them, in Kafka "
                                "time/partition/offset order, as a replay does (event-time). "
                                "auto (default): event-time on Prism (PrismRunner, "
                                "DirectRunner), which shuffles into the decision; arrival "
                                "elsewhere: the in-process runner keeps Kafka's order; on "
                                "Flink event-time order ran once and is not tested yet.")


def stage_settings(options: PipelineOptions) -> StageSettings:
    """The stages' typed settings from the job's flags (``NewsbeamOptions``, ``DedupOptions``)."""
    ours = options.view_as(NewsbeamOptions)
    flags = options.view_as(DedupOptions)
    overrides = {"bands": flags.dedup_bands, "rows": flags.dedup_rows,
                 "threshold": flags.dedup_threshold}
    dedup = DedupConfig(ttl_seconds=ours.dedup_ttl_days * 86400.0,
                        **{name: value for name, value in overrides.items() if value is not None})
    order = flags.dedup_order
    if order == "auto":
        on_prism = runner_name(options) in PRISM_RUNNERS
        order = DedupOrder.EVENT_TIME if on_prism else DedupOrder.ARRIVAL
    return StageSettings(max_message_bytes=ours.max_message_bytes,
                         limits=limits_from_options(ours), dedup=dedup,
                         html_time_limit_seconds=ours.html_time_limit_seconds,
                         dedup_order=DedupOrder(order))


def sink_settings(options: PipelineOptions, *, bounded: bool) -> SinkSettings:
    """The sinks' typed settings from the job's flags (``NewsbeamOptions``, ``KafkaOptions``).

    ``bounded`` is the file layout, the caller's decision (see ``newsbeam.jobs``). Raises
    ``ValueError`` saying which flag to fix.
    """
    ours = options.view_as(NewsbeamOptions)
    kafka = options.view_as(KafkaOptions)
    specs = tuple(ours.sink_specs())
    return SinkSettings(
        sinks=specs, bounded=bounded, avro_codec=ours.avro_codec,
        value_encoding=ours.value_encoding, schema_registry_url=ours.schema_registry_url,
        file_window_seconds=ours.file_window_seconds, max_file_bytes=ours.max_file_bytes,
        file_shards=ours.file_shards,
        kafka=kafka.sink_config() if any(s.kind == "kafka" for s in specs) else None,
        kafka_io=kafka.kafka_io)
