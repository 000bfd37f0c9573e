"""`newsbeam replay` on the embedded broker and on Apache Kafka: exact ranges, DirectRunner
and Dask (2 worker processes) with equal outputs, reruns that replace their output, and
replay equivalence with a streaming run over the same records."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.article_files import expand_paths, iter_file_values
from connectors.kafka.settings import KafkaClientSettings
from connectors.kafka.topics import message_key, publish_values
from newsbeam.cli import main
from tests.support import REPO
from tests.support.broker import create_topic
from tests.support.librdkafka import produce_acked
from tests.support.routes import comparable_records, source_positions


def _seed_values() -> list[bytes]:
    values = [value for path in expand_paths([str(REPO / "seeds")])
              for _, value in iter_file_values(path)]
    first = json.loads(values[0])
    # an exact copy under another id and URL, and two inputs that must become dead letters
    values.append(json.dumps(first | {"id": "exact-copy", "url": "https://copy.example/a"}).encode())
    values += [b"\xff not utf-8", json.dumps({"url": "https://x.example/1", "body": ""}).encode()]
    return values


def _replay(bootstrap: str, topic: str, *args: str) -> list[str]:
    return ["replay", "--bootstrap-servers", bootstrap, "--topic", topic, "--no-progress", *args]


def test_dry_run_prints_splits_and_counts_and_plans_exact_ranges(any_broker, capsys) -> None:
    bootstrap = any_broker.bootstrap_servers
    client = KafkaClientSettings(bootstrap_servers=bootstrap)
    topic = create_topic(bootstrap, 2, "replay-plan")
    before = publish_values(client, topic,
                            [json.dumps({"id": f"a{i}", "url": f"https://a.example/{i}",
                                         "body": "text"}).encode() for i in range(7)])
    time.sleep(0.05)
    boundary = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    publish_values(client, topic,
                   [json.dumps({"id": f"b{i}", "url": f"https://b.example/{i}",
                                "body": "text"}).encode() for i in range(5)])

    assert main(_replay(bootstrap, topic, "--from", "earliest", "--to", "now",
                        "--split-records", "2", "--dry-run")) == 0
    printed = capsys.readouterr().out
    assert "12 records" in printed.splitlines()[0]
    assert f"{topic}[0]  offsets [0," in printed and f"{topic}[1]  offsets [0," in printed
    splits = [line for line in printed.splitlines() if line.strip().startswith(f"{topic}[")
              and "@" in line]
    assert splits and all(int(line.split()[-2]) <= 2 for line in splits)

    # --to a time: exactly the records stamped before it, whatever was published after
    assert main(_replay(bootstrap, topic, "--from", "earliest", "--to", boundary, "--dry-run")) == 0
    assert f"{before} records" in capsys.readouterr().out.splitlines()[0]

    # --from/--to offsets: only the partitions and offsets named
    assert main(_replay(bootstrap, topic, "--from", f"offsets:{topic}:0=1",
                        "--to", f"offsets:{topic}:0=3", "--dry-run")) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == "1 splits, 2 records"
    assert f"{topic}[0]@[1,3)" in printed and f"{topic}[1]" not in printed


def test_replay_on_direct_and_dask_runners_writes_equal_outputs_and_reruns_replace_them(
        any_broker, tmp_path: Path, capsys) -> None:
    bootstrap = any_broker.bootstrap_servers
    topic = create_topic(bootstrap, 3, "replay-runners")
    acked = set(produce_acked(bootstrap, topic, _seed_values(), key=message_key))
    direct, dask = tmp_path / "direct", tmp_path / "dask"
    common = ("--from", "earliest", "--to", "now", "--split-records", "2")

    assert main(_replay(bootstrap, topic, *common, "--output-dir", str(direct),
                        "--direct_num_workers", "2", "--direct_running_mode",
                        "multi_processing")) == 0
    assert f"replayed {len(acked)} records" in capsys.readouterr().out
    assert main(_replay(bootstrap, topic, *common, "--output-dir", str(dask),
                        "--runner", "DaskRunner", "--dask-workers", "2")) == 0
    assert f"replayed {len(acked)} records" in capsys.readouterr().out

    on_direct, on_dask = comparable_records(direct), comparable_records(dask)
    assert source_positions(on_direct) == acked, "every acknowledged offset of the range"
    assert on_dask == on_direct, "DirectRunner and DaskRunner replays differ"
    assert {"duplicates", "dead_letter"} <= set(on_direct)
    assert any("exact-copy" in group for group in _exact_groups(on_direct))

    # Rerun the same range after new records arrived: same files, same records (the new
    # records are outside the range, and deterministic names replace the old files).
    files = sorted(p.relative_to(direct) for p in direct.rglob("*.avro") if ".tmp" not in p.parts)
    ends = ",".join(f"{topic}:{p}={max(o for q, o in acked if q == p) + 1}"
                    for p in sorted({p for p, _ in acked}))
    publish_values(KafkaClientSettings(bootstrap_servers=bootstrap), topic, _seed_values()[:2])
    assert main(_replay(bootstrap, topic, "--from", "earliest", "--to", f"offsets:{ends}",
                        "--output-dir", str(direct))) == 0
    capsys.readouterr()
    assert sorted(p.relative_to(direct) for p in direct.rglob("*.avro")
                  if ".tmp" not in p.parts) == files
    assert comparable_records(direct) == on_direct


def _decisions(records: dict[str, list[dict]]) -> dict[str, tuple]:
    """Per article id: clean body, language, tags, duplicate decision."""
    out = {}
    for route, rows in records.items():
        if route == "dead_letter":
            continue
        for r in rows:
            out[r["id"]] = (r["body"], r["language"], tuple(t["tag"] for t in r["topics"]),
                            r["duplicate_of"], r["duplicate_kind"], r["duplicate_similarity"],
                            tuple((x["id"], x["relation"]) for x in r["related"]))
    return out


def _exact_groups(records: dict[str, list[dict]]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for r in records.get("duplicates", []):
        if r["duplicate_kind"] == "exact_body":
            groups.setdefault(r["duplicate_of"], {r["duplicate_of"]}).add(r["id"])
    return {frozenset(g) for g in groups.values()}


@pytest.mark.slow
def test_replay_of_a_streamed_range_yields_the_streamedcomparable_records(
        any_broker, tmp_path: Path, capsys) -> None:
    # One partition: the streaming run saw the records in offset order, and so does the
    # replay, so even order-dependent decisions (near duplicates, site chrome) must agree.
    bootstrap = any_broker.bootstrap_servers
    topic = create_topic(bootstrap, 1, "replay-equivalence")
    acked = set(produce_acked(bootstrap, topic, _seed_values(), key=message_key))
    streamed, replayed = tmp_path / "streamed", tmp_path / "replayed"

    assert main(["run", "--bootstrap-servers", bootstrap, "--topic", topic,
                 "--group-id", f"g-{topic}", "--start", "earliest",
                 "--stop", "drained:3", "--output-dir", str(streamed)]) == 0
    assert main(_replay(bootstrap, topic, "--from", "earliest", "--to", "now",
                        "--split-records", "3", "--output-dir", str(replayed))) == 0
    capsys.readouterr()

    stream_records, replay_records = comparable_records(streamed), comparable_records(replayed)
    assert source_positions(replay_records) == source_positions(stream_records) == acked
    assert {route: [r["id"] for r in rows] for route, rows in replay_records.items()} == \
        {route: [r["id"] for r in rows] for route, rows in stream_records.items()}
    assert _decisions(replay_records) == _decisions(stream_records)
    assert _exact_groups(replay_records) == _exact_groups(stream_records) != set()
    assert any(kind == "near_duplicate" for *_, kind, _, _ in
               _decisions(stream_records).values()), "the seeds hold a near copy"
    assert replay_records == stream_records  # everything else too, record for record


def test_progress_bar_counts_each_split_once_and_shows_rate_and_eta(tmp_path: Path) -> None:
    import io

    from connectors.kafka.planning import PartitionRange
    from newsbeam.replay import ProgressBar, ProgressLedger

    ledger = ProgressLedger(str(tmp_path))
    first, second = PartitionRange("t", 0, 0, 6), PartitionRange("t", 0, 6, 10)
    screen = io.StringIO()
    bar = ProgressBar(ledger, total=10, file=screen, interval=0.05)
    bar.start()
    ledger(first, 3, False)
    time.sleep(0.2)
    ledger(first, 6, True)
    ledger(second, 4, False)
    ledger(second, 4, True)  # a retried split rewrites its entry: counted once
    time.sleep(0.2)
    bar.stop()
    assert ledger.records_read({}) == 10
    shown = screen.getvalue()
    assert "3/10" in shown and "10/10" in shown and "rec/s" in shown and "<" in shown
    assert "dedup, tag, write" in shown
