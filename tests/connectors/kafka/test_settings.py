"""Settings and flags of the Kafka source/sink, the pure range planner, and the xlang
wrappers (construction only: expanding them needs the Java expansion service jar, which
cannot be downloaded here)."""

from __future__ import annotations

import ast
import logging
import pickle
from datetime import UTC, datetime

import cloudpickle
import pytest
from apache_beam.io.kafka import ReadFromKafka as JavaReadFromKafka
from apache_beam.options.pipeline_options import PipelineOptions
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from connectors.kafka.options import KafkaOptions
from connectors.kafka.planning import PartitionRange, plan_ranges
from connectors.kafka.positions import (
    PartitionFacts,
    StartKind,
    StopKind,
    TimestampPolicy,
    parse_start,
    parse_stop,
)
from connectors.kafka.settings import KafkaClientSettings, KafkaSourceConfig
from connectors.kafka.source import ReadFromKafka, source_from_options
from connectors.kafka.xlang import XlangReadFromKafka, XlangWriteToKafka, xlang_read_kwargs
from tests.support import REPO


def options(*flags: str) -> KafkaOptions:
    return PipelineOptions(list(flags)).view_as(KafkaOptions)


def test_flags_build_the_source_config():
    config = options(
        "--bootstrap-servers", "k1:9092,k2:9092", "--topic", "news", "--topic", "wire",
        "--group-id", "g", "--start", "timestamp:2026-01-02T03:04:05Z",
        "--stop", "drained:7", "--timestamp-policy", "log-append-time",
        "--kafka-property", "fetch.max.bytes=1048576",
        "--kafka-property", "security.protocol=SASL_SSL",
        "--discovery-interval-seconds", "5", "--no-commit-offsets").source_config()
    assert config.topics == ("news", "wire") and config.group_id == "g"
    assert config.start.kind is StartKind.TIMESTAMP
    assert config.start.timestamp == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert config.stop.kind is StopKind.DRAINED and config.stop.idle_seconds == 7
    assert config.timestamp_policy is TimestampPolicy.LOG_APPEND_TIME
    assert config.client.properties == {"fetch_max_bytes": 1048576,
                                        "security_protocol": "SASL_SSL"}
    assert config.client.client_kwargs()["bootstrap_servers"] == ["k1:9092", "k2:9092"]
    assert not config.commit_offsets and config.discovery_interval_seconds == 5


@pytest.mark.parametrize(("text", "kind"), [
    ("committed", StartKind.COMMITTED), ("earliest", StartKind.EARLIEST),
    ("latest", StartKind.LATEST), ("offsets:news.en:0=5,news.en:2=7", StartKind.OFFSETS),
    ("timestamp:1767323045000", StartKind.TIMESTAMP)])
def test_start_positions_parse(text, kind):
    start = parse_start(text)
    assert start.kind is kind
    if kind is StartKind.OFFSETS:
        assert start.offsets == {("news.en", 0): 5, ("news.en", 2): 7}


def test_stop_positions_parse():
    assert parse_stop("never").kind is StopKind.NEVER and not parse_stop("never").bounded
    assert parse_stop("drained").idle_seconds == 5.0
    assert parse_stop("now").kind is StopKind.NOW
    assert parse_stop("offsets:t:1=10").offsets == {("t", 1): 10}
    assert parse_stop("timestamp:2026-01-01T00:00:00+01:00").timestamp_ms == 1767222000000


@pytest.mark.parametrize(("flags", "message"), [
    (["--start", "yesterday"], "bad --start"),
    (["--stop", "offsets:t:x=1"], "bad offset"),
    (["--kafka-property", "no.such.thing=1"], "unknown Kafka property"),
    (["--kafka-property", "group.id=x"], "set by newsbeam itself"),
    (["--kafka-property", "sasl.password=hunter2"], "is a secret"),
    (["--kafka-property", "sasl.password=env:NEWSBEAM_TEST_UNSET"], "not set"),
])
def test_bad_flags_say_what_to_fix(flags, message):
    with pytest.raises(ValueError, match=message):
        options("--topic", "t", *flags).source_config()


def test_source_needs_a_topic():
    with pytest.raises(ValueError, match="--topic"):
        options().source_config()


