"""WriteRoutes: both sinks at once, both Kafka encodings, sink failures kept, file layouts,
settings checked where they are made, step labels from each sink's identity."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_stream import TestStream

from connectors.avro_files import list_avro_files, read_avro_records
from connectors.kafka.settings import KafkaClientSettings, KafkaSinkConfig
from connectors.kafka.sink import WriteToKafka
from connectors.kafka.topics import read_topic
from connectors.kafka.xlang import XlangWriteToKafka
from connectors.schema_registry import SchemaRegistryClient
from connectors.sinks import (
    ROUTE_HEADER,
    KafkaSink,
    SinkSettings,
    SinkSpec,
    WriteRoutes,
    parse_sink,
    topic_for,
)
from newsbeam.cli import main
from newsbeam.jobs import build_streaming
from newsbeam.options import sink_settings
from schemas.models import Article, DeadLetter, Provenance, ProvenanceKind, TopicTag
from schemas.routes import route_article, route_dead_letter
from tests.support.registry import RegistryStandIn

RUNNER = ["--runner=FnApiRunner"]
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _routed() -> list:
    def article(i: int, tags: list[str], **extra) -> Article:
        return Article(id=f"a{i}", url=f"https://n.example/{i}", canonical_url=f"https://n.example/{i}",
                       body=f"text {i} " * (200 if i == 2 else 1), topics=[TopicTag(tag=t, score=1.0, iptc_code="x")
                                                 for t in tags],
                       provenance=Provenance(kind=ProvenanceKind.KAFKA, topic="in", partition=0,
                                             offset=i), processed_at=NOW, **extra)

    articles = [article(0, ["energy"]), article(1, ["energy", "defense"]), article(2, []),
                article(3, ["culture"], duplicate_of="a9", duplicate_kind="exact_body")]
    letter = DeadLetter(id="d1", stage="parse", error_class="InvalidJson", error_message="bad",
                        payload=b"{oops", provenance=Provenance(
                            kind=ProvenanceKind.KAFKA, topic="in", partition=0, offset=4),
                        failed_at=NOW)
    return [r for a in articles for r in route_article(a)] + [route_dead_letter(letter)]


def _by_route(records) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for route, record in records:
        grouped.setdefault(route, []).append(record)
    return {route: sorted(rs, key=lambda r: r["id"]) for route, rs in grouped.items()}


def _files(out: Path) -> dict[str, list]:
    return _by_route((Path(f).parent.name, r) for f in list_avro_files(str(out))
                     for r in read_avro_records(f))


def _topics(bootstrap: str, template: str, routes, registry=None) -> dict[str, list]:
    pairs = []
    for route in routes:
        for message in read_topic(KafkaClientSettings(bootstrap_servers=bootstrap),
                                  topic_for(template, route), registry=registry):
            assert message.headers[ROUTE_HEADER] == route.encode()
            assert message.key == message.record["id"].encode()
            pairs.append((route, message.record))
    return _by_route(pairs)


def _run(sinks: list[SinkSpec], config: KafkaSinkConfig, *, split: bool = False,
         bounded: bool = False) -> None:
    """``split``: articles and dead letters as two inputs, as the stages hand them over."""
    settings = SinkSettings(sinks=tuple(sinks), bounded=bounded, kafka=config)
    with beam.Pipeline(options=PipelineOptions(RUNNER)) as pipeline:
        routed = pipeline | beam.Create(_routed())
        if split:
            routed = tuple(routed | beam.Partition(lambda r, _: int(r.schema == "dead_letter"), 2))
        _ = routed | WriteRoutes(settings)


@pytest.mark.parametrize(("bounded", "split"), [(False, False), (False, True), (True, True)],
                         ids=["streaming", "streaming-two-inputs", "bounded-two-inputs"])
def test_both_sinks_at_once_hold_the_same_records_per_route(broker, tmp_path: Path,
                                                           bounded: bool, split: bool) -> None:
    """Files and topics (single-object encoding) read back equal, route by route."""
    template = f"rs-{uuid.uuid4().hex[:6]}.{{route}}"
    config = KafkaSinkConfig(client=KafkaClientSettings(bootstrap_servers=broker.bootstrap_servers))
    _run([SinkSpec("avro", str(tmp_path)), SinkSpec("kafka", template)], config,
         bounded=bounded, split=split)
    expected = _by_route((r.route, r.record) for r in _routed())
    assert set(expected) == {"energy", "defense", "untagged", "duplicates", "dead_letter"}
    assert _files(tmp_path) == expected
    assert _topics(broker.bootstrap_servers, template, expected) == expected


def test_confluent_encoding_from_the_command_line_flags(broker, capsys) -> None:
    """``--value-encoding confluent --schema-registry-url``: values in the Confluent wire
    format, schemas registered under <topic>-value in an HTTP stand-in for the Schema
    Registry (none can be installed here); ``newsbeam inspect`` decodes them with it."""
    template = f"cf-{uuid.uuid4().hex[:6]}.{{route}}"
    with RegistryStandIn() as registry:
        flags = ["--value-encoding", "confluent", "--schema-registry-url", registry.url,
                 "--bootstrap-servers", broker.bootstrap_servers, "--sink", f"kafka:{template}"]
        settings = sink_settings(PipelineOptions(flags), bounded=False)  # as the app makes them
        with beam.Pipeline(options=PipelineOptions(RUNNER)) as pipeline:
            _ = pipeline | beam.Create(_routed()) | WriteRoutes(settings)
        expected = _by_route((r.route, r.record) for r in _routed())
        assert set(registry.subjects) == {f"{topic_for(template, r)}-value" for r in expected}
        assert len(registry.schemas) == 2, "one id per schema (article, dead_letter)"
        reader = SchemaRegistryClient(registry.url)
        got = _topics(broker.bootstrap_servers, template, expected, registry=reader)
        first = next(read_topic(settings.kafka.client, topic_for(template, "energy")))
        capsys.readouterr()
        topic = topic_for(template, "dead_letter")
        assert main(["inspect", "--schema-registry-url", registry.url, "--metadata",
                     f"kafka://{broker.bootstrap_servers}/{topic}"]) == 0
        printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert got == expected
    assert first.schema is None and "schema registry" in first.record["error"], (
        "without a registry a Confluent value is reported, not misread")
    assert [(p["schema"], p["key"], p["record"]["id"]) for p in printed] == [
        ("dead_letter", "d1", "d1")]


@pytest.mark.parametrize("bounded", [False, True], ids=["streaming-layout", "bounded-layout"])
def test_kafka_refusals_land_in_the_file_dead_letter_route(broker, tmp_path: Path,
                                                           bounded: bool) -> None:
    """A record the producer refuses (too large) is a DeadLetter of stage 'sink' in the
    files' dead_letter route, with its bytes and provenance; the others are delivered."""
    template = f"big-{uuid.uuid4().hex[:6]}.{{route}}"
    config = KafkaSinkConfig(client=KafkaClientSettings(
        bootstrap_servers=broker.bootstrap_servers, properties={"max_request_size": 1000}))
    _run([SinkSpec("avro", str(tmp_path)), SinkSpec("kafka", template)], config, bounded=bounded)
    letters = [DeadLetter.model_validate(r) for r in _files(tmp_path)["dead_letter"]]
    sink_letters = [d for d in letters if d.stage == "sink"]
    assert sink_letters and {d.error_class for d in sink_letters} == {"MessageSizeTooLargeError"}
    assert [(d.provenance.offset, d.payload[:2]) for d in sink_letters] == [(2, b"\xc3\x01")], (
        "the big article (offset 2), with the refused value bytes")
    assert "untagged" in _files(tmp_path), "the file sink still has the record itself"
    assert {d.provenance.offset for d in letters if d.stage == "parse"} == {4}


