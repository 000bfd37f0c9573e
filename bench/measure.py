"""One measurement per process, so peak memory (ru_maxrss) belongs to that measurement alone.

``python -m bench.measure KIND --bootstrap-servers H:P --topic T --records N`` prints one
JSON object: records, seconds, rate (records/s), peak_rss_mb, and kind-specific fields
(plain_loop and streaming: ``routes``, records per route, and ``duplicates``, the articles
routed to the duplicates route, so the two can be checked to decide alike).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _read_topic(bootstrap: str, topic: str, records: int) -> list:
    """At least ``records`` records from the start of every partition, with kafka-python
    alone: whole ``ConsumerRecord``s (topic, partition, offset, timestamp, key, headers,
    value), in the order the polls returned them."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             max_partition_fetch_bytes=8 * 1024 * 1024)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    read: list = []
    while len(read) < records:
        for batch in consumer.poll(timeout_ms=1000, max_records=2000).values():
            read.extend(batch)
    consumer.close()
    return read


def _with_duplicates(result: dict) -> dict:
    """``result`` with ``duplicates``: the articles routed to the duplicates route."""
    from schemas.routes import DUPLICATES_ROUTE

    return result | {"duplicates": result["routes"].get(DUPLICATES_ROUTE, 0)}


def raw_consume(bootstrap: str, topic: str, records: int) -> dict:
    """kafka-python alone: assign every partition, read from the start until N records."""
    started = time.perf_counter()
    seen = len(_read_topic(bootstrap, topic, records))
    seconds = time.perf_counter() - started
    return {"records": seen, "seconds": seconds, "rate": seen / seconds}


def plain_loop(bootstrap: str, topic: str, records: int) -> dict:
    """The stage functions without Beam, over the same records (read first, not timed)."""
    from bench.plain_loop import run_plain_loop

    return _with_duplicates(run_plain_loop(_read_topic(bootstrap, topic, records)))


def _newest_mtime(out: Path) -> float:
    return max(p.stat().st_mtime for p in out.rglob("*.avro"))


def streaming(bootstrap: str, topic: str, records: int, extra: list[str] | None = None) -> dict:
    """``newsbeam run`` on the DirectRunner from the start of the topic until drained.

    The rate counts from the start of the run to the last file written, so the idle time
    the drained stop waits for is not counted; pipeline start-up is.
    """
    from newsbeam.jobs import run_streaming

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        started_wall = time.time()
        summary = run_streaming([
            "--bootstrap-servers", bootstrap, "--topic", topic, "--group-id", f"bench-{os.getpid()}",
            "--start", "earliest", "--stop", "drained:3", "--output-dir", str(out),
            "--progress-interval", "3600", *(extra or [])])
        seconds = _newest_mtime(out) - started_wall
    return _with_duplicates({"records": summary.records_in, "seconds": seconds,
                             "rate": summary.records_in / seconds, "routes": summary.routes})


def streaming_prism(bootstrap: str, topic: str, records: int) -> dict:
    """The same streaming run on Beam's Prism runner (built with Go, ``newsbeam.prism``),
    with what newsbeam turns on there: event-time dedup, commits after the sinks."""
    return streaming(bootstrap, topic, records, ["--runner", "PrismRunner"])


def streaming_flink(bootstrap: str, topic: str, records: int) -> dict:
    """The same streaming run on Beam's portable Flink runner (an embedded mini-cluster,
    the job server from ``newsbeam.flink``), as ``tests/integration/test_flink.py`` runs it:
    checkpoints every second (offsets are committed when one completes), parallelism 2, the
    SDK worker in this process. Peak RSS is this process's only: the JVM is not counted.
    Flink keeps the Impulse source alive for checkpoints, and once it shuts down no bundle
    is finalized (``newsbeam.flink``), so its idle timeout must outlast the read: 60 ms a
    record (the read runs at more than 17 records/s); the rate ends at the last file."""
    from newsbeam.flink import resolve_flink_job_server

    return streaming(bootstrap, topic, records, [
        "--runner", "FlinkRunner", "--flink_master", "[local]", "--streaming",
        "--environment_type", "LOOPBACK", "--checkpointing_interval", "1000",
        "--shutdown_sources_after_idle_ms", str(max(15000, 60 * records)), "--parallelism", "2",
        "--flink_job_server_jar", resolve_flink_job_server()])


KINDS = {"raw_consume": raw_consume, "plain_loop": plain_loop, "streaming": streaming,
         "streaming_prism": streaming_prism, "streaming_flink": streaming_flink}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--records", type=int, required=True)
    args = parser.parse_args(argv)
    result = KINDS[args.kind](args.bootstrap_servers, args.topic, args.records)
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
