"""``make bench``: throughput, latency and memory of newsbeam against baselines, one run.

Starts the embedded broker, publishes a realistic corpus (``bench.corpus``), then measures
in this order, each in its own process: raw kafka-python consumption (the client's
ceiling), the stage functions in a plain loop (the cost of the work), the streaming
pipeline on the in-process runner, on Prism and on Flink, replay on 1 and 2 workers (Dask)
and parallelism 1 and 2 (Flink), end-to-end latency at a steady offered rate, and the
per-stage micro-benchmarks against their anchors. Figures are ratios within this run; ``bench/RESULTS.md`` gets the table and the
machine description.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.corpus import EVAL_DIR, make_corpus
from bench.latency import measure_latency
from connectors.kafka.settings import KafkaClientSettings
from connectors.kafka.topics import ensure_topic, publish_values
from newsbeam.broker import EmbeddedBroker

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _measure(kind: str, bootstrap: str, topic: str, records: int) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.measure", kind, "--bootstrap-servers", bootstrap,
         "--topic", topic, "--records", str(records)],
        capture_output=True, text=True, timeout=900, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def _micro(name: str, argv: list[str]) -> str:
    """Run a per-stage benchmark's ``main`` and keep what it printed."""
    module = __import__(f"bench.{name}", fromlist=["main"])
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        module.main(argv)
    return buffer.getvalue().strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--latency-records", type=int, default=1500)
    parser.add_argument("--skip-micro", action="store_true")
    args = parser.parse_args(argv)

    started = time.monotonic()
    values = make_corpus(args.records)
    size = sum(map(len, values)) / len(values)
    rows: dict[str, dict] = {}
    notes: list[str] = []
    with EmbeddedBroker() as broker:
        bootstrap, topic = broker.bootstrap_servers, "bench-articles"
        ensure_topic(KafkaClientSettings(bootstrap_servers=bootstrap), topic, partitions=4)
        publish_values(KafkaClientSettings(bootstrap_servers=bootstrap,
                                           properties={"max_request_size": 16 * 1024 * 1024}),
                       topic, values)
        print(f"published {len(values)} articles (mean {size:.0f} bytes)", flush=True)
        for kind in ("raw_consume", "plain_loop", "streaming", "streaming_prism",
                     "streaming_flink"):
            rows[kind] = _measure(kind, bootstrap, topic, len(values))
            print(f"{kind}: {rows[kind]['rate']:.1f} records/s, peak {rows[kind]['peak_rss_mb']:.0f} MB"
                  + (f", {_duplicates(rows[kind])} duplicates" if "duplicates" in rows[kind] else ""),
                  flush=True)
        notes.extend(_dedup_agreement(rows))
        notes.append(_dedup_on_one_partition(bootstrap, values))
        print(notes[-1], flush=True)
        try:
            from bench.bench_replay import measure_replay
        except ImportError:
            notes.append("replay: bench.bench_replay.measure_replay not available")
        else:
            for name, result in measure_replay(bootstrap, topic, len(values), direct=True).items():
                rows[name] = result
                print(f"{name}: {result['rate']:.1f} records/s", flush=True)
        latencies = []
        # The default bundle (1 s per partition) favours fewer, larger files; short bundles
        # trade file count for latency.
        for rate, bundle in ((100.0, "1.0"), (100.0, "0.15"), (50.0, "1.0")):
            result = measure_latency(bootstrap, make_corpus(args.latency_records, seed=11),
                                     rate=rate, topic=f"bench-latency-{rate:.0f}-{bundle}",
                                     extra_args=("--bundle-seconds", bundle))
            latencies.append(result | {"bundle_seconds": bundle})
            print(f"latency at {result['offered_rate']:.0f}/s, --bundle-seconds {bundle}: "
                  f"p50 {result['p50']:.2f}s p95 {result['p95']:.2f}s p99 {result['p99']:.2f}s",
                  flush=True)
    micro = {} if args.skip_micro else {
        "cleaning (vs trafilatura, jusText)": _micro("bench_clean", []),
        "dedup (vs datasketch MinHashLSH)": _micro("bench_dedup", ["--docs", "5000"]),
        "language + tagging (vs regex per term)": _micro("bench_tagging", []),
        "quality: dev vs held-out folds vs anchors": _micro("quality", []),
    }
    report = _report(rows, latencies, micro, notes, len(values), size, time.monotonic() - started)
    RESULTS.write_text(report, encoding="utf-8")
    print(report)
    return 0


def _duplicates(row: dict) -> str:
    """``row``'s duplicates route count and its share of the records read, or ``n/a``."""
    if "duplicates" not in row:
        return "n/a"
    return f"{row['duplicates']} ({100 * row['duplicates'] / max(1, row['records']):.1f} %)"


def _dedup_agreement(rows: dict) -> list[str]:
    """A note when the plain loop and the streaming run route different numbers of duplicates.

    Both decide on the same records and Kafka timestamps, but first-seen-wins decisions
    follow arrival order: the plain loop takes the partitions in poll order (mostly one
    after another), the streaming run interleaves them bundle by bundle, so a near copy
    can be the canonical in one and the duplicate in the other.
    """
    loop, stream = rows.get("plain_loop", {}), rows.get("streaming", {})
    if "duplicates" not in loop or "duplicates" not in stream:
        return []
    if loop["duplicates"] == stream["duplicates"] and loop["records"] == stream["records"]:
        return []
    return [f"duplicates differ: plain loop {_duplicates(loop)} of {loop['records']} records, "
            f"streaming {_duplicates(stream)} of {stream['records']} (same records and Kafka "
            "timestamps; first-seen-wins follows arrival order, which interleaves the "
            "partitions differently)"]


