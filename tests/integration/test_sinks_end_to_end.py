"""`newsbeam run` writing to Kafka and Avro files at once; every route read back from both,
on the embedded broker and on Apache Kafka (where the route topics are created first).

Then the dead-letter loop a user runs: `newsbeam inspect` the dead-letter topic, fix the
payload, `newsbeam produce` it again, and the next run delivers the fixed article.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from connectors.article_files import expand_paths, iter_file_values
from connectors.kafka.settings import KafkaClientSettings
from connectors.kafka.topics import message_key, read_topic
from connectors.sinks import topic_for
from newsbeam.cli import main
from schemas.models import Article, DeadLetter
from schemas.routes import ROUTES
from tests.support import REPO
from tests.support.broker import create_topic, create_topics
from tests.support.librdkafka import produce_acked
from tests.support.routes import read_routes, source_positions

BROKEN = b'{"id": "broken-1", "url": "https://x.example/broken", "title": "Wind farm", "body": ""}'


def _key(record: dict) -> tuple:
    return record["id"], json.dumps(record["provenance"], sort_keys=True, default=str)


def _sorted(records: list[dict]) -> list[dict]:
    return sorted(records, key=_key)


def _topics_by_route(bootstrap: str, template: str) -> dict[str, list[dict]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    existing = consumer.topics()
    consumer.close()
    found = {}
    for route in ROUTES:
        topic = topic_for(template, route)
        if topic in existing:
            found[route] = [m.record for m in read_topic(KafkaClientSettings(bootstrap_servers=bootstrap), topic)]
    return {route: records for route, records in found.items() if records}


def _run(bootstrap: str, topic: str, template: str, out: Path) -> None:
    code = main(["run", "--bootstrap-servers", bootstrap, "--topic", topic,
                 "--group-id", f"{topic}-group", "--stop", "drained:3",
                 "--sink", f"kafka:{template}", "--sink", f"avro:{out}"])
    assert code == 0


def _inspect(capsys: pytest.CaptureFixture, *args: str) -> list[dict]:
    capsys.readouterr()
    assert main(["inspect", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_both_sinks_hold_every_route_and_a_fixed_dead_letter_is_republished(
        any_broker, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bootstrap = any_broker.bootstrap_servers
    topic = create_topic(bootstrap, 2, "sinks-in")
    template, out = f"{topic}.out.{{route}}", tmp_path / "out"
    create_topics(bootstrap, [topic_for(template, route) for route in ROUTES])
    values = [v for path in expand_paths([str(REPO / "seeds")]) for _, v in iter_file_values(path)]
    acked = produce_acked(bootstrap, topic, [*values, b"\xff not utf-8", BROKEN],
                          key=message_key)

    _run(bootstrap, topic, template, out)

    files = {route: _sorted(records) for route, records in read_routes(out).items()}
    topics = {route: _sorted(records) for route, records in
              _topics_by_route(bootstrap, template).items()}
    assert set(files) >= {"dead_letter", "untagged", "duplicates"}
    assert topics == files, "every route holds the same records in Kafka and in files"
    # every acknowledged offset, and no other, is in a route (or a dead letter)
    assert source_positions(files) == set(acked)

    # `inspect` prints the same JSON for a topic and for the files of its route.
    for route in files:
        from_topic = _inspect(capsys, f"kafka://{bootstrap}/{topic_for(template, route)}")
        from_files = _inspect(capsys, str(out / route))
        assert sorted(map(json.dumps, from_topic)) == sorted(map(json.dumps, from_files))

    # The dead-letter loop: read the letter from Kafka, fix the payload, re-publish.
    letters = _inspect(capsys, "--bootstrap-servers", bootstrap,
                       f"kafka:{topic_for(template, 'dead_letter')}")
    assert {d["error_class"] for d in letters} >= {"InvalidUtf8", "ValidationError"}
    # (the seeds carry dead letters of their own: find ours by its payload)
    broken = next(d for d in letters if d["payload"].encode() == BROKEN)
    assert broken["error_class"] == "ValidationError" and broken["stage"] == "parse"
    fixed = json.loads(broken["payload"]) | {
        "body": "The harbour wind farm came online on Monday, delivering electricity to the "
                "grid through a new subsea cable, the operator said."}
    fixed_file = tmp_path / "fixed.jsonl"
    fixed_file.write_text(json.dumps(fixed) + "\n", encoding="utf-8")
    assert main(["produce", "--bootstrap-servers", bootstrap, "--topic", topic,
                 str(fixed_file)]) == 0

    _run(bootstrap, topic, template, out)  # same group: only the re-published message is new

    delivered = [Article.model_validate(r)
                 for route, records in _topics_by_route(bootstrap, template).items()
                 if route != "dead_letter" for r in records if r["id"] == "broken-1"]
    assert delivered and all(a.body.startswith("The harbour wind farm") for a in delivered)
    in_files = [r for route, records in read_routes(out).items() if route != "dead_letter"
                for r in records if r["id"] == "broken-1"]
    assert len(in_files) == len(delivered)
    letters_after = [DeadLetter.model_validate(m.record) for m in
                     read_topic(KafkaClientSettings(bootstrap_servers=bootstrap), topic_for(template, "dead_letter"))]
    assert len(letters_after) == len(letters), "the fix produced no new failure"
