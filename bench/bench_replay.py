"""Replay throughput on 1 and 2 Dask workers, Flink parallelism 1 and 2 (and the
DirectRunner), same topic, one run.

``measure_replay(bootstrap, topic, records)`` is what ``python -m bench`` calls: it
replays the whole topic (``--from earliest --to now``) once per worker count, each in its
own process: on Dask with a fresh ``LocalCluster`` of that many worker processes, on Flink
as a bounded job on the embedded mini-cluster with that parallelism and SDK workers from
Beam's worker pool (a process per slot); it returns ``{"replay_dask_1": {...},
"replay_flink_2": {...}, ...}`` with records/s. The time is the pipeline's (planning
excluded; Dask's cluster start-up excluded, Flink's job server start-up included).

Standalone: ``python -m bench.bench_replay [--records 2000] [--direct]`` starts the
embedded broker, publishes the benchmark corpus and prints the rates and the ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

__all__ = ["main", "measure_replay", "replay_once"]


def replay_once(bootstrap: str, topic: str, runner: str, workers: int,
                split_records: int, pool: str = "") -> dict:
    """One replay in this process; ``{"rate", "records", "seconds", ...}``."""
    from newsbeam.replay import run_replay

    with tempfile.TemporaryDirectory(prefix="bench-replay-") as out:
        argv = ["--bootstrap-servers", bootstrap, "--topic", topic, "--from", "earliest",
                "--to", "now", "--split-records", str(split_records), "--output-dir", out,
                "--no-progress", "--runner", runner]
        if runner == "DaskRunner":
            argv += ["--dask-workers", str(workers)]
        elif runner == "FlinkRunner":  # a bounded job on Flink's embedded mini-cluster
            # SDK workers from a worker pool, one process per Flink slot: with LOOPBACK
            # every slot shares this one Python process (and its GIL).
            argv += ["--flink_master", "[local]", "--parallelism", str(workers),
                     "--environment_type", "EXTERNAL", "--environment_config", pool,
                     "--sdk_worker_parallelism", str(workers)]
        elif workers > 1:
            argv += ["--direct_num_workers", str(workers),
                     "--direct_running_mode", "multi_processing"]
        result = run_replay(argv)
    summary = result.summary
    return {"rate": result.rate, "records": result.plan.records, "seconds": result.seconds,
            "splits": len(result.plan.splits), "workers": workers, "runner": runner,
            "routed": sum(summary.routes.values()) if summary else None}


def _in_subprocess(bootstrap: str, topic: str, runner: str, workers: int,
                   split_records: int, pool: str = "") -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.bench_replay", "--bootstrap-servers", bootstrap,
         "--topic", topic, "--runner", runner, "--workers", str(workers),
         "--split-records", str(split_records), "--pool", pool, "--once"],
        capture_output=True, text=True, timeout=1800, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"replay on {runner} x{workers} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def measure_replay(bootstrap: str, topic: str, records: int, *, workers=(1, 2),
                   direct: bool = False, flink: bool = True) -> dict[str, dict]:
    """Replay the topic on Dask and on Flink with each worker count / parallelism (and
    optionally the DirectRunner).

    Splits are a sixteenth of the records (at least 50 offsets), so 2 workers get work
    to share on any partition count. Flink's time includes starting its job server and
    mini-cluster (a few seconds), Dask's excludes starting the cluster.
    """
    split_records = max(50, records // 16)
    results = {f"replay_dask_{n}": _in_subprocess(bootstrap, topic, "DaskRunner", n,
                                                  split_records) for n in workers}
    if flink:
        from newsbeam.worker_pool import SdkWorkerPool

        with SdkWorkerPool() as pool:
            for n in workers:
                results[f"replay_flink_{n}"] = _in_subprocess(bootstrap, topic, "FlinkRunner",
                                                              n, split_records, pool.address)
    if direct:
        results["replay_direct_1"] = _in_subprocess(bootstrap, topic, "FnApiRunner", 1,
                                                    split_records)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--direct", action="store_true", help="also the DirectRunner")
    parser.add_argument("--bootstrap-servers", help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    parser.add_argument("--runner", default="DaskRunner", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--split-records", type=int, default=125, help=argparse.SUPPRESS)
    parser.add_argument("--pool", default="", help=argparse.SUPPRESS)
    parser.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.once:  # the subprocess side of measure_replay
        print(json.dumps(replay_once(args.bootstrap_servers, args.topic, args.runner,
                                     args.workers, args.split_records, args.pool)))
        return 0

    from bench.corpus import make_corpus
    from connectors.kafka.settings import KafkaClientSettings
    from connectors.kafka.topics import ensure_topic, publish_values
    from newsbeam.broker import EmbeddedBroker

    values = make_corpus(args.records)
    with EmbeddedBroker() as broker:
        topic = "bench-replay"
        ensure_topic(KafkaClientSettings(bootstrap_servers=broker.bootstrap_servers), topic, partitions=4)
        publish_values(KafkaClientSettings(bootstrap_servers=broker.bootstrap_servers,
                                           properties={"max_request_size": 16 * 1024 * 1024}),
                       topic, values)
        started = time.monotonic()
        rows = measure_replay(broker.bootstrap_servers, topic, len(values), direct=args.direct)
    for name, row in rows.items():
        print(f"{name}: {row['rate']:.1f} records/s ({row['records']} records, "
              f"{row['splits']} splits, {row['seconds']:.1f} s)")
    one, two = rows["replay_dask_1"]["rate"], rows["replay_dask_2"]["rate"]
    print(f"ratio 2 workers / 1 worker (Dask): {two / one:.2f}")
    print(f"ratio parallelism 2 / 1 (Flink): "
          f"{rows['replay_flink_2']['rate'] / rows['replay_flink_1']['rate']:.2f}")
    if "replay_direct_1" in rows:
        print(f"ratio Dask 1 worker / DirectRunner: {one / rows['replay_direct_1']['rate']:.2f}")
    print(f"({time.monotonic() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