def _dedup_on_one_partition(bootstrap: str, values: list[bytes]) -> str:
    """Issue 21: the plain loop and ``newsbeam run`` must do the same dedup work. On one
    partition both see Kafka's order, so their duplicates must be equal; a line saying so.

    On several partitions first-seen-wins follows how a reader interleaves them (the plain
    loop partition by partition, the pipeline bundle by bundle), and near copies of
    different stories in different partitions can then swap canonical and duplicate, so
    the 4-partition counts above may differ by a few without either path being wrong.
    """
    topic = "bench-articles-one-partition"
    ensure_topic(KafkaClientSettings(bootstrap_servers=bootstrap), topic, partitions=1)
    publish_values(KafkaClientSettings(bootstrap_servers=bootstrap,
                                       properties={"max_request_size": 16 * 1024 * 1024}),
                   topic, values)
    loop, stream = (_measure(kind, bootstrap, topic, len(values))
                    for kind in ("plain_loop", "streaming"))
    verdict = ("agree" if (loop["duplicates"], loop["records"])
               == (stream["duplicates"], stream["records"]) else "DIFFER (a defect)")
    return (f"dedup on one partition (same order for both): plain loop "
            f"{_duplicates(loop)}, streaming {_duplicates(stream)} duplicates: {verdict}")


def _ratio(rows: dict, a: str, b: str) -> str:
    if a in rows and b in rows:
        return f"{rows[a]['rate'] / rows[b]['rate']:.2f}"
    return "n/a"


def _report(rows: dict, latencies: list[dict], micro: dict, notes: list[str], records: int,
            size: float, seconds: float) -> str:
    lines = [
        "# newsbeam benchmark results", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {_machine()}; {seconds:.0f} s in all.",
        f"Corpus: {records} articles, mean {size:.0f} bytes, built by `bench/corpus.py` from "
        f"`seeds/`{' and the development sets (read at run time)' if EVAL_DIR.exists() else ''}; "
        "about 15 % republished or edited copies, 5 % HTML pages. Broker: embedded Tansu.", "",
        "Duplicates: articles routed to `duplicates` (share of the records read). The plain "
        "loop and the streaming run decide on the same records and Kafka timestamps (the "
        "dedup clock); on a multi-partition topic they may differ by a few, because "
        "first-seen-wins follows arrival order and the two interleave partitions differently.",
        "",
        "| measurement | records/s | peak RSS (MB) | duplicates |", "|---|---:|---:|---:|",
    ]
    for name, row in rows.items():
        peak = f"{row['peak_rss_mb']:.0f}" if "peak_rss_mb" in row else "n/a (several processes)"
        lines.append(f"| {name} | {row['rate']:.1f} | {peak} | {_duplicates(row)} |")
    lines += [
        "", "Ratios (targets in parentheses):", "",
        f"- streaming / plain loop: {_ratio(rows, 'streaming', 'plain_loop')} (>= 0.5: Beam overhead <= 2x)",
        f"- streaming / raw consume: {_ratio(rows, 'streaming', 'raw_consume')}",
        f"- streaming on Prism / in-process: {_ratio(rows, 'streaming_prism', 'streaming')} "
        "(Prism: one source element for all partitions, dedup held for the watermark, "
        "commits after the sinks)",
        f"- streaming on Flink / in-process: {_ratio(rows, 'streaming_flink', 'streaming')} "
        "(embedded mini-cluster, parallelism 2, checkpoints every second, SDK worker in the "
        "launching process; the time includes the job server's start)",
        f"- replay 2 workers / 1 worker (Dask): {_ratio(rows, 'replay_dask_2', 'replay_dask_1')} (>= 1.6)",
        f"- replay parallelism 2 / 1 (Flink, SDK workers from Beam's worker pool): "
        f"{_ratio(rows, 'replay_flink_2', 'replay_flink_1')} (>= 1.6)",
        f"- replay Flink / Dask, 2 each: {_ratio(rows, 'replay_flink_2', 'replay_dask_2')}",
        f"- replay Dask 1 worker / DirectRunner: {_ratio(rows, 'replay_dask_1', 'replay_direct_1')}",
        "",
        "End-to-end latency, produce timestamp to sink file (target p99 < 2 s at 100/s):", "",
    ]
    lines += [f"- {lat['offered_rate']:.0f} articles/s offered, `--bundle-seconds {lat['bundle_seconds']}` "
              f"({lat['delivered_records']} routed "
              f"records): p50 {lat['p50']:.2f} s, p95 {lat['p95']:.2f} s, p99 {lat['p99']:.2f} s, "
              f"max {lat['max']:.2f} s" for lat in latencies]
    lines.append("")
    lines += [f"- {note}" for note in notes]
    for title, text in micro.items():
        lines += [f"## {title}", "", "```", text, "```", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
