"""The command line as a user meets it: what each command's ``--help`` offers, the same
Kafka connection flags on every command that talks to Kafka (against the embedded
broker, checked with a plain kafka-python consumer), a pipe closed early, and bad input
ending in one line and exit code 2."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import fastavro
import pytest
from kafka import KafkaConsumer, TopicPartition

from newsbeam.broker import EmbeddedBroker
from newsbeam.cli import _build_parser, main
from tests.support import REPO

NEWSBEAM = [sys.executable, "-m", "newsbeam.cli"]
CONNECTION_FLAGS = ("--bootstrap-servers", "--kafka-property", "--kafka-property-file")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = _build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _help(command: str, capsys, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(("command", "flags"), [
    ("produce", [*CONNECTION_FLAGS, "--topic", "--partitions"]),
    ("inspect", [*CONNECTION_FLAGS, "--metadata", "--schema-registry-url", "--timeout"]),
    ("run", [*CONNECTION_FLAGS, "--topic", "--group-id", "--start", "--stop", "--sink",
             "--output-dir", "--dedup-bands", "--kafka-io"]),
    ("process", [*CONNECTION_FLAGS, "--input", "--sink", "--output-dir", "--dedup-bands",
                 "--kafka-io"]),
    ("replay", [*CONNECTION_FLAGS, "--topic", "--from", "--to", "--dry-run", "--sink",
                "--dedup-bands", "--dedup-rows", "--dedup-threshold"]),
    ("broker", ["--port"]),
])
def test_help_of_each_command_shows_the_flags_it_takes(command, flags, capsys, monkeypatch):
    shown = _help(command, capsys, monkeypatch)
    assert [flag for flag in flags if flag not in shown] == []
    assert "examples:" in shown


def test_process_help_says_it_can_write_to_kafka(capsys, monkeypatch):
    shown = _help("process", capsys, monkeypatch)
    sink = next(a for a in _subcommands()["process"]._actions if "--sink" in a.option_strings)
    assert "kafka:" in sink.help and "kafka:articles.{route}" in shown
    assert "--kafka-property" in shown and "--kafka-property-file" in shown


def test_the_connection_flags_are_one_declaration_on_every_kafka_command():
    def declared(parser: argparse.ArgumentParser) -> dict[str, tuple]:
        return {option: (a.dest, a.default, a.help, type(a).__name__)
                for a in parser._actions for option in a.option_strings
                if option in CONNECTION_FLAGS}

    commands = _subcommands()
    expected = declared(commands["run"])
    assert set(expected) == set(CONNECTION_FLAGS)
    for name in ("produce", "inspect", "process", "replay"):
        assert declared(commands[name]) == expected, name
    assert declared(commands["broker"]) == {} and declared(commands["demo"]) == {}


def _oracle_read(bootstrap: str, topic: str, count: int) -> dict[tuple[int, int], tuple]:
    """(partition, offset) -> (key, value), read with a plain kafka-python consumer."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        seen: dict[tuple[int, int], tuple] = {}
        deadline = time.monotonic() + 30
        while len(seen) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                seen.update({(m.partition, m.offset): (m.key, m.value) for m in batch})
        return seen
    finally:
        consumer.close()


@pytest.mark.timeout(120)
def test_produce_and_inspect_reach_the_broker_with_the_kafka_connection_flags(
        tmp_path: Path, capsys) -> None:
    articles = [{"id": f"cli-{i}", "url": f"https://cli.example/{i}", "title": f"Story {i}",
                 "body": f"Body of story {i}."} for i in range(7)]
    lines = [json.dumps(article).encode() for article in articles]
    source = tmp_path / "articles.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    properties = tmp_path / "client.properties"
    properties.write_text("# one file for every command\nreconnect.backoff.ms=100\n"
                          "fetch.max.bytes=1048576\n")  # consumer-only: produce skips it
    connection = ["--kafka-property", "client.id=newsbeam-cli-test",
                  "--kafka-property", "request.timeout.ms=40000",
                  "--kafka-property-file", str(properties)]
    topic = "cli-articles"
    with EmbeddedBroker() as broker:
        servers = broker.bootstrap_servers
        assert main(["produce", "--bootstrap-servers", servers, *connection,
                     "--topic", topic, "--partitions", "2", str(source)]) == 0
        assert capsys.readouterr().out.strip() == f"published 7 messages to {topic}"
        stored = _oracle_read(servers, topic, len(lines))
        assert sorted(value for _, value in stored.values()) == sorted(lines)
        assert {key for key, _ in stored.values()} == {a["id"].encode() for a in articles}

        # JSON articles are not Avro: inspect reports each message by position, prints none.
        expected = {f"{topic}[{partition}]@{offset}" for partition, offset in stored}
        for argv in (["inspect", "--bootstrap-servers", servers, *connection, f"kafka:{topic}"],
                     ["inspect", *connection, f"kafka://{servers}/{topic}"]):
            assert main(argv) == 1
            captured = capsys.readouterr()
            assert captured.out == ""
            reported = {line.split(":")[0] for line in captured.err.splitlines()
                        if line.startswith(topic)}
            assert reported == expected


def _write_avro_files(folder: Path, files: int, rows: int) -> None:
    schema = fastavro.parse_schema({"type": "record", "name": "Row", "fields": [
        {"name": "n", "type": "int"}, {"name": "text", "type": "string"}]})
    for index in range(files):
        with open(folder / f"part-{index}.avro", "wb") as handle:
            fastavro.writer(handle, schema, [{"n": index * rows + n, "text": "x" * 300}
                                             for n in range(rows)])


@pytest.mark.timeout(120)
def test_inspect_into_a_pipe_closed_early_ends_without_a_traceback(tmp_path: Path) -> None:
    _write_avro_files(tmp_path, files=3, rows=500)  # ~470 KB of JSON: more than a pipe holds
    inspect = subprocess.Popen([*NEWSBEAM, "inspect", str(tmp_path)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.Popen(["head", "-1"], stdin=inspect.stdout, stdout=subprocess.PIPE)
    inspect.stdout.close()  # only head reads it now: its exit closes the pipe
    first, _ = head.communicate(timeout=90)
    errors = inspect.stderr.read().decode()
    inspect.stderr.close()
    assert inspect.wait(timeout=90) == 1
    assert json.loads(first) == {"n": 0, "text": "x" * 300}
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors


def _one_line_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"newsbeam {argv[0]}: error: ")
    return lines[0]


def test_a_bad_kafka_source_is_one_line_and_exit_2(capsys) -> None:
    assert "kafka://HOST:PORT/TOPIC" in _one_line_error(["inspect", "kafka://127.0.0.1:1"],
                                                        capsys)


def test_a_literal_secret_flag_is_refused_in_one_line_without_echoing_it(tmp_path, capsys):
    message = _one_line_error(["produce", "--topic", "t", "--kafka-property",
                               "sasl.password=hunter2", str(tmp_path)], capsys)
    assert "env:" in message and "hunter2" not in message


def test_an_unknown_property_is_refused_in_one_line(capsys) -> None:
    message = _one_line_error(["inspect", "--kafka-property", "no.such.thing=1", "kafka:t"],
                              capsys)
    assert "unknown Kafka property 'no.such.thing'" in message


def test_run_without_a_topic_says_what_to_add(tmp_path, capsys) -> None:
    assert "--topic" in _one_line_error(["run", "--output-dir", str(tmp_path)], capsys)


def test_demo_outside_the_repository_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert "no seeds/ folder" in _one_line_error(["demo"], capsys)
