"""The last stage: every ``RoutedRecord`` to every sink chosen on the command line.

``--sink avro:DIR`` writes ``DIR/<route>/*.avro`` (``connectors.avro_files``);
``--sink kafka:TEMPLATE`` writes topic ``TEMPLATE`` with ``{route}`` replaced by the route,
key = article (or dead-letter) id, value = Avro in single-object encoding (default) or the
Confluent wire format (schema registered under ``<topic>-value``), through
``connectors.kafka.sink.WriteToKafka``.

Nothing is lost at the sinks either: a record that cannot be encoded or delivered to Kafka
becomes a ``DeadLetter`` (stage ``sink``) written to the ``dead_letter`` route of every
file sink; with no file sink, to the ``dead_letter`` topic; and if even that fails, the
bundle fails, so the source never commits the input and it is read again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

import schemas
from connectors.avro_files import WriteAvroFiles
from connectors.kafka.settings import KafkaSinkConfig
from connectors.kafka.sink import OutgoingRecord, WriteToKafka
from connectors.schema_registry import SchemaRegistryClient, SchemaRegistryError, value_subject
from newsbeam.options import SinkSpec
from schemas.encoding import (
    ENCODINGS,
    encode_confluent,
    encode_single_object,
)
from schemas.failures import Stage, dead_letter
from schemas.models import DeadLetter, Provenance
from schemas.routes import RoutedRecord, route_dead_letter

__all__ = [
    "ROUTE_HEADER",
    "SCHEMA_HEADER",
    "EncodeForKafka",
    "WriteRoutes",
    "topic_for",
]

_log = logging.getLogger(__name__)

ROUTE_HEADER = "newsbeam.route"
SCHEMA_HEADER = "newsbeam.schema"
_FAILED = "failed"


def topic_for(template: str, route: str) -> str:
    """``articles.{route}`` -> ``articles.energy``."""
    return template.replace("{route}", route)


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _record_json(record: dict[str, Any]) -> bytes:
    """The record that could not be encoded, as JSON: the dead letter's payload."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True, default=_json_value).encode()


class _EncodeForKafkaFn(beam.DoFn):
    """``RoutedRecord`` -> ``OutgoingRecord`` (topic, id key, Avro value, route headers).

    A record that cannot be encoded leaves as a ``DeadLetter`` on the ``failed`` output;
    an unreachable schema registry fails the bundle instead (retried by the runner), so a
    registry outage does not dead-letter the whole stream.
    """

    def __init__(self, template: str, encoding: str, registry_url: str | None) -> None:
        self._template = template
        self._encoding = encoding
        self._registry_url = registry_url

    def setup(self) -> None:
        self._registry = (SchemaRegistryClient(self._registry_url)
                          if self._encoding == "confluent" else None)

    def _value(self, topic: str, record: RoutedRecord) -> bytes:
        if self._registry is None:
            return encode_single_object(record.schema, record.record)
        schema_id = self._registry.id_for(value_subject(topic), schemas.schema_json(record.schema))
        return encode_confluent(schema_id, record.schema, record.record)

    def process(self, record: RoutedRecord) -> Iterator[Any]:
        topic = topic_for(self._template, record.route)
        provenance = Provenance.model_validate(record.record["provenance"])
        try:
            value = self._value(topic, record)
        except SchemaRegistryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the record goes to the dead-letter route
            beam.metrics.Metrics.counter("route_sinks", "encode_failures").inc()
            _log.warning("record could not be encoded for kafka", extra={
                "topic": topic, "key": record.key, "error_class": type(exc).__name__})
            yield pvalue.TaggedOutput(_FAILED, dead_letter(
                Stage.SINK, exc, _record_json(record.record), provenance))
            return
        yield OutgoingRecord(topic, record.key.encode(), value, provenance,
                             ((ROUTE_HEADER, record.route.encode()),
                              (SCHEMA_HEADER, record.schema.encode())))


class EncodeForKafka(beam.PTransform):
    """``RoutedRecord``s -> ``{"records": OutgoingRecord, "failed": DeadLetter}``."""

    def __init__(self, template: str, encoding: str = "single-object",
                 registry_url: str | None = None) -> None:
        super().__init__()
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown value encoding {encoding!r}; choose one of {ENCODINGS}")
        if encoding == "confluent" and not registry_url:
            raise ValueError("--value-encoding confluent needs --schema-registry-url URL")
        self._fn = _EncodeForKafkaFn(template, encoding, registry_url)

    def expand(self, routed: beam.PCollection) -> dict[str, beam.PCollection]:
        outputs = routed | "EncodeRecords" >> beam.ParDo(self._fn).with_outputs(
            _FAILED, main="records")
        return {"records": outputs.records, "failed": outputs[_FAILED]}


