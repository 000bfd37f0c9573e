"""``newsbeam replay``: re-run the stages over a fixed Kafka range, as a bounded pipeline.

    CreateSplits -> ReshuffleSplits -> ReadSplits -> ProcessArticles -> WriteRoutes
                                                                     -> SummarizeReplay

Portable primitives only (Create, Reshuffle, ParDo, GroupByKey, Flatten), so it runs on
the FnApiRunner (``DirectRunner``, also multi-process), on Dask and on Flink/Dataflow in
batch. The splits are planned before the pipeline starts (``connectors.kafka.splits``):
a replay reads exactly the requested records. ``ProcessArticles`` is the streaming
pipeline's transform, unchanged; sinks write deterministic files (``bounded=True``), so
rerunning a replay replaces its output.

*Stateful stages, in order.* Cleaning and dedup decide by the order they see records in;
in a replay every stateful ``ParDo`` runs per key, sorted by Kafka time and offset,
after a GroupByKey (``pipeline.stateful_order``): the streaming run's decisions for
the same order, on every runner, Dask (no user state) included.

*Progress and summary.* Beam metrics are not readable while a local job runs, nor at
all on Dask, so ``ReadSplits`` and ``SummarizeReplay`` write small JSON files into a
progress directory that the launcher polls (a temporary directory by default; give
``--progress-dir`` on shared storage for a remote cluster).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from connectors.kafka.options import KafkaOptions
from connectors.kafka.planning import PartitionRange
from connectors.kafka.positions import parse_from, parse_to
from connectors.kafka.splits import ReadSplits, ReplayPlan, plan_replay, split_name
from newsbeam.delivery import DeliverRoutes
from newsbeam.options import NewsbeamOptions, sink_settings, stage_settings
from newsbeam.runners import resolve_runner, runner_name
from newsbeam.summary import RunSummary, summary_from_result
from pipeline.graph import ProcessArticles
from pipeline.stateful_order import RunStatefulInOrderOverride
from schemas.models import RawMessage
from schemas.routes import RoutedRecord

__all__ = ["ProgressBar", "ProgressLedger", "ReplayOptions", "ReplayResult", "SummarizeReplay",
           "build_replay", "plan_from_options", "run_replay"]

_log = logging.getLogger(__name__)


class ReplayOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("replay")
        group.add_argument("--from", dest="replay_from", default=None, metavar="WHEN",
                           help="First record: ISO-8601 time (2026-11-01T00:00Z), earliest, "
                                "committed or offsets:topic:partition=offset,...")
        group.add_argument("--to", dest="replay_to", default=None, metavar="WHEN",
                           help="End, exclusive: ISO-8601 time, now, or "
                                "offsets:topic:partition=offset,...")
        group.add_argument("--split-records", dest="split_records", type=int, default=50_000,
                           help="Offsets per split: a partition is cut into splits of this "
                                "size, read in parallel (default: 50000).")
        group.add_argument("--dry-run", dest="dry_run", action="store_true", default=False,
                           help="Print the splits and the records per partition, then stop.")
        group.add_argument("--dask-address", dest="dask_address", default=None,
                           help="With --runner DaskRunner: the scheduler (tcp://HOST:8786).")
        group.add_argument("--dask-workers", dest="dask_workers", type=int, default=None,
                           help="With --runner DaskRunner and no address: a local cluster of "
                                "this many worker processes (default: CPU count).")
        group.add_argument("--progress-dir", dest="progress_dir", default=None,
                           help="Where workers leave progress counts (default: a temporary "
                                "directory; use shared storage with a remote cluster).")
        group.add_argument("--no-progress", dest="show_progress", action="store_false",
                           default=True, help="No progress bar.")


# ---------------------------------------------------------------- progress and summary

class ProgressLedger:
    """Small JSON files in ``directory``: one per split (records read so far, whether it
    is done; rewritten in place, so a retried split is not counted twice) and the run's
    ``summary.json``. Workers write, the launcher reads. Picklable."""

    def __init__(self, directory: str) -> None:
        self.directory = directory.rstrip("/")

    def _write(self, name: str, payload: dict) -> None:
        final = FileSystems.join(self.directory, name)
        temporary = FileSystems.join(self.directory, f".{name}.{os.getpid()}.tmp")
        with FileSystems.create(temporary) as handle:
            handle.write(json.dumps(payload).encode())
        FileSystems.rename([temporary], [final])

    def __call__(self, split: PartitionRange, read: int, finished: bool) -> None:
        try:
            self._write(f"split-{split_name(split)}.json", {"read": read, "done": finished})
        except OSError as exc:  # progress is best effort: a replay never fails for it
            _log.warning("could not write replay progress", extra={"error": str(exc)})

    def write_summary(self, counts: dict[str, int]) -> None:
        self._write("summary.json", counts)

    def _load(self, path: str) -> dict:
        with FileSystems.open(path) as handle:
            return json.loads(handle.read())

    def records_read(self, cache: dict[str, int]) -> int:
        """Records read so far; ``cache`` keeps finished splits between calls."""
        pattern = FileSystems.join(self.directory, "split-*.json")
        for match in FileSystems.match([pattern])[0].metadata_list:
            if match.path in cache and cache[match.path] < 0:
                continue
            try:
                entry = self._load(match.path)
            except (OSError, ValueError):
                continue
            cache[match.path] = -1 - entry["read"] if entry["done"] else entry["read"]
        return sum(-1 - v if v < 0 else v for v in cache.values())

    def summary(self) -> dict[str, int] | None:
        path = FileSystems.join(self.directory, "summary.json")
        return self._load(path) if FileSystems.exists(path) else None


def _summary_counts(record: RoutedRecord):
    yield f"route/{record.route}", 1
    routes = record.record.get("routes") or []
    if record.schema == "article" and routes and routes[0] == record.route:  # once per article
        stats = record.record.get("boilerplate") or {}
        yield "boilerplate_lines_removed", stats.get("lines_removed", 0)
        yield "boilerplate_chars_removed", stats.get("chars_removed", 0)


class _WriteSummaryFn(beam.DoFn):
    def __init__(self, ledger: ProgressLedger) -> None:
        self._ledger = ledger

    def process(self, group):
        _, counts = group
        self._ledger.write_summary(dict(counts))
        yield dict(counts)


class SummarizeReplay(beam.PTransform):
    """Routed records -> counts per route (+ boilerplate totals) in the ledger's summary."""

    def __init__(self, ledger: ProgressLedger) -> None:
        super().__init__()
        self._ledger = ledger

    def expand(self, routed):
        return (routed
                | "CountRecords" >> beam.FlatMap(_summary_counts)
                | "SumCounts" >> beam.CombinePerKey(sum)
                | "CollectCounts" >> beam.Map(lambda kv: (None, kv))
                | "GroupCounts" >> beam.GroupByKey()
                | "WriteSummary" >> beam.ParDo(_WriteSummaryFn(self._ledger)))


