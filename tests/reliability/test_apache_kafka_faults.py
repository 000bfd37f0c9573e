"""Broker faults on Apache Kafka, a broker that keeps its data on disk (issue 16).

Each trial starts its own single-node Apache Kafka (KRaft, ``ApacheKafkaBroker``) on a
temporary log dir, so killing it leaves the session's shared broker alone.

* Restart: while articles flow, the broker gets SIGKILL (no shutdown, no flush of its own)
  and is started again on the same log dir and port. The running ``newsbeam run
  --stop drained:6`` must notice, retry, resume by itself, drain and exit 0, with every
  acknowledged offset in exactly the routes its article takes (no loss, no second copy).
* Partition added live: Kafka's own ``kafka-topics.sh --alter --partitions 3``
  (``org.apache.kafka.tools.TopicCommand``) grows the topic while a run reads the other
  two partitions; the records produced into the new partition must reach the routes of
  that same run. The partition comes 20 s into a ``--stop drained:6`` run: a drained
  run must keep looking for partitions while records still arrive.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from random import Random

import pytest
from kafka import KafkaProducer

from connectors.kafka.settings import KafkaClientSettings
from connectors.kafka.topics import ensure_topic
from tests.support.routes import read_routes

from .harness import (
    CommittedOffsets,
    LiveProducer,
    PipelineRun,
    article_value,
    audit,
    run_args,
    tail,
    write_figures,
)
from .test_broker_outage import _log_times

DOWN_SECONDS = 10.0  # between the SIGKILL and the restart (the restart itself adds more)
GROW_AFTER_SECONDS = 20.0  # the partition is added this long after the run started
TOPIC_COMMAND = "org.apache.kafka.tools.TopicCommand"  # what kafka-topics.sh runs
# The test's producer buffers and retries through the broker's absence.
PATIENT_PRODUCER = {"request_timeout_ms": 10000, "max_block_ms": 60000,
                    "reconnect_backoff_max_ms": 500}


@pytest.fixture()
def kafka(tmp_path: Path) -> Iterator:
    """A broker of this test's own, on a log dir the test may restart it on."""
    from newsbeam.kafka_broker import ApacheKafkaBroker
    from tests.support.jvm import require_java

    require_java()
    (tmp_path / "kafka").mkdir()
    broker = ApacheKafkaBroker(log_dir=tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _wait_mid_stream(committed: CommittedOffsets, run: PipelineRun, minimum: int,
                     timeout: float = 90.0) -> None:
    """Until the run has committed ``minimum`` offsets: it is reading and writing."""
    deadline = time.monotonic() + timeout
    while sum(committed.read().values()) < minimum:
        assert time.monotonic() < deadline, f"the pipeline never committed\n{tail(run.log)}"
        assert run.process.poll() is None, tail(run.log)
        time.sleep(0.3)


def _wait_acked(producer: LiveProducer, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(producer.acked) < count:
        assert time.monotonic() < deadline, "the producer did not get its articles acked"
        time.sleep(0.1)


def _assert_each_offset_in_exactly_its_routes(out: Path, topic: str,
                                              produced: set[tuple[int, int]]) -> None:
    """Every produced offset is in the routes its record names (an article with two tags
    in two routes, a duplicate in ``duplicates``), once in each, and nowhere else; a dead
    letter only in ``dead_letter``."""
    result = audit(out, topic)
    missing = result.missing(produced)
    assert not missing, f"{len(missing)} of {len(produced)} produced offsets are in no route"
    assert set(result.ids_by_offset) == produced, "records for offsets nobody produced"
    assert not result.conflicting, f"offsets under two ids: {list(result.conflicting)[:5]}"
    found: dict[tuple[int, int], list[str]] = {}
    declared: dict[tuple[int, int], list[str]] = {}
    for route, records in read_routes(out).items():
        for record in records:
            position = (record["provenance"]["partition"], record["provenance"]["offset"])
            found.setdefault(position, []).append(route)
            declared[position] = record.get("routes") or [route]
    wrong = {p: (sorted(found[p]), sorted(declared[p])) for p in found
             if sorted(found[p]) != sorted(declared[p])}
    assert not wrong, (f"{len(wrong)} offsets not exactly once in their routes "
                       f"(found, declared): {list(wrong.items())[:5]}")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_sigkilled_broker_restarted_on_its_data_loses_nothing(kafka, tmp_path: Path) -> None:
    topic, out, log = "news", tmp_path / "out", tmp_path / "run.log"
    ensure_topic(KafkaClientSettings(bootstrap_servers=kafka.bootstrap_servers), topic, 2)
    producer = LiveProducer(kafka.bootstrap_servers, topic, rate=20, seed=16,
                            run="kafka-restart", **PATIENT_PRODUCER).start()
    run = PipelineRun(run_args(kafka.bootstrap_servers, topic, out, "kafka-restart",
                               "--start", "earliest", "--stop", "drained:6"), log)
    committed = CommittedOffsets(kafka.bootstrap_servers, "kafka-restart", topic, 2)
    try:
        try:
            _wait_mid_stream(committed, run, minimum=60)
        finally:
            committed.close()
        producer.paused.set()
        time.sleep(1.0)  # in-flight sends acked: a send lost with the broker is not retried
        acked_before_kill = len(producer.acked)
        killed_at = time.time()
        kafka.kill()
        time.sleep(DOWN_SECONDS)
        assert run.process.poll() is None, f"the pipeline died with the broker\n{tail(log)}"
        kafka.start()  # same log dir, same ports
        back_at = time.time()
        producer.paused.clear()
        _wait_acked(producer, acked_before_kill + 60)  # articles flow again
    finally:
        produced = producer.stop()
    code = run.wait(timeout=120)
    finished_at = time.time()
    assert code == 0, tail(log)

    failures = [t for t in _log_times(log, "kafka unreachable") if t >= killed_at]
    resumed = {}  # partition -> seconds from the restart to its 'reachable again'
    for line in log.read_text(errors="replace").splitlines():
        if "reachable again" in line and line.startswith("{"):
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["ts"]).timestamp()
            if at >= killed_at:
                resumed.setdefault(entry["partition"], round(at - back_at, 1))
    result = audit(out, topic)
    write_figures("apache_kafka_restart", {
        "broker": "apache-kafka", "fault": "SIGKILL, restart on the same log dir and port",
        "produced": len(produced), "produced_before_kill": acked_before_kill,
        "offsets_found": len(result.ids_by_offset), "records_read": result.records,
        "lost": len(result.missing(produced)), "redelivered_copies": result.redelivered,
        "seconds_down": round(back_at - killed_at, 1), "retries_logged": len(failures),
        "recovered_after_restart_s": min(resumed.values(), default=None),
        "all_partitions_resumed_after_restart_s": max(resumed.values(), default=None),
        "run_end_after_restart_s": round(finished_at - back_at, 1)})
    assert failures, "the dead broker was not noticed (no 'kafka unreachable' warning)"
    assert resumed, "no 'reachable again' log after the broker came back"
    assert acked_before_kill < len(produced), "nothing was produced after the restart"
    _assert_each_offset_in_exactly_its_routes(out, topic, produced)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_partition_added_with_kafka_topics_is_read_by_the_running_job(
        kafka, tmp_path: Path) -> None:
    topic, out, log = "news", tmp_path / "out", tmp_path / "run.log"
    bootstrap = kafka.bootstrap_servers
    ensure_topic(KafkaClientSettings(bootstrap_servers=bootstrap), topic, 2)
    producer = LiveProducer(bootstrap, topic, rate=20, seed=17, run="kafka-grow",
                            **PATIENT_PRODUCER).start()
    started_at = time.time()
    run = PipelineRun(run_args(bootstrap, topic, out, "kafka-grow", "--start", "earliest",
                               "--stop", "drained:6", "--discovery-interval-seconds", "1"),
                      log)
    committed = CommittedOffsets(bootstrap, "kafka-grow", topic, 2)
    added: list[tuple[int, int]] = []
    try:
        try:
            _wait_mid_stream(committed, run, minimum=60)
        finally:
            committed.close()
        while time.time() - started_at < GROW_AFTER_SECONDS:
            time.sleep(0.2)
        assert run.process.poll() is None, tail(log)
        added_at = time.time()
        kafka.tool(TOPIC_COMMAND, "--bootstrap-server", bootstrap, "--alter", "--topic",
                   topic, "--partitions", "3")
        described = kafka.tool(TOPIC_COMMAND, "--bootstrap-server", bootstrap, "--describe",
                               "--topic", topic)
        assert "PartitionCount: 3" in described, described
        extra, rng = KafkaProducer(bootstrap_servers=bootstrap, acks="all"), Random(17)
        try:
            for serial in range(40):
                meta = extra.send(topic, partition=2, value=article_value(
                    rng, serial, "kafka-grow-p2")).get(timeout=30)
                added.append((meta.partition, meta.offset))
                time.sleep(0.05)
        finally:
            extra.close(timeout=10)
        time.sleep(3.0)  # the old partitions keep flowing a while longer
    finally:
        produced = producer.stop()
    code = run.wait(timeout=120)
    assert code == 0, tail(log)

    discovered = [t for t in _log_times(log, "partitions discovered") if t >= added_at]
    result = audit(out, topic)
    read_from_new = {p for p in result.ids_by_offset if p[0] == 2}
    written_to_new = {p for p in produced | set(added) if p[0] == 2}
    write_figures("apache_kafka_partition_added", {
        "broker": "apache-kafka", "tool": "kafka-topics.sh --alter --partitions 3",
        "discovery_interval_seconds": 1.0,
        "added_after_run_start_s": round(added_at - started_at, 1),
        "produced_by_live_producer": len(produced), "produced_new_partition": len(added),
        "new_partition_offsets_found": len(read_from_new),
        "lost": len(result.missing(produced | set(added))),
        "discovered_after_add_s": round(discovered[0] - added_at, 1) if discovered else None})
    assert len(added) == 40 and all(p == 2 for p, _ in added)
    assert discovered, f"the running job never logged the new partition\n{tail(log)}"
    assert read_from_new == written_to_new, (
        f"{len(written_to_new - read_from_new)} of {len(written_to_new)} records of the added "
        "partition are in no route")
    _assert_each_offset_in_exactly_its_routes(out, topic, produced | set(added))
