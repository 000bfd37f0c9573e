"""The last stage: every ``RoutedRecord`` to every sink chosen on the command line.

``--sink avro:DIR`` writes ``DIR/<route>/*.avro`` (``connectors.avro_files``);
``--sink kafka:TEMPLATE`` writes topic ``TEMPLATE`` with ``{route}`` replaced by the route,
key = article (or dead-letter) id, value = Avro in single-object encoding (default) or the
Confluent wire format (schema registered under ``<topic>-value``), through
``connectors.kafka.sink.WriteToKafka`` (or Java KafkaIO with ``kafka_io="xlang"``).

``WriteRoutes`` takes one ``SinkSettings``, made and validated once by the app; the sinks
never read ``PipelineOptions``. Each sink kind is a class in ``SINK_KINDS``; a sink's steps
are labelled by its identity (``Avro[out]``, ``Kafka[articles.{route}]``), never by its
position, so reordering ``--sink`` flags keeps every step name (Dataflow and Flink match
steps by name when a streaming job is updated).

Nothing is lost at the sinks either: a record that cannot be encoded or delivered to Kafka
becomes a ``DeadLetter`` (stage ``sink``) written to the ``dead_letter`` route of every
file sink; with no file sink, to the ``dead_letter`` topic of the Kafka sink that failed;
and if even that fails, the bundle fails, so the source never commits the input and it is
read again.

No Flatten on an unbounded input: on Beam's FnApiRunner (our DirectRunner) a Flatten is a
stage boundary, and a stage after it never runs while an unbounded read goes on. In the
streaming layout each input PCollection (articles, each stage's dead letters) and each
failure stream therefore gets its own writers; the bounded layout merges them, so each
route folder has one set of deterministic shards.
"""

from __future__ import annotations

import json
import logging
import posixpath
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, NamedTuple

import apache_beam as beam
from apache_beam import pvalue

import schemas
from connectors.avro_files import CODECS, WriteAvroFiles
from connectors.kafka.settings import KafkaSinkConfig
from connectors.kafka.sink import OutgoingRecord, WriteToKafka
from connectors.kafka.xlang import XlangWriteToKafka
from connectors.schema_registry import SchemaRegistryClient, SchemaRegistryError, value_subject
from schemas.encoding import (
    ENCODINGS,
    encode_confluent,
    encode_single_object,
)
from schemas.failures import Stage, dead_letter
from schemas.models import DeadLetter, Provenance
from schemas.routes import RoutedRecord, route_dead_letter

__all__ = [
    "KAFKA_IO_KINDS",
    "ROUTE_HEADER",
    "SCHEMA_HEADER",
    "SINK_KINDS",
    "AvroSink",
    "EncodeForKafka",
    "KafkaSink",
    "Sink",
    "SinkSettings",
    "SinkSpec",
    "WriteRoutes",
    "parse_sink",
    "topic_for",
]

_log = logging.getLogger(__name__)

ROUTE_HEADER = "newsbeam.route"
SCHEMA_HEADER = "newsbeam.schema"
KAFKA_IO_KINDS = ("native", "xlang")
_FAILED = "failed"


class SinkSpec(NamedTuple):
    """``avro:DIR`` or ``kafka:TOPIC_TEMPLATE`` (``{route}`` expands to the route name)."""

    kind: str
    target: str


def parse_sink(text: str) -> SinkSpec:
    """``--sink`` text -> ``SinkSpec``, or ``ValueError`` showing the accepted forms."""
    kind, sep, target = text.partition(":")
    if not sep or kind not in SINK_KINDS or not target:
        raise ValueError(
            f"bad --sink {text!r}: use avro:DIR (e.g. avro:./out, gs://bucket/news) or "
            "kafka:TOPIC_TEMPLATE (e.g. kafka:articles.{route})")
    if kind == "kafka" and "{route}" not in target:
        raise ValueError(
            f"bad --sink {text!r}: the Kafka topic template needs {{route}}, e.g. articles.{{route}}")
    return SinkSpec(kind, target)


