"""``newsbeam run --runner FlinkRunner`` (local Flink: Beam's job server with an embedded
mini-cluster, the SDK worker in this process) against the embedded broker and Apache
Kafka, next to the default in-process FnApiRunner on the same topic.

Oracles as in ``test_prism.py``: the producer's acknowledgements (librdkafka) say which
offsets exist, a librdkafka consumer reads the group's committed offsets. Partition 0 holds
the seeds in file order, partition 1 two undecodable values and three unrelated articles.

The job server comes from ``newsbeam.flink`` (cached, else assembled with Maven: about a
minute the first time); without Java or Maven the test is skipped, unless
``NEWSBEAM_REQUIRE_JAVA=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from apache_beam.runners.portability.flink_runner import FlinkRunner
from confluent_kafka import OFFSET_INVALID

from newsbeam.cli import main
from tests.support.flink import FLINK_FLAGS
from tests.support.routes import comparable_records, decisions_by_route, source_positions
from tests.support.runner_topic import (
    committed,
    lone,
    produce_runner_topic,
    route_table,
    run_drained,
)

TOPIC = "flink-articles"


@pytest.fixture
def produced(any_broker) -> dict[tuple[int, int], bytes]:
    """``{(partition, offset): value}`` of every acknowledged record of ``TOPIC``, on each
    broker in turn (the embedded one, then Apache Kafka)."""
    return produce_runner_topic(any_broker.bootstrap_servers, TOPIC)


def _run(broker, out: Path, group: str, *runner: str) -> None:
    run_drained(broker.bootstrap_servers, TOPIC, out, group, *runner)


def _committed(broker, group: str) -> dict[int, int]:
    return committed(broker.bootstrap_servers, group, TOPIC)


@pytest.mark.slow
def test_run_on_flink_routes_and_commits_like_the_in_process_runner(
        any_broker, produced: dict[tuple[int, int], bytes], flink_job_server: str,
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _run(any_broker, tmp_path / "fnapi", "flink-test-fnapi")
    started = time.monotonic()
    with caplog.at_level(logging.ERROR):
        _run(any_broker, tmp_path / "flink", "flink-test-flink", *FLINK_FLAGS,
             "--flink_job_server_jar", flink_job_server)
    assert time.monotonic() - started < 120, "the Flink run took over two minutes"

    on_fnapi, on_flink = route_table(tmp_path / "fnapi"), route_table(tmp_path / "flink")
    # every acknowledged offset is in exactly one route, on each runner
    for table in (on_fnapi, on_flink):
        offsets = set(table["_offsets"]) | set(table["dead_letter"])
        assert offsets == set(produced)
        assert len(table["_offsets"]) + len(table["dead_letter"]) == len(produced)
    assert on_flink["dead_letter"] == on_fnapi["dead_letter"]
    # Articles with no copy route alike (copies are decided first-seen-wins in the order
    # the keyed dedup step receives them, which Flink's shuffle does not keep).
    copies = {a for table in (on_flink, on_fnapi)
              for pair in table.get("duplicates", {}).items() for a in pair}
    assert lone(on_flink, copies) == lone(on_fnapi, copies), \
        "Flink routes differently from the in-process runner"
    assert len(lone(on_flink, copies)) >= 8
    assert on_flink.get("duplicates") and on_fnapi.get("duplicates")
    assert all(of is not None for of in on_flink["duplicates"].values())

    # committed = the offset after each partition's last acknowledged record
    ends = {p: max(o for q, o in produced if q == p) + 1 for p in (0, 1)}
    assert _committed(any_broker, "flink-test-flink") == ends
    assert _committed(any_broker, "flink-test-fnapi") == ends

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [e for e in errors if "finalizable" in e], errors
    # each finished job's job server (a JVM) is gone, not kept until this process exits
    assert not _job_servers_of_this_process()


def _job_servers_of_this_process() -> list[str]:
    import psutil

    return [" ".join(child.cmdline()) for child in psutil.Process().children(recursive=True)
            if any("job-server" in part for part in child.cmdline())]


def test_flink_runner_gets_the_cached_job_server(flink_job_server: str) -> None:
    """``resolve_runner`` hands Beam newsbeam's job server, so Beam downloads nothing."""
    from apache_beam.options.pipeline_options import FlinkRunnerOptions, PipelineOptions

    from newsbeam.runners import resolve_runner

    options = PipelineOptions(["--runner", "FlinkRunner"])
    assert isinstance(resolve_runner(options), FlinkRunner)
    assert options.view_as(FlinkRunnerOptions).flink_job_server_jar == flink_job_server
    given = PipelineOptions(["--runner", "FlinkRunner", "--flink_job_server_jar", "/x.jar"])
    resolve_runner(given)
    assert given.view_as(FlinkRunnerOptions).flink_job_server_jar == "/x.jar"