def _summary(ledger: ProgressLedger, records_in: int, result: Any) -> RunSummary:
    counts = ledger.summary()
    if counts is None:  # the ledger is not visible here (remote workers): ask metrics
        try:
            return summary_from_result(result)
        except NotImplementedError:
            _log.warning("no replay summary: pass --progress-dir on shared storage")
            return RunSummary(records_in=records_in)
    return RunSummary(
        records_in=records_in,
        routes={k.removeprefix("route/"): v for k, v in counts.items() if k.startswith("route/")},
        boilerplate_lines_removed=counts.get("boilerplate_lines_removed", 0),
        boilerplate_chars_removed=counts.get("boilerplate_chars_removed", 0))


# ---------------------------------------------------------------- the pipeline

def build_replay(pipeline: beam.Pipeline, plan: ReplayPlan, ours: NewsbeamOptions,
                 source, ledger: ProgressLedger) -> None:
    """Splits -> the streaming stages -> deterministic sinks (+ summary)."""
    messages = (pipeline
                | "CreateSplits" >> beam.Create(list(plan.splits))
                | "ReshuffleSplits" >> beam.Reshuffle()
                | "ReadSplits" >> beam.ParDo(ReadSplits(source, ledger)).with_output_types(
                    RawMessage))
    routes = messages | "ProcessArticles" >> ProcessArticles(stage_settings(ours), bounded=True)
    routed = (routes if isinstance(routes, beam.PCollection)  # bounded: one PCollection
              else tuple(routes.values()) | "MergeRoutes" >> beam.Flatten())
    _ = routed | "DeliverRoutes" >> DeliverRoutes(
        sink_settings(ours, bounded=True), progress_interval=ours.progress_interval,
        metrics_port=ours.metrics_port)
    _ = routed | "SummarizeReplay" >> SummarizeReplay(ledger)
    pipeline.replace_all([RunStatefulInOrderOverride()])


@dataclass
class ReplayResult:
    plan: ReplayPlan
    summary: RunSummary | None
    seconds: float = 0.0
    runner: str = ""

    @property
    def rate(self) -> float:
        return self.plan.records / self.seconds if self.seconds else 0.0

    def report(self) -> str:
        if self.summary is None:
            return self.plan.describe()
        return (f"{self.summary.table()}\nreplayed {self.plan.records} records in "
                f"{self.seconds:.1f} s ({self.rate:.0f} rec/s) on {self.runner}")