def test_with_no_file_sink_an_undeliverable_failure_fails_the_run(broker) -> None:
    """Nothing can take the failure (the dead-letter topic refuses it too): the bundle
    fails, so a streaming source would not commit the input."""
    config = KafkaSinkConfig(client=KafkaClientSettings(
        bootstrap_servers=broker.bootstrap_servers, properties={"max_request_size": 100}))
    with pytest.raises(Exception, match="failing the bundle"):
        _run([SinkSpec("kafka", f"no-{uuid.uuid4().hex[:6]}.{{route}}")], config)


def _step_names(pipeline: beam.Pipeline) -> set[str]:
    return {t.unique_name for t in pipeline.to_runner_api().components.transforms.values()}


def _streaming_graph(tmp_path: Path, *flags: str) -> set[str]:
    return _step_names(build_streaming([*RUNNER, "--topic", "in", "--bootstrap-servers",
                                        "127.0.0.1:1", *flags]))


def test_reordering_the_sinks_keeps_every_step_name(tmp_path: Path) -> None:
    """Labels come from each sink's identity, not its position: ``--sink`` flags in another
    order build the same step names (a streaming job can be updated in place)."""
    sinks = [f"--sink=avro:{tmp_path}/a", "--sink=kafka:one.{route}",
             f"--sink=avro:{tmp_path}/b/", "--sink=kafka:two.{route}"]
    names = _streaming_graph(tmp_path, *sinks)
    assert _streaming_graph(tmp_path, *reversed(sinks)) == names
    assert _streaming_graph(tmp_path, *sinks[1:], sinks[0]) == names
    folder = str(tmp_path).replace("/", "|")
    sink_steps = {n.split("/")[2] for n in names
                  if n.startswith("DeliverRoutes/WriteRoutesarticles/")}
    assert sink_steps == {f"Avro[{folder}|a]", f"Avro[{folder}|b]", "Kafka[one.{route}]",
                          "Kafka[two.{route}]"}, "one step per sink, named by its target"
    assert "DeliverRoutes/WriteRoutesarticles/Kafka[two.{route}]/WriteToKafka" in names


