"""End-to-end latency at a steady offered rate: produce timestamp to sink write.

The streaming pipeline runs in its own process (``newsbeam run``); this process publishes
at a fixed rate, each record stamped with its Kafka CreateTime. A record's latency is the
modification time of the Avro file that holds it (files are complete when renamed into
place) minus that timestamp.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kafka import KafkaProducer

from connectors.avro_files import list_avro_files, read_avro_records
from connectors.kafka.settings import KafkaClientSettings
from connectors.kafka.topics import ensure_topic

__all__ = ["measure_latency", "percentile"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def measure_latency(bootstrap: str, values: list[bytes], rate: float = 100.0,
                    topic: str = "bench-latency", extra_args: tuple[str, ...] = ()) -> dict:
    ensure_topic(KafkaClientSettings(bootstrap_servers=bootstrap), topic, partitions=3)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        pipeline = subprocess.Popen(
            [sys.executable, "-m", "newsbeam.cli", "run", "--bootstrap-servers", bootstrap,
             "--topic", topic, "--group-id", "bench-latency", "--start", "earliest",
             "--stop", "drained:8", "--output-dir", str(out), "--progress-interval", "3600",
             *extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
        time.sleep(4.0)  # let the pipeline start and assign its partitions
        started = time.monotonic()
        for index, value in enumerate(values):
            due = started + index / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            producer.send(topic, value=value)
        producer.flush()
        offered = len(values) / (time.monotonic() - started)
        producer.close()
        code = pipeline.wait(timeout=300)
        latencies = []
        for path in list_avro_files(str(out)):
            written = Path(path).stat().st_mtime
            for record in read_avro_records(path):
                stamp = record["provenance"]["timestamp"]
                if stamp is not None:
                    latencies.append(written - stamp.timestamp())
    if code != 0 or not latencies:
        raise RuntimeError(f"latency run failed (exit {code}, {len(latencies)} records)")
    return {"records": len(values), "offered_rate": offered, "delivered_records": len(latencies),
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99), "max": max(latencies)}