@pytest.mark.slow
def test_replay_as_a_bounded_flink_job_equals_the_direct_runner_replay(
        broker, flink_job_server: str, tmp_path: Path, capsys) -> None:
    """``newsbeam replay --runner FlinkRunner``: the same range as a bounded (batch) job on
    Flink, parallelism 2, writes the very records the DirectRunner replay writes (the
    stateful stages see each key in Kafka order on both: ``pipeline.stateful_order``).
    Batch Flink has no bundle finalization, and a replay needs none: it commits no offsets
    (its range is planned before the job starts), so the group's offsets stay unset."""
    topic = "flink-replay"
    produced = produce_runner_topic(broker.bootstrap_servers, topic)
    common = ["replay", "--bootstrap-servers", broker.bootstrap_servers, "--topic", topic,
              "--group-id", "flink-replay", "--from", "earliest", "--to", "now",
              "--split-records", "2", "--no-progress"]
    assert main([*common, "--output-dir", str(tmp_path / "direct")]) == 0
    assert main([*common, "--output-dir", str(tmp_path / "flink"), "--runner", "FlinkRunner",
                 "--flink_master", "[local]", "--parallelism", "2",
                 "--environment_type", "LOOPBACK", "--flink_job_server_jar",
                 flink_job_server]) == 0
    assert f"replayed {len(produced)} records" in capsys.readouterr().out.splitlines()[-1]
    on_direct, on_flink = (comparable_records(tmp_path / d) for d in ("direct", "flink"))
    assert source_positions(on_flink) == set(produced)
    assert on_flink == on_direct, "the Flink replay differs from the DirectRunner replay"
    assert {"duplicates", "dead_letter"} <= set(on_flink)
    assert set(committed(broker.bootstrap_servers, "flink-replay", topic).values()) == {
        OFFSET_INVALID}, "a replay committed offsets"


def test_a_given_job_endpoint_needs_no_job_server_here(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/flink's launcher runs under Flink's ``FlinkPortableClientEntryPoint``, which
    passes ``--job_endpoint``: Beam then starts no job server, and the image has no job
    server cache and no Maven, so resolving one there would stop the job before it
    starts. Without the endpoint the same machine gets newsbeam's "no job server" error."""
    from apache_beam.options.pipeline_options import FlinkRunnerOptions, PipelineOptions

    from newsbeam.flink import FlinkUnavailable
    from newsbeam.runners import resolve_runner

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    options = PipelineOptions(["--runner", "FlinkRunner", "--job_endpoint", "localhost:8099"])
    assert isinstance(resolve_runner(options), FlinkRunner)
    assert options.view_as(FlinkRunnerOptions).flink_job_server_jar is None
    assert options.get_all_options()["finish_bundle_before_checkpointing"] is True
    with pytest.raises(FlinkUnavailable):
        resolve_runner(PipelineOptions(["--runner", "FlinkRunner"]))


@pytest.mark.slow
def test_event_time_dedup_on_flink_decides_copies_as_a_replay_of_the_range_does(
        broker, flink_job_server: str, tmp_path: Path) -> None:
    """``--dedup-order event-time`` on Flink (the auto choice there is arrival order):
    dedup holds each article until the watermark passes it and decides in Kafka time /
    partition / offset order. The demo's topic, the seeds over three partitions by key;
    the oracle is ``newsbeam replay`` of the same range (another code path, as in
    ``test_prism.py``). Every record must also be released: a hold the watermark never
    passed would leave articles in no route."""
    from tests.support.runner_topic import produce_copies_topic, replay_decisions

    topic = "flink-copies"
    produce_copies_topic(broker.bootstrap_servers, topic)
    run_drained(broker.bootstrap_servers, topic, tmp_path / "flink", "flink-copies",
                *FLINK_FLAGS, "--flink_job_server_jar", flink_job_server,
                "--dedup-order", "event-time")
    on_flink = decisions_by_route(tmp_path / "flink")
    assert on_flink == replay_decisions(broker.bootstrap_servers, topic, tmp_path / "replay")
    assert len(on_flink["duplicates"]) == 3  # the seeds' copies, counted by hand