def test_the_app_picks_the_file_layout_of_run(tmp_path: Path) -> None:
    """``newsbeam run``: per-bundle files, except for a bounded read (``--stop now``) that
    commits no offsets, which gets the deterministic shards (a GroupByKey per route)."""
    def shards(*flags: str) -> bool:
        names = _streaming_graph(tmp_path, f"--sink=avro:{tmp_path}", *flags)
        return any(n.endswith("WriteAvroFiles/GroupShards") for n in names)

    assert shards("--stop", "now", "--no-commit-offsets")
    assert not shards("--stop", "now"), "a committing read keeps per-bundle files"
    assert not shards("--stop", "drained", "--no-commit-offsets"), "an unbounded read"
    assert not shards("--stop", "never")


def test_settings_are_checked_where_they_are_made(tmp_path: Path) -> None:
    config = KafkaSinkConfig()
    kafka = (SinkSpec("kafka", "t.{route}"),)
    with pytest.raises(ValueError, match="no sink"):
        SinkSettings(sinks=(), bounded=True)
    with pytest.raises(ValueError, match="schema-registry-url"):
        SinkSettings(sinks=kafka, bounded=False, kafka=config, value_encoding="confluent")
    with pytest.raises(ValueError, match="producer config"):
        SinkSettings(sinks=kafka, bounded=False)
    with pytest.raises(ValueError, match="needs {route}"):
        SinkSettings(sinks=(SinkSpec("kafka", "t"),), bounded=False, kafka=config)
    with pytest.raises(ValueError, match="same sink"):
        SinkSettings(sinks=(SinkSpec("avro", f"{tmp_path}/out"),
                            SinkSpec("avro", f"{tmp_path}/./out/")), bounded=True)
    with pytest.raises(ValueError, match="--file-shards"):
        SinkSettings(sinks=(SinkSpec("avro", str(tmp_path)),), bounded=True, file_shards=0)
    with pytest.raises(ValueError, match="--kafka-io"):
        SinkSettings(sinks=kafka, bounded=False, kafka=config, kafka_io="java")
    with pytest.raises(ValueError, match="kafka:TOPIC_TEMPLATE"):
        parse_sink("s3:bucket")
    flagged = sink_settings(PipelineOptions(["--file-window-seconds", "0", "--file-shards", "7",
                                             "--output-dir", str(tmp_path)]), bounded=True)
    assert (flagged.file_window_seconds, flagged.file_shards, flagged.kafka) == (0, 7, None), (
        "flags, 0 included; no Kafka config without a Kafka sink")
    unbounded = beam.Pipeline(options=PipelineOptions(RUNNER)) | TestStream().add_elements([1])
    with pytest.raises(ValueError, match="bounded inputs"):
        _ = unbounded | WriteRoutes(SinkSettings(sinks=(SinkSpec("avro", str(tmp_path)),),
                                                 bounded=True))


def test_kafka_io_xlang_applies_to_the_sink() -> None:
    """``--kafka-io=xlang``: the Kafka sink writes through Java KafkaIO. Construction only:
    expanding it needs the Beam Java expansion-service jar, which tests cannot fetch."""
    flags = ["--sink", "kafka:articles.{route}", "--bootstrap-servers", "k:9092"]
    native = sink_settings(PipelineOptions(flags), bounded=False)
    xlang = sink_settings(PipelineOptions([*flags, "--kafka-io", "xlang"]), bounded=False)
    assert isinstance(KafkaSink("articles.{route}", native).writer(), WriteToKafka)
    writer = KafkaSink("articles.{route}", xlang).writer()
    assert isinstance(writer, XlangWriteToKafka)
    assert writer.producer_config["bootstrap.servers"] == "k:9092"
    assert writer.producer_config["acks"] == "all"
    assert [type(s).__name__ for s in xlang.build()] == ["KafkaSink"]
