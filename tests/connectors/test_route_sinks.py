"""WriteRoutes: both sinks at once, both Kafka encodings, sink failures kept, file layouts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from connectors.avro_files import list_avro_files, read_avro_records
from connectors.kafka.settings import KafkaClientSettings, KafkaSinkConfig
from connectors.schema_registry import SchemaRegistryClient
from connectors.sinks import (
    ROUTE_HEADER,
    WriteRoutes,
    _auto_bounded,
    read_topic,
    topic_for,
)
from newsbeam.cli import main
from newsbeam.options import SinkSpec
from schemas.models import Article, DeadLetter, Provenance, ProvenanceKind, TopicTag
from schemas.routes import route_article, route_dead_letter
from tests.connectors.test_schema_registry import RegistryStandIn

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
        for message in read_topic(bootstrap, topic_for(template, route), registry=registry):
            assert message.headers[ROUTE_HEADER] == route.encode()
            assert message.key == message.record["id"].encode()
            pairs.append((route, message.record))
    return _by_route(pairs)


def _run(sinks: list[SinkSpec], config: KafkaSinkConfig, *, split: bool = False,
         **kwargs) -> None:
    """``split``: articles and dead letters as two inputs, as the stages hand them over."""
    with beam.Pipeline(options=PipelineOptions(RUNNER)) as pipeline:
        routed = pipeline | beam.Create(_routed())
        if split:
            routed = tuple(routed | beam.Partition(lambda r, _: int(r.schema == "dead_letter"), 2))
        _ = routed | WriteRoutes(sinks, kafka_config=config, **kwargs)


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
                 "--bootstrap-servers", broker.bootstrap_servers]
        with beam.Pipeline(options=PipelineOptions(RUNNER + flags)) as pipeline:
            _ = (pipeline | beam.Create(_routed())
                 | WriteRoutes([SinkSpec("kafka", template)]))  # settings from the flags
        expected = _by_route((r.route, r.record) for r in _routed())
        assert set(registry.subjects) == {f"{topic_for(template, r)}-value" for r in expected}
        assert len(registry.schemas) == 2, "one id per schema (article, dead_letter)"
        reader = SchemaRegistryClient(registry.url)
        got = _topics(broker.bootstrap_servers, template, expected, registry=reader)
        first = next(read_topic(broker.bootstrap_servers, topic_for(template, "energy")))
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


def test_layout_choice_and_option_checks(tmp_path: Path) -> None:
    bounded_input = beam.Pipeline(options=PipelineOptions(RUNNER)) | beam.Create([1])
    assert _auto_bounded(bounded_input)
    drained = beam.Pipeline(options=PipelineOptions(RUNNER + ["--topic", "t"])) | beam.Create([1])
    assert not _auto_bounded(drained), "a committing Kafka source keeps per-bundle files"
    replay = beam.Pipeline(options=PipelineOptions(
        RUNNER + ["--topic", "t", "--no-commit-offsets"])) | beam.Create([1])
    assert _auto_bounded(replay)
    with pytest.raises(ValueError, match="schema-registry-url"):
        with beam.Pipeline(options=PipelineOptions(RUNNER)) as pipeline:
            _ = pipeline | beam.Create(_routed()) | WriteRoutes(
                [SinkSpec("kafka", "t.{route}")], value_encoding="confluent")
    with pytest.raises(ValueError, match="no sink"):
        WriteRoutes([])
    flagged = beam.Pipeline(options=PipelineOptions(
        RUNNER + ["--file-window-seconds", "0", "--file-shards", "7"])) | beam.Create([1])
    settings = WriteRoutes([SinkSpec("avro", str(tmp_path))])._settings(flagged)
    assert (settings["window_seconds"], settings["shards"]) == (0, 7), "flags, 0 included"
    assert WriteRoutes([SinkSpec("avro", str(tmp_path))], file_shards=2)._settings(
        flagged)["shards"] == 2, "an argument wins over the flag"