class _RefuseLossFn(beam.DoFn):
    """Last resort: a sink failure that could not be written anywhere fails the bundle."""

    def process(self, letter: DeadLetter) -> Iterator[None]:
        raise RuntimeError(
            f"could not write the sink failure of {letter.provenance.describe()} "
            f"({letter.error_class}: {letter.error_message}) anywhere; failing the bundle so "
            "the input is not committed and is read again")
        yield  # pragma: no cover


def _auto_bounded(routed: beam.PCollection) -> bool:
    """Deterministic shards only for a bounded input whose source commits no offsets.

    A bounded Kafka read that commits (``newsbeam run --stop drained``) commits in bundle
    finalization, before a GroupByKey downstream would have written the files: it keeps
    the per-bundle layout, which completes its files inside the reading bundle.
    """
    if not routed.is_bounded:
        return False
    from connectors.kafka.options import KafkaOptions

    kafka = routed.pipeline._options.view_as(KafkaOptions)
    reads_kafka = bool(kafka.topics or kafka.topic_pattern)
    return not (reads_kafka and kafka.commit_offsets)


class WriteRoutes(beam.PTransform):
    """Every routed record to every chosen sink; sink failures to the dead-letter route.

    Arguments left as None come from the pipeline's ``NewsbeamOptions``/``KafkaOptions``
    (``--value-encoding``, ``--schema-registry-url``, ``--file-window-seconds``,
    ``--max-file-bytes``, ``--file-shards``, ``--bootstrap-servers``, ``--kafka-property``).
    ``bounded`` picks the file layout (``connectors.avro_files``); None decides from the
    input (see ``_auto_bounded``). The input is one PCollection of ``RoutedRecord``s or
    several (e.g. articles and each stage's dead letters): in the streaming layout each
    gets its own writers rather than a Flatten, which the FnApiRunner never runs past
    while an unbounded read goes on. Pass ``tuple(outputs)`` for a multi-output ParDo or
    ``Partition`` (Beam hands a ``DoOutputsTuple`` over as its first PCollection only). Returns ``files<i>`` (paths written by file sink ``i``),
    ``encode_failures<i>`` and ``sink_failures<i>`` (``DeadLetter``s of Kafka sink ``i``,
    already written to the dead-letter route: for monitoring, not to be written again).
    """

    def __init__(self, sinks: list[SinkSpec], avro_codec: str = "deflate", *,
                 bounded: bool | None = None, value_encoding: str | None = None,
                 registry_url: str | None = None, kafka_config: KafkaSinkConfig | None = None,
                 file_window_seconds: float | None = None, max_file_bytes: int | None = None,
                 file_shards: int | None = None) -> None:
        super().__init__()
        if not sinks:
            raise ValueError("no sink given: pass --sink avro:DIR and/or --sink kafka:TEMPLATE")
        for sink in sinks:
            if sink.kind not in ("avro", "kafka"):
                raise ValueError(f"unknown sink kind {sink.kind!r} (avro or kafka)")
            if sink.kind == "kafka" and "{route}" not in sink.target:
                raise ValueError(f"Kafka topic template {sink.target!r} needs {{route}}")
        if value_encoding is not None and value_encoding not in ENCODINGS:
            raise ValueError(f"unknown value encoding {value_encoding!r}; choose one of "
                             f"{ENCODINGS}")
        self._sinks = list(sinks)
        self._avro_codec = avro_codec
        self._bounded = bounded
        self._value_encoding = value_encoding
        self._registry_url = registry_url
        self._kafka_config = kafka_config
        self._file_window_seconds = file_window_seconds
        self._max_file_bytes = max_file_bytes
        self._file_shards = file_shards

    def _settings(self, routed: beam.PCollection, all_bounded: bool = True) -> dict[str, Any]:
        from newsbeam.options import NewsbeamOptions

        ours = routed.pipeline._options.view_as(NewsbeamOptions)

        def pick(value: Any, flag: str, default: Any) -> Any:
            if value is not None:
                return value
            from_flag = getattr(ours, flag, None)
            return from_flag if from_flag is not None else default

        return {
            "bounded": (self._bounded if self._bounded is not None
                        else all_bounded and _auto_bounded(routed)),
            "encoding": pick(self._value_encoding, "value_encoding", "single-object"),
            "registry_url": pick(self._registry_url, "schema_registry_url", None),
            "window_seconds": pick(self._file_window_seconds, "file_window_seconds", 60.0),
            "max_file_bytes": pick(self._max_file_bytes, "max_file_bytes", 64 * 1024 * 1024),
            "shards": pick(self._file_shards, "file_shards", 4),
        }

    def _kafka_sink_config(self, routed: beam.PCollection) -> KafkaSinkConfig:
        if self._kafka_config is not None:
            return self._kafka_config
        from connectors.kafka.options import KafkaOptions

        return routed.pipeline._options.view_as(KafkaOptions).sink_config()

    def expand(self, routed: beam.PCollection | Sequence[beam.PCollection],
               ) -> dict[str, beam.PCollection]:
        inputs = [routed] if isinstance(routed, beam.PCollection) else list(routed)
        if not inputs:
            raise ValueError("WriteRoutes needs at least one PCollection of RoutedRecords")
        settings = self._settings(inputs[0], all(p.is_bounded for p in inputs))
        config = (self._kafka_sink_config(inputs[0])
                  if any(s.kind == "kafka" for s in self._sinks) else None)
        if len(inputs) == 1:
            return self._write(inputs[0], settings, config)
        if settings["bounded"]:  # batch: merging is free, and one writer per route folder
            return self._write(inputs | "MergeInputs" >> beam.Flatten(), settings, config)
        # Streaming: each input gets its own sinks instead of a Flatten (see ``_write``).
        outputs: dict[str, beam.PCollection] = {}
        for number, pcoll in enumerate(inputs):
            written = pcoll | f"Input{number}" >> _WriteInput(self, settings, config)
            outputs.update({f"{key}_input{number}": value for key, value in written.items()})
        return outputs

    def _write(self, routed: beam.PCollection, settings: dict[str, Any],
               config: KafkaSinkConfig | None) -> dict[str, beam.PCollection]:
        kafka_sinks = [(i, s) for i, s in enumerate(self._sinks) if s.kind == "kafka"]
        avro_sinks = [(i, s) for i, s in enumerate(self._sinks) if s.kind == "avro"]
        outputs: dict[str, beam.PCollection] = {}

        # Sink failures stay one PCollection per source. No Flatten in the streaming
        # layout: on the FnApiRunner a Flatten is a stage boundary, and the stage after it
        # never runs while an unbounded read is still going.
        failures: list[tuple[str, beam.PCollection]] = []
        for index, sink in kafka_sinks:
            encoded = routed | f"EncodeForKafka{index}" >> EncodeForKafka(
                sink.target, settings["encoding"], settings["registry_url"])
            delivered = encoded["records"] | f"WriteToKafka{index}" >> WriteToKafka(config)
            failures += [(f"EncodeFailures{index}", encoded["failed"]),
                         (f"DeliveryFailures{index}", delivered)]
            outputs[f"encode_failures{index}"] = encoded["failed"]
            outputs[f"sink_failures{index}"] = delivered

        for index, sink in avro_sinks:
            def files(index: int = index, sink: SinkSpec = sink) -> WriteAvroFiles:
                return WriteAvroFiles(
                    sink.target, codec=self._avro_codec, bounded=settings["bounded"],
                    shards=settings["shards"], window_seconds=settings["window_seconds"],
                    max_file_bytes=settings["max_file_bytes"])

            if settings["bounded"] and failures:  # one sharded writer per route folder
                routed_failures = [failed | f"Route{name}For{index}" >> beam.Map(route_dead_letter)
                                   for name, failed in failures]
                records = ([routed, *routed_failures]
                           | f"WithSinkFailures{index}" >> beam.Flatten())
                outputs[f"files{index}"] = records | f"WriteAvroFiles{index}" >> files()
                continue
            outputs[f"files{index}"] = routed | f"WriteAvroFiles{index}" >> files()
            for name, failed in failures:
                _ = (failed
                     | f"Route{name}For{index}" >> beam.Map(route_dead_letter)
                     | f"Write{name}To{index}" >> files())

        if failures and not avro_sinks:
            # No file sink: the failures go to the dead-letter topic; failing that, the
            # bundle fails (the input is re-read rather than lost).
            template = kafka_sinks[0][1].target
            for name, failed in failures:
                retry = (failed
                         | f"Route{name}" >> beam.Map(route_dead_letter)
                         | f"Encode{name}" >> EncodeForKafka(
                             template, settings["encoding"], settings["registry_url"]))
                undelivered = retry["records"] | f"Publish{name}" >> WriteToKafka(config)
                for part, letters in (("Encoding", retry["failed"]), ("Delivery", undelivered)):
                    _ = letters | f"RefuseLoss{name}{part}" >> beam.ParDo(_RefuseLossFn())
        return outputs


class _WriteInput(beam.PTransform):
    """One of several inputs of ``WriteRoutes``, written to every sink under its own label."""

    def __init__(self, parent: WriteRoutes, settings: dict[str, Any],
                 config: KafkaSinkConfig | None) -> None:
        super().__init__()
        self._parent = parent
        self._settings = settings
        self._config = config

    def expand(self, routed: beam.PCollection) -> dict[str, beam.PCollection]:
        return self._parent._write(routed, self._settings, self._config)
