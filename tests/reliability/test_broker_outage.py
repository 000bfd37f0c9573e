"""Broker outage: the network to Kafka is cut for 30 s mid-stream; the pipeline recovers.

The broker advertises a TCP proxy's address, so the pipeline, the producer and every
connection metadata hands out go through it. While articles flow, the proxy resets every
open connection, and each new one, for ``OUTAGE_SECONDS``; then it forwards again. The run
(``--stop drained:6``) must notice, retry with backoff, resume by itself, drain and exit 0,
with every produced offset in a route.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from connectors.kafka.settings import KafkaClientSettings
from connectors.kafka.topics import ensure_topic
from tests.support.broker import proxied_broker
from tests.support.proxy import TcpProxy

from .harness import LiveProducer, PipelineRun, audit, run_args, tail, write_figures

OUTAGE_SECONDS = 30.0


@pytest.fixture()
def proxy() -> Iterator[TcpProxy]:
    with proxied_broker() as running:
        yield running


def _log_times(log: Path, needle: str) -> list[float]:
    times = []
    for line in log.read_text(errors="replace").splitlines():
        if needle in line and line.startswith("{"):
            try:
                times.append(datetime.fromisoformat(json.loads(line)["ts"]).timestamp())
            except (ValueError, KeyError):
                continue
    return times


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_thirty_second_broker_outage_mid_stream_loses_nothing(
        proxy: TcpProxy, tmp_path: Path) -> None:
    topic, out, log = "outage", tmp_path / "out", tmp_path / "run.log"
    ensure_topic(KafkaClientSettings(bootstrap_servers=proxy.address), topic, 2)
    producer = LiveProducer(proxy.address, topic, rate=20, seed=7, run="outage",
                            request_timeout_ms=10000, max_block_ms=60000,
                            reconnect_backoff_max_ms=500).start()
    run = PipelineRun(run_args(proxy.address, topic, out, "outage", "--start", "earliest",
                               "--stop", "drained:6"), log)
    try:
        deadline = time.monotonic() + 60
        while proxy.bytes_down < 100_000:  # the pipeline is fetching articles: mid-stream
            assert time.monotonic() < deadline, f"the pipeline never read\n{tail(log)}"
            assert run.process.poll() is None, tail(log)
            time.sleep(0.2)
        time.sleep(2.0)
        producer.paused.set()
        time.sleep(0.3)
        cut_at, fetched_before_cut = time.time(), proxy.bytes_down
        proxy.cut()
        time.sleep(OUTAGE_SECONDS)
        assert run.process.poll() is None, f"the pipeline died during the outage\n{tail(log)}"
        proxy.restore()
        restored_at = time.time()
        acked_before = len(producer.acked)
        producer.paused.clear()
        while len(producer.acked) < acked_before + 40:  # articles flow again
            assert time.monotonic() < deadline + 120, "the producer did not resume"
            time.sleep(0.1)
    finally:
        produced = producer.stop()
    code = run.wait(timeout=120)
    finished_at = time.time()
    assert code == 0, tail(log)

    result = audit(out, topic)
    missing = result.missing(produced)
    failures = [t for t in _log_times(log, "kafka unreachable") if t >= cut_at]
    recoveries = [t for t in _log_times(log, "reachable again") if t >= restored_at - 1]
    write_figures("broker_outage", {
        "outage_seconds": OUTAGE_SECONDS, "produced": len(produced),
        "fetched_before_cut_bytes": fetched_before_cut,
        "offsets_found": len(result.ids_by_offset), "records_read": result.records,
        "lost": len(missing), "retries_logged": len(failures),
        "recovered_after_restore_s": round(recoveries[0] - restored_at, 1) if recoveries else None,
        "run_end_after_restore_s": round(finished_at - restored_at, 1)})
    assert failures, "the outage was not noticed (no 'kafka unreachable' warning)"
    assert recoveries, "no 'reachable again' log after the network came back"
    assert not missing, f"{len(missing)} produced offsets are in no route"
    assert set(result.ids_by_offset) == produced
