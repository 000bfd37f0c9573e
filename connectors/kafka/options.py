"""Command-line flags of the Kafka source and sink, as a Beam ``PipelineOptions`` subclass.

Parsed together with ``--runner``/``--streaming`` and forwarded unchanged to Dataflow or
Flink. The connection flags (``--bootstrap-servers``, ``--kafka-property``,
``--kafka-property-file``) are declared once, by ``add_connection_arguments``, which
``KafkaOptions`` and every command that talks to Kafka (produce, inspect, process with a
Kafka sink) use, and read back by ``connection_settings``.

Secrets are never option values: ``--kafka-property sasl.password=env:VAR`` (or
``=file:PATH``, or a ``--kafka-property-file``) names where the secret is; the configs
keep that reference and the worker reads the secret when it creates its Kafka clients.
"""

from __future__ import annotations

import argparse
from typing import Any, Literal

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from kafka import KafkaConsumer, KafkaProducer

from connectors.kafka.positions import TimestampPolicy, parse_start, parse_stop
from connectors.kafka.settings import KafkaClientSettings, KafkaSinkConfig, KafkaSourceConfig

__all__ = ["KafkaOptions", "add_connection_arguments", "add_sink_arguments",
           "connection_settings"]


def _properties(items: list[str] | None) -> dict[str, str]:
    props: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad --kafka-property {item!r}: expected KEY=VALUE")
        props[key.strip()] = value.strip()
    return props


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare how a command reaches Kafka: brokers and client properties (TLS, SASL)."""
    group = parser.add_argument_group("Kafka connection")
    group.add_argument("--bootstrap-servers", dest="bootstrap_servers", default=None,
                       help="Kafka brokers, host:port[,host:port...] (default: "
                            "$NEWSBEAM_KAFKA_BOOTSTRAP_SERVERS, else 127.0.0.1:9092).")
    group.add_argument("--kafka-property", dest="kafka_properties", action="append",
                       default=None, metavar="KEY=VALUE",
                       help="Client property KEY=VALUE in Kafka's dotted names "
                            "(security.protocol=SASL_SSL, client.id=..., fetch.max.bytes=...); "
                            "secrets only as KEY=env:VAR or KEY=file:PATH; repeat for several.")
    group.add_argument("--kafka-property-file", dest="kafka_property_file", default=None,
                       metavar="FILE",
                       help="Java-style .properties file of client properties "
                            "(may hold secrets; flags override it).")


def add_sink_arguments(parser: argparse.ArgumentParser) -> None:
    """The connection flags plus ``--kafka-io``: all a ``--sink kafka:...`` needs."""
    add_connection_arguments(parser)
    parser.add_argument("--kafka-io", dest="kafka_io", default="native",
                        choices=["native", "xlang"],
                        help="native: kafka-python source/sink; xlang: Beam's Java "
                             "KafkaIO through the expansion service (needs Java).")


# Beam runner names that run on Prism (Beam's DirectRunner hands our graphs to Prism).
_PRISM_RUNNERS = ("PrismRunner", "DirectRunner", "SwitchingDirectRunner")
_CLIENT_CONFIGS = {"consumer": (KafkaConsumer.DEFAULT_CONFIG, KafkaProducer.DEFAULT_CONFIG),
                   "producer": (KafkaProducer.DEFAULT_CONFIG, KafkaConsumer.DEFAULT_CONFIG)}


def connection_settings(flags: Any, role: Literal["consumer", "producer"],
                        ) -> KafkaClientSettings:
    """The ``KafkaClientSettings`` of parsed connection flags (an argparse namespace or
    ``KafkaOptions``), validated for a ``role`` client; properties only the other kind of
    client knows are skipped, so one property list serves every command."""
    known, other = _CLIENT_CONFIGS[role]
    return KafkaClientSettings.from_properties(
        flags.bootstrap_servers or KafkaClientSettings().bootstrap_servers,
        _properties(flags.kafka_properties), known=known,
        file_path=flags.kafka_property_file, other_client=other)


class KafkaOptions(PipelineOptions):
    """Flags of the Kafka source (``ReadFromKafka``) and sink (``WriteToKafka``)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        add_sink_arguments(parser)
        parser.add_argument("--topic", dest="topics", action="append", default=None,
                            help="Topic to read; repeat for several.")
        parser.add_argument("--topic-pattern", dest="topic_pattern", default=None,
                            help="Regular expression (full match) of topics to read; new "
                                 "matching topics are picked up while running.")
        parser.add_argument("--group-id", dest="group_id", default="newsbeam",
                            help="Consumer group whose committed offsets are the default "
                                 "start and receive the commits.")
        parser.add_argument("--start", dest="start", default="committed",
                            help="committed (default; earliest when the group has none) | "
                                 "earliest | latest | timestamp:ISO-8601 | "
                                 "offsets:topic:partition=offset,...")
        parser.add_argument("--stop", dest="stop", default="never",
                            help="never (stream) | drained[:SECONDS] | now | "
                                 "timestamp:ISO-8601 | offsets:topic:partition=offset,...")
        parser.add_argument("--timestamp-policy", dest="timestamp_policy",
                            default=TimestampPolicy.CREATE_TIME.value,
                            choices=[p.value for p in TimestampPolicy],
                            help="Event time of a record.")
        parser.add_argument("--max-delay-seconds", dest="max_delay_seconds", type=float,
                            default=0.0,
                            help="Watermark lag behind the newest record time (out-of-order "
                                 "records within this delay are on time).")
        parser.add_argument("--no-commit-offsets", dest="commit_offsets",
                            action="store_false", default=True,
                            help="Do not commit offsets to the consumer group.")
        parser.add_argument("--discovery-interval-seconds", dest="discovery_interval_seconds",
                            type=float, default=30.0,
                            help="How often new partitions/topics are looked for (0: never).")
        parser.add_argument("--commit-after", dest="commit_after", default="auto",
                            choices=["auto", "read", "sinks"],
                            help="When offsets are committed: in the reading bundle's "
                                 "finalization (read), or once the sinks have written every "
                                 "record up to them, by the watermark (sinks). auto "
                                 "(default): sinks on Prism (PrismRunner, DirectRunner), which "
                                 "holds in-flight records in memory only; read elsewhere: the "
                                 "in-process runner fuses the read with the writes, Flink "
                                 "finalizes after a checkpoint holds the outputs, Dataflow "
                                 "after it persisted them.")
        parser.add_argument("--kafka-readers", dest="kafka_readers", default="auto",
                            choices=["auto", "per-partition", "one"],
                            help="Streaming: one element of the reading SDF per partition "
                                 "(runners split and scale them) or one for all partitions "
                                 "(its watermark is the minimum over them). auto (default): "
                                 "one on Prism (--runner PrismRunner or DirectRunner), whose "
                                 "stage watermark follows the last reading bundle only; "
                                 "per-partition elsewhere.")
        parser.add_argument("--bundle-seconds", dest="bundle_seconds", type=float, default=1.0,
                            help="How long one bundle reads each partition before its outputs "
                                 "are written and its offsets committed: lower means lower "
                                 "latency and more, smaller files (default: 1.0).")

    def source_config(self) -> KafkaSourceConfig:
        """The validated source config (raises ``ValueError`` saying what to fix)."""
        return KafkaSourceConfig(
            client=connection_settings(self, "consumer"),
            topics=tuple(self.topics or ()),
            topic_pattern=self.topic_pattern,
            group_id=self.group_id,
            start=parse_start(self.start),
            stop=parse_stop(self.stop),
            timestamp_policy=TimestampPolicy(self.timestamp_policy),
            max_delay_seconds=self.max_delay_seconds,
            commit_offsets=self.commit_offsets,
            discovery_interval_seconds=self.discovery_interval_seconds,
            one_reader=self._one_reader(),
            commit_after=self._commit_after(),
            bundle_seconds=self.bundle_seconds,
        )

    def _runner(self) -> str:
        runner = self.view_as(StandardOptions).runner or ""
        return runner.rsplit(".", 1)[-1] or "FnApiRunner"

    def _commit_after(self) -> str:
        if self.commit_after != "auto":
            return self.commit_after
        return "sinks" if self._runner() in _PRISM_RUNNERS else "read"

    def _one_reader(self) -> bool:
        if self.kafka_readers != "auto":
            return self.kafka_readers == "one"
        return self._runner() in _PRISM_RUNNERS

    def sink_config(self) -> KafkaSinkConfig:
        return KafkaSinkConfig(client=connection_settings(self, "producer"))