def test_secrets_come_from_env_or_files_and_never_show(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("KAFKA_PW", "s3cret-from-env")
    (tmp_path / "token").write_text("s3cret-from-file\n")
    props = tmp_path / "client.properties"
    props.write_text("# client\nsecurity.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
                     "sasl.username=svc\nssl.key.password=s3cret-in-props\n")
    kafka = options("--topic", "t", "--kafka-property-file", str(props),
                    "--kafka-property", "sasl.password=env:KAFKA_PW",
                    "--kafka-property", f"ssl.key.password=file:{tmp_path / 'token'}")
    config = kafka.source_config()
    kwargs = config.client.client_kwargs()
    assert kwargs["sasl_plain_password"] == "s3cret-from-env"
    assert kwargs["ssl_password"] == "s3cret-from-file"  # the flag overrides the file
    assert kwargs["sasl_plain_username"] == "svc" and kwargs["sasl_mechanism"] == "PLAIN"
    shown = [repr(config), str(config), repr(config.client.describe()),
             repr(kafka.get_all_options())]
    caplog.set_level(logging.INFO)
    logging.getLogger("test").info("config", extra={"client": config.client.describe()})
    shown.append(caplog.text)
    for text in shown:
        assert "s3cret" not in text
    assert config.client.describe()["sasl_plain_password"] == "**********"


def test_sink_config_ignores_consumer_only_properties():
    kafka = options("--topic", "t", "--kafka-property", "fetch.max.bytes=1000",
                    "--kafka-property", "compression.type=gzip")
    assert kafka.source_config().client.properties == {"fetch_max_bytes": 1000}
    sink = kafka.sink_config()
    assert sink.client.properties == {"compression_type": "gzip"}
    producer = sink.producer_kwargs()
    assert producer["acks"] == "all" and producer["enable_idempotence"] is True
    assert set(producer) <= set(KafkaProducer.DEFAULT_CONFIG)


def test_a_property_unknown_to_both_clients_is_refused():
    assert "compression_type" not in KafkaConsumer.DEFAULT_CONFIG
    with pytest.raises(ValueError, match="unknown Kafka property"):
        options("--topic", "t", "--kafka-property", "bogus.key=1").sink_config()


def test_plan_ranges_is_pure_and_chunks_bounded_ranges():
    facts = {("t", 0): PartitionFacts(earliest=0, end=10, committed=4),
             ("t", 1): PartitionFacts(earliest=5, end=8, committed=None),
             ("t", 2): PartitionFacts(earliest=0, end=0)}
    committed_to_now = plan_ranges(facts, parse_start("committed"), parse_stop("now"),
                                   max_records_per_range=4)
    assert committed_to_now == [
        PartitionRange("t", 0, 4, 8), PartitionRange("t", 0, 8, 10),
        PartitionRange("t", 1, 5, 8), PartitionRange("t", 2, 0, 0)]
    latest = plan_ranges(facts, parse_start("latest"), parse_stop("never"))
    assert [(r.start, r.stop) for r in latest] == [(10, None), (8, None), (0, None)]
    later = plan_ranges(facts, parse_start("latest"), parse_stop("never"),
                        discovered_later=True)
    assert [r.start for r in later] == [0, 5, 0], "a partition found later starts at its beginning"
    only_listed = plan_ranges(facts, parse_start("offsets:t:0=2"), parse_stop("offsets:t:0=6"))
    assert [(r.partition, r.start, r.stop) for r in only_listed] == [
        (0, 2, 6), (1, 5, 5), (2, 0, 0)]


def test_native_transforms_from_options():
    flags = ["--topic", "t", "--bootstrap-servers", "127.0.0.1:1"]
    assert isinstance(source_from_options(PipelineOptions(flags)), ReadFromKafka)


def test_xlang_construction_only():
    """--kafka-io=xlang builds Beam's Java KafkaIO transforms with our settings. Only
    construction is tested: expansion needs the Java expansion-service jar from Maven
    Central, which this environment cannot download."""
    flags = ["--kafka-io", "xlang", "--topic", "news", "--bootstrap-servers", "k:9092",
             "--start", "timestamp:2026-01-01T00:00:00Z", "--timestamp-policy", "create-time",
             "--kafka-property", "security.protocol=SASL_SSL",
             "--kafka-property", "sasl.mechanism=PLAIN",
             "--kafka-property", "sasl.username=svc"]
    source = source_from_options(PipelineOptions(flags))
    assert isinstance(source, XlangReadFromKafka)
    kwargs = xlang_read_kwargs(PipelineOptions(flags).view_as(KafkaOptions).source_config())
    assert kwargs["topics"] == ["news"] and kwargs["timestamp_policy"] == "CreateTime"
    assert kwargs["start_read_time"] == 1767225600000 and kwargs["with_metadata"]
    consumer = kwargs["consumer_config"]
    assert consumer["bootstrap.servers"] == "k:9092" and consumer["group.id"] == "newsbeam"
    assert consumer["security.protocol"] == "SASL_SSL"
    assert 'username="svc"' in consumer["sasl.jaas.config"]
    assert kwargs["commit_offset_in_finalize"] is True
    java = JavaReadFromKafka(**kwargs)  # builds the expansion payload, no Java needed yet
    assert b"k:9092" in java._payload and b"CreateTime" in java._payload
    sink = XlangWriteToKafka(PipelineOptions(flags).view_as(KafkaOptions).sink_config(),
                             "articles")
    assert sink.producer_config["acks"] == "all"
    assert sink.producer_config["enable.idempotence"] == "true"


@pytest.mark.parametrize("flags", [["--topic-pattern", "n.*"], ["--topic", "t", "--stop", "now"],
                                   ["--topic", "t", "--start", "offsets:t:0=1"]])
def test_xlang_refuses_what_kafkaio_python_cannot_do(flags):
    config = options(*flags).source_config()
    with pytest.raises(ValueError, match="xlang"):
        xlang_read_kwargs(config)


def test_config_is_frozen_and_validated():
    config = KafkaSourceConfig(topics=("t",))
    with pytest.raises(ValueError):
        config.group_id = "other"
    with pytest.raises(ValueError, match="regular expression"):
        KafkaSourceConfig(topic_pattern="([")
    assert KafkaClientSettings().bootstrap_servers == "127.0.0.1:9092"


def test_secrets_travel_as_references_and_resolve_where_clients_are_made(tmp_path,
                                                                          monkeypatch):
    """Only the reference is pickled into the DoFns; the value is read when a client is
    created (on the worker), so a rotated secret is picked up by new clients."""
    monkeypatch.setenv("KAFKA_PW", "first-s3cret")
    props = tmp_path / "client.properties"
    props.write_text("ssl.key.password=literal-s3cret\n")
    config = options("--topic", "t", "--kafka-property", "sasl.password=env:KAFKA_PW",
                     "--kafka-property-file", str(props)).source_config()
    pickled = pickle.dumps(config) + cloudpickle.dumps(ReadFromKafka(config))
    assert b"s3cret" not in pickled
    assert config.client.client_kwargs()["ssl_password"] == "literal-s3cret"
    monkeypatch.setenv("KAFKA_PW", "rotated-s3cret")
    assert pickle.loads(pickle.dumps(config)).client.client_kwargs()[
        "sasl_plain_password"] == "rotated-s3cret"
    monkeypatch.delenv("KAFKA_PW")
    with pytest.raises(ValueError, match="KAFKA_PW"):
        config.client.client_kwargs()


def test_ssl_endpoint_identification_maps_to_hostname_checking():
    on = options("--topic", "t", "--kafka-property",
                 "ssl.endpoint.identification.algorithm=https").source_config()
    off = options("--topic", "t", "--kafka-property",
                  "ssl.endpoint.identification.algorithm=").source_config()
    assert on.client.properties["ssl_check_hostname"] is True
    assert off.client.properties["ssl_check_hostname"] is False


def test_one_property_list_makes_every_kind_of_client(monkeypatch):
    """Consumer, producer and admin client are made from one ``KafkaClientSettings``:
    each gets the properties it knows, secrets resolved when it is made."""
    monkeypatch.setenv("KAFKA_PW", "s3cret")
    client = options("--topic", "t", "--kafka-property", "client.id=nb",
                     "--kafka-property", "fetch.max.bytes=1000",
                     "--kafka-property", "security.protocol=SASL_PLAINTEXT",
                     "--kafka-property", "sasl.mechanism=PLAIN",
                     "--kafka-property", "sasl.password=env:KAFKA_PW").source_config().client
    for kind in (KafkaConsumer, KafkaProducer, KafkaAdminClient):
        kwargs = client.kwargs_for(kind, request_timeout_ms=40000)
        assert set(kwargs) <= set(kind.DEFAULT_CONFIG), kind.__name__
        assert kwargs["client_id"] == "nb" and kwargs["sasl_plain_password"] == "s3cret"
        assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
        assert kwargs["request_timeout_ms"] == 40000
    assert client.kwargs_for(KafkaConsumer)["fetch_max_bytes"] == 1000
    assert "fetch_max_bytes" not in client.kwargs_for(KafkaAdminClient)


def test_kafka_clients_are_made_only_by_the_settings_module():
    """Every command reaches a secured cluster the same way only if every client comes
    from ``connectors/kafka/settings.py``: no other module of the app or the connectors
    calls a kafka-python client constructor."""
    clients = {"KafkaConsumer", "KafkaProducer", "KafkaAdminClient"}
    root = REPO
    found = []
    for path in sorted([*(root / "connectors").rglob("*.py"), *(root / "newsbeam").rglob("*.py")]):
        if path == root / "connectors" / "kafka" / "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if name in clients:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {name}()")
    assert found == []