def topic_for(template: str, route: str) -> str:
    """``articles.{route}`` -> ``articles.energy``."""
    return template.replace("{route}", route)


@dataclass(frozen=True)
class SinkSettings:
    """Everything the sinks need, explicit; validated when made (``ValueError`` says what
    to pass). ``bounded`` is the file layout (``connectors.avro_files``), chosen by the app:
    deterministic shards (bounded inputs only) or per-bundle streaming files. ``kafka`` is
    the producer config, needed only with a Kafka sink; ``kafka_io`` picks its writer."""

    sinks: tuple[SinkSpec, ...]
    bounded: bool
    avro_codec: str = "deflate"
    value_encoding: str = "single-object"
    schema_registry_url: str | None = None
    file_window_seconds: float = 60.0
    max_file_bytes: int = 64 * 1024 * 1024
    file_shards: int = 4
    kafka: KafkaSinkConfig | None = None
    kafka_io: str = "native"

    def __post_init__(self) -> None:
        object.__setattr__(self, "sinks", tuple(SinkSpec(*spec) for spec in self.sinks))
        if not self.sinks:
            raise ValueError("no sink given: pass --sink avro:DIR and/or --sink kafka:TEMPLATE")
        if self.avro_codec not in CODECS:
            raise ValueError(f"unknown --avro-codec {self.avro_codec!r}; choose one of {CODECS}")
        if self.value_encoding not in ENCODINGS:
            raise ValueError(f"unknown --value-encoding {self.value_encoding!r}; choose one of "
                             f"{ENCODINGS}")
        if self.kafka_io not in KAFKA_IO_KINDS:
            raise ValueError(f"unknown --kafka-io {self.kafka_io!r}; choose one of "
                             f"{KAFKA_IO_KINDS}")
        if self.file_window_seconds < 0:
            raise ValueError("--file-window-seconds must be >= 0 (0: keep the input's windows)")
        if self.max_file_bytes < 1024:
            raise ValueError("--max-file-bytes must be at least 1024")
        if not 1 <= self.file_shards <= 99999:
            raise ValueError(f"--file-shards must be between 1 and 99999, got {self.file_shards}")
        labels: dict[str, SinkSpec] = {}
        for spec in self.sinks:
            if spec.kind not in SINK_KINDS:
                raise ValueError(f"unknown sink kind {spec.kind!r}: use "
                                 f"{' or '.join(f'{k}:...' for k in SINK_KINDS)}")
            sink = SINK_KINDS[spec.kind](spec.target, self)  # checks its own settings
            if sink.label in labels:
                raise ValueError(f"--sink {spec.kind}:{spec.target} and "
                                 f"{labels[sink.label].kind}:{labels[sink.label].target} are "
                                 "the same sink; give each sink once")
            labels[sink.label] = spec

    def build(self) -> list[Sink]:
        """The sinks, in ``SINK_KINDS`` order (failure producers before failure stores)."""
        return [SINK_KINDS[kind](spec.target, self) for kind in SINK_KINDS
                for spec in self.sinks if spec.kind == kind]


def _label_part(text: str) -> str:
    """A target as part of a step label: Beam nests labels at ``/``, so ``/`` becomes ``|``."""
    return text.replace("/", "|")


class Sink(ABC):
    """One ``--sink``: knows its identity (the step label) and how to write.

    ``write`` applies this sink's steps to the routed records and returns the sink's own
    failures (``DeadLetter`` PCollections by name) for the sinks that store failures
    (``stores_failures``); ``failures`` are the ones earlier sinks returned.
    """

    kind: ClassVar[str]
    stores_failures: ClassVar[bool] = False

    def __init__(self, target: str, settings: SinkSettings) -> None:
        self.target = target
        self.settings = settings

    @property
    def identity(self) -> str:
        return self.target

    @property
    def label(self) -> str:
        return f"{self.kind.capitalize()}[{_label_part(self.identity)}]"

    @abstractmethod
    def write(self, routed: beam.PCollection, failures: Mapping[str, beam.PCollection], *,
              failures_stored: bool) -> dict[str, beam.PCollection]:
        """``failures_stored``: some sink of this run stores failures (a file sink)."""


