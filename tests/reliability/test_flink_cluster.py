"""Flink failover on a real Flink session cluster (``newsbeam.flink_cluster``: a JobManager
and a TaskManager as processes of their own), with state: one streaming job, articles
flowing throughout, recovers twice.

1. The TaskManager is SIGKILLed mid-stream and a new one started: Flink restores the job
   from its last completed checkpoint (Flink's REST API says which).
2. The job is stopped with a savepoint (``flink stop``), and ``newsbeam run ...
   --savepoint_path`` resumes it from there while the topic kept growing.

Oracles: the producer's acknowledgements (which offsets exist), the Avro files read back
(every offset in a route, under one id), Flink's own checkpoint statistics (restored from
which checkpoint or savepoint), and exact copies of articles read before each recovery,
published after it: they are routed as duplicates only if the dedup state was restored
(a restart from committed offsets with empty state would keep them as new stories).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from newsbeam.broker import EmbeddedBroker
from newsbeam.flink_cluster import FlinkSessionCluster
from tests.support.routes import read_routes

from .harness import (
    LiveProducer,
    PipelineRun,
    article_value,
    audit,
    new_topic,
    publish,
    run_args,
    tail,
    write_figures,
)

SEED = 20261205


def _copy_of(value: bytes, new_id: str) -> bytes:
    article = json.loads(value)
    return json.dumps(article | {"id": new_id, "url": f"https://copies.example/{new_id}"}).encode()


def _wait(what: str, condition, timeout: float, run: PipelineRun) -> float:
    started = time.monotonic()
    while not condition():
        assert run.process.poll() is None, f"newsbeam run exited while waiting for {what}:\n" \
                                           f"{tail(run.log)}"
        assert time.monotonic() - started < timeout, f"no {what} within {timeout:.0f} s"
        time.sleep(0.5)
    return time.monotonic() - started


def _on_disk(out: Path, topic: str, offsets: set[tuple[int, int]]) -> bool:
    return offsets <= set(audit(out, topic).ids_by_offset)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_flink_cluster_restores_state_from_a_checkpoint_and_from_a_savepoint(
        broker: EmbeddedBroker, flink_job_server: str, tmp_path: Path) -> None:
    bootstrap = broker.bootstrap_servers
    rng = random.Random(SEED)
    topic = new_topic(bootstrap, "flink-cluster", partitions=2)
    out, group = tmp_path / "out", "flink-cluster"
    originals = [article_value(rng, i, "original") for i in range(2)]
    original_offsets = publish(bootstrap, topic, originals)
    # its own seed: with the originals' seed its first articles would be near-copies of them
    producer = LiveProducer(bootstrap, topic, rate=15, seed=SEED + 1, run="flink-cluster").start()
    figures: dict = {"checkpoint_interval_ms": 1000, "parallelism": 2}
    with FlinkSessionCluster(tmp_path / "flink", job_server_jar=flink_job_server) as cluster:
        flags = ("--runner", "FlinkRunner", "--flink_master", cluster.master, "--streaming",
                 "--environment_type", "LOOPBACK", "--checkpointing_interval", "1000",
                 "--parallelism", "2", "--flink_job_server_jar", flink_job_server)
        first = PipelineRun(run_args(bootstrap, topic, out, group, "--start", "earliest",
                                     "--stop", "never", *flags), tmp_path / "run-1.log")
        try:
            job = cluster.running_job()
            _wait("originals on disk and a completed checkpoint",
                  lambda: _on_disk(out, topic, set(original_offsets))
                  and cluster.checkpoints(job)["latest"]["completed"] is not None, 120, first)
            time.sleep(3)  # articles keep flowing and checkpoints keep completing

            # 1. SIGKILL the TaskManager; a new one takes over from the last checkpoint
            [taskmanager] = cluster.taskmanagers()
            on_disk_at_kill = audit(out, topic).records
            cluster.kill(taskmanager)
            killed_at = time.time()
            cluster.start_taskmanager()
            _wait("restore from a checkpoint",
                  lambda: cluster.checkpoints(job)["latest"]["restored"] is not None, 120, first)
            restored = cluster.checkpoints(job)["latest"]["restored"]
            assert restored["is_savepoint"] is False
            copy_1 = publish(bootstrap, topic, [_copy_of(originals[0], "copy-after-failover")])
            _wait("the copy published after the failover on disk",
                  lambda: _on_disk(out, topic, set(copy_1)), 120, first)
            figures["taskmanager_kill"] = {
                "records_on_disk_at_kill": on_disk_at_kill,
                "restored_checkpoint": restored["id"],
                "seconds_to_restore": round(restored["restore_timestamp"] / 1000 - killed_at, 1)}

            # 2. stop with a savepoint; the topic grows while the job is down
            savepoint = cluster.stop_with_savepoint(job)
            assert first.wait(timeout=90) == 0, tail(first.log)
            copy_2 = publish(bootstrap, topic, [_copy_of(originals[1], "copy-after-savepoint")])
            time.sleep(3)
        finally:
            if first.process.poll() is None:
                first.kill()
        stopped_at = time.monotonic()
        second = PipelineRun(run_args(bootstrap, topic, out, group, "--start", "earliest",
                                      "--stop", "never", *flags, "--savepoint_path", savepoint),
                             tmp_path / "run-2.log")
        try:
            resumed = cluster.running_job()
            assert resumed != job
            restored = cluster.checkpoints(resumed)["latest"]["restored"]
            assert restored is not None and restored["is_savepoint"] is True, restored
            assert restored["external_path"].rstrip("/").endswith(Path(savepoint).name)
            produced = producer.stop()
            produced |= set(original_offsets) | set(copy_1) | set(copy_2)
            _wait("every produced offset on disk", lambda: _on_disk(out, topic, produced),
                  180, second)
            figures["savepoint"] = {"path": Path(savepoint).name,
                                    "seconds_down_to_all_on_disk":
                                        round(time.monotonic() - stopped_at, 1)}
        finally:
            second.kill()

    result = audit(out, topic)
    copies = {r["id"]: (route, r["duplicate_of"]) for route, records in read_routes(out).items()
              for r in records if r.get("id", "").startswith("copy-")}
    figures |= {"produced": len(produced), "offsets_found": len(result.ids_by_offset),
                "lost": len(result.missing(produced)), "redelivered_copies": result.redelivered,
                "conflicting_ids": len(result.conflicting), "copies_routed": copies}
    write_figures("flink_cluster_restore", figures)
    assert not result.missing(produced), f"{len(result.missing(produced))} offsets lost"
    assert not result.conflicting
    assert set(result.ids_by_offset) == produced
    original_ids = [json.loads(v)["id"] for v in originals]
    # the dedup state came back both times: each copy is a duplicate of its original
    assert copies == {"copy-after-failover": ("duplicates", original_ids[0]),
                      "copy-after-savepoint": ("duplicates", original_ids[1])}, copies