class ProgressBar(threading.Thread):
    """Polls the ledger: a tqdm bar of records read with rate and ETA, then a second phase
    (dedup, tagging and sinks run after the last read, behind their GroupByKeys)."""

    def __init__(self, ledger: ProgressLedger, total: int, enabled: bool = True,
                 file=None, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self._ledger, self._total, self._enabled = ledger, total, enabled
        self._file, self._interval = file, interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        from tqdm import tqdm

        cache: dict[str, int] = {}
        reading = True
        with tqdm(total=self._total, unit="rec", desc="replay: read", file=self._file or sys.stderr,
                  disable=not self._enabled, dynamic_ncols=True, smoothing=0.1,
                  mininterval=self._interval) as bar:
            while True:
                stopping = self._stop_event.wait(self._interval)
                try:
                    read = self._ledger.records_read(cache)
                except OSError:  # the directory is gone or unreadable: no more progress
                    return
                bar.update(max(0, read - bar.n))
                if reading and read >= self._total:
                    reading = False
                    bar.set_description("replay: read; dedup, tag, write")
                if stopping:
                    return

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def _split_argv(argv: Sequence[str]) -> tuple[PipelineOptions, ReplayOptions]:
    options = PipelineOptions(list(argv))
    return options, options.view_as(ReplayOptions)


def plan_from_options(options: PipelineOptions) -> tuple[Any, ReplayPlan]:
    replay = options.view_as(ReplayOptions)
    argv = options.get_all_options(drop_default=True)
    if argv.get("start") or argv.get("stop"):
        raise ValueError("newsbeam replay takes --from/--to, not --start/--stop")
    if not replay.replay_from or not replay.replay_to:
        raise ValueError("newsbeam replay needs --from and --to (e.g. --from "
                         "2026-11-01T00:00Z --to 2026-11-08T00:00Z, or --to now)")
    source = options.view_as(KafkaOptions).source_config().model_copy(update={
        "start": parse_from(replay.replay_from), "stop": parse_to(replay.replay_to),
        "commit_offsets": False})
    return source, plan_replay(source, split_records=replay.split_records)


def run_replay(argv: Sequence[str]) -> ReplayResult:
    """``newsbeam replay``: plan, then (unless ``--dry-run``) run with a progress bar."""
    options, replay = _split_argv(argv)
    source, plan = plan_from_options(options)
    if replay.dry_run:
        return ReplayResult(plan, None)
    if not plan.splits:
        _log.warning("nothing to replay: the range holds no records")
        return ReplayResult(plan, RunSummary(), 0.0, "no runner")
    argv = list(argv)
    runner_label = options.view_as(StandardOptions).runner or "FnApiRunner"
    cluster = None
    if runner_name(options) == "DaskRunner":  # with Beam's gaps fixed
        from newsbeam.replay_dask import ReplayDaskRunner, local_cluster

        if replay.dask_address:
            argv.append(f"--dask_client_address={replay.dask_address}")
        elif not any(a.startswith("--dask_client_address") for a in argv):
            cluster = local_cluster(replay.dask_workers or os.cpu_count() or 1)
            argv.append(f"--dask_client_address={cluster.scheduler_address}")
        if not any(a.startswith(("--dask_npartitions", "--dask_partition_size")) for a in argv):
            argv.append(f"--dask_npartitions={max(1, len(plan.splits))}")  # a split per task
        options = PipelineOptions(argv)
        runner: Any = ReplayDaskRunner()
    else:
        runner = resolve_runner(options)
    progress_dir = replay.progress_dir or tempfile.mkdtemp(prefix="newsbeam-replay-")
    ledger = ProgressLedger(progress_dir)
    if replay.progress_dir:
        for stale in FileSystems.match([FileSystems.join(progress_dir, "*.json")])[0].metadata_list:
            FileSystems.delete([stale.path])
    bar = ProgressBar(ledger, plan.records, replay.show_progress)
    started = time.monotonic()
    result = None
    try:
        pipeline = beam.Pipeline(runner=runner, options=options)
        build_replay(pipeline, plan, options.view_as(NewsbeamOptions), source, ledger)
        bar.start()
        result = pipeline.run()
        result.wait_until_finish()
        seconds = time.monotonic() - started
        read = ledger.records_read({})
        return ReplayResult(plan, _summary(ledger, read, result), seconds, runner_label)
    finally:
        if bar.is_alive():
            bar.stop()
        client = getattr(result, "client", None)
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        if not replay.progress_dir:
            shutil.rmtree(progress_dir, ignore_errors=True)