class AvroSink(Sink):
    """``avro:DIR``: the records, and every other sink's failures in ``dead_letter``."""

    kind = "avro"
    stores_failures = True

    @property
    def identity(self) -> str:
        if "://" in self.target:
            return self.target.rstrip("/")
        return posixpath.normpath(self.target)

    def write(self, routed: beam.PCollection, failures: Mapping[str, beam.PCollection], *,
              failures_stored: bool) -> dict[str, beam.PCollection]:
        _ = {"records": routed, **failures} | self.label >> _WriteFiles(self.target, self.settings)
        return {}


class _WriteFiles(beam.PTransform):
    """``{"records": RoutedRecords, name: DeadLetters...}`` -> Avro files under one folder."""

    def __init__(self, output_dir: str, settings: SinkSettings) -> None:
        super().__init__()
        self._output_dir = output_dir
        self._settings = settings

    def _files(self) -> WriteAvroFiles:
        s = self._settings
        return WriteAvroFiles(self._output_dir, codec=s.avro_codec, bounded=s.bounded,
                              shards=s.file_shards, window_seconds=s.file_window_seconds,
                              max_file_bytes=s.max_file_bytes)

    def expand(self, inputs: dict[str, beam.PCollection]) -> None:
        failures = {name: pcoll for name, pcoll in inputs.items() if name != "records"}
        routed_failures = {name: failed | f"Route{name}" >> beam.Map(route_dead_letter)
                           for name, failed in sorted(failures.items())}
        if self._settings.bounded and routed_failures:  # one sharded writer per route folder
            records = ([inputs["records"], *routed_failures.values()]
                       | "WithSinkFailures" >> beam.Flatten())
            _ = records | "WriteAvroFiles" >> self._files()
            return
        _ = inputs["records"] | "WriteAvroFiles" >> self._files()
        for name, routed in routed_failures.items():
            _ = routed | f"Write{name}" >> self._files()


class KafkaSink(Sink):
    """``kafka:TEMPLATE``: encode each record for its route's topic, produce it; the
    records that cannot be encoded or delivered are returned as failures. When no file
    sink stores them, they go to this sink's own ``dead_letter`` topic, and if that fails
    too the bundle fails (``_RefuseLossFn``)."""

    kind = "kafka"

    def __init__(self, target: str, settings: SinkSettings) -> None:
        super().__init__(target, settings)
        if "{route}" not in target:
            raise ValueError(f"Kafka topic template {target!r} needs {{route}}, "
                             "e.g. --sink kafka:articles.{route}")
        if settings.kafka is None:
            raise ValueError(f"--sink kafka:{target} needs the Kafka producer config "
                             "(SinkSettings.kafka, from --bootstrap-servers/--kafka-property)")
        if settings.value_encoding == "confluent" and not settings.schema_registry_url:
            raise ValueError("--value-encoding confluent needs --schema-registry-url URL")

    def encoder(self) -> EncodeForKafka:
        return EncodeForKafka(self.target, self.settings.value_encoding,
                              self.settings.schema_registry_url)

    def writer(self) -> beam.PTransform:
        """``OutgoingRecord``s -> undelivered ``DeadLetter``s (always none with xlang,
        whose failures fail the bundle instead)."""
        assert self.settings.kafka is not None
        if self.settings.kafka_io == "xlang":
            return XlangWriteToKafka(self.settings.kafka, topic_for(self.target, "dead_letter"))
        return WriteToKafka(self.settings.kafka)

    def write(self, routed: beam.PCollection, failures: Mapping[str, beam.PCollection], *,
              failures_stored: bool) -> dict[str, beam.PCollection]:
        return routed | self.label >> _PublishRecords(self, keep_failures=not failures_stored)


