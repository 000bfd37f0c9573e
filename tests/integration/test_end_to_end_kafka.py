"""Produce -> `newsbeam run` (streaming, DirectRunner) -> Avro files read back and checked,
on the embedded broker and on Apache Kafka.

The input is produced with librdkafka: its delivery reports are the offsets expected."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from connectors.article_files import expand_paths, iter_file_values
from connectors.kafka.topics import message_key
from newsbeam.cli import main
from newsbeam.demo import run_demo
from schemas.models import Article, DeadLetter
from tests.support import REPO
from tests.support.broker import create_topic
from tests.support.librdkafka import produce_acked
from tests.support.routes import read_routes, source_positions


def test_run_reads_every_produced_offset_into_a_route(any_broker, tmp_path: Path) -> None:
    bootstrap = any_broker.bootstrap_servers
    topic = create_topic(bootstrap, 3, "e2e-articles")
    values = [value for path in expand_paths([str(REPO / "seeds")]) for _, value in iter_file_values(path)]
    values.append(b"\xff not utf-8")
    values.append(json.dumps({"url": "https://x.example/1", "body": ""}).encode())
    acked = produce_acked(bootstrap, topic, values, key=message_key)
    out = tmp_path / "out"

    code = main(["run", "--bootstrap-servers", bootstrap, "--topic", topic,
                 "--group-id", f"e2e-{topic}", "--start", "earliest", "--stop", "drained:3",
                 "--output-dir", str(out)])
    assert code == 0

    routes = read_routes(out)
    # every acknowledged offset, and no other, ends in an output or dead-letter route
    assert source_positions(routes) == set(acked)
    letters = [DeadLetter.model_validate(r) for r in routes.pop("dead_letter", [])]
    articles = [Article.model_validate(r) for records in routes.values() for r in records]
    assert {d.error_class for d in letters} >= {"InvalidUtf8", "ValidationError"}
    assert all(a.provenance.topic == topic and a.body for a in articles)
    assert all("Kommentar (0)" not in a.body for a in articles)


def test_demo_publishes_the_seeds_and_prints_the_summary(tmp_path: Path, capsys) -> None:
    shutil.copytree(REPO / "seeds", tmp_path / "seeds")
    assert run_demo(tmp_path) == 0
    printed = capsys.readouterr().out
    assert "records in" in printed and "route duplicates" in printed
    assert read_routes(tmp_path / "out")