class _PublishRecords(beam.PTransform):
    def __init__(self, sink: KafkaSink, *, keep_failures: bool) -> None:
        super().__init__()
        self._sink = sink
        self._keep_failures = keep_failures

    def expand(self, routed: beam.PCollection) -> dict[str, beam.PCollection]:
        encoded = routed | "EncodeForKafka" >> self._sink.encoder()
        undelivered = encoded["records"] | "WriteToKafka" >> self._sink.writer()
        failures = {f"{self._sink.label}EncodeFailures": encoded["failed"],
                    f"{self._sink.label}DeliveryFailures": undelivered}
        if not self._keep_failures:
            return failures
        # No file sink: the failures go to the dead-letter topic; failing that, the
        # bundle fails (the input is re-read rather than lost).
        for name, failed in (("EncodeFailures", encoded["failed"]),
                             ("DeliveryFailures", undelivered)):
            retry = (failed
                     | f"Route{name}" >> beam.Map(route_dead_letter)
                     | f"Encode{name}" >> self._sink.encoder())
            lost = retry["records"] | f"Publish{name}" >> self._sink.writer()
            for part, letters in (("Encoding", retry["failed"]), ("Delivery", lost)):
                _ = letters | f"RefuseLoss{name}{part}" >> beam.ParDo(_RefuseLossFn())
        return {}


SINK_KINDS: Mapping[str, type[Sink]] = {"kafka": KafkaSink, "avro": AvroSink}
"""Sink kinds by ``--sink`` prefix; failure producers come before failure stores."""


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


class WriteRoutes(beam.PTransform):
    """Every routed record to every sink of ``settings``; sink failures to the dead-letter
    route. Returns nothing: everything it produces is written.

    The input is one PCollection of ``RoutedRecord``s or several (e.g. articles and each
    stage's dead letters). In the streaming layout each input gets its own writers
    (``Input<i>/...``) rather than a Flatten, which the FnApiRunner never runs past while an
    unbounded read goes on; the bounded layout merges them (bounded inputs only). Pass
    ``tuple(outputs)`` for a multi-output ParDo or ``Partition`` (Beam hands a
    ``DoOutputsTuple`` over as its first PCollection only).
    """

    def __init__(self, settings: SinkSettings) -> None:
        super().__init__()
        self._settings = settings

    def expand(self, routed: beam.PCollection | Sequence[beam.PCollection]) -> None:
        inputs = [routed] if isinstance(routed, beam.PCollection) else list(routed)
        if not inputs:
            raise ValueError("WriteRoutes needs at least one PCollection of RoutedRecords")
        if self._settings.bounded and not all(p.is_bounded for p in inputs):
            raise ValueError("the bounded file layout needs bounded inputs; an unbounded "
                             "read needs SinkSettings(bounded=False)")
        if len(inputs) == 1:
            self._write(inputs[0])
        elif self._settings.bounded:  # batch: merging is free, and one writer per route folder
            self._write(inputs | "MergeInputs" >> beam.Flatten())
        else:  # streaming: each input gets its own sinks instead of a Flatten
            for number, pcoll in enumerate(inputs):
                _ = pcoll | f"Input{number}" >> _WriteInput(self)

    def _write(self, routed: beam.PCollection) -> None:
        sinks = self._settings.build()
        stored = any(sink.stores_failures for sink in sinks)
        failures: dict[str, beam.PCollection] = {}
        for sink in sinks:
            failures.update(sink.write(routed, failures, failures_stored=stored))


class _WriteInput(beam.PTransform):
    """One of several inputs of ``WriteRoutes``, written to every sink under its own label."""

    def __init__(self, parent: WriteRoutes) -> None:
        super().__init__()
        self._parent = parent

    def expand(self, routed: beam.PCollection) -> None:
        self._parent._write(routed)
