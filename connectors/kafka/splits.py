"""Replay reads: a topic range planned into fixed offset splits, each read by a plain DoFn.

``plan_replay`` asks the broker once, before the pipeline starts, and turns ``--from`` /
``--to`` (timestamps, ``now``, per-partition offsets) into exact offset ranges, cut into
splits of at most ``split_records`` offsets so several workers share one partition. Every
split is final: ``ReadSplits`` reads ``[start, stop)`` and nothing else, whatever is
appended meanwhile, so a replay reads exactly the planned records.

``ReadSplits`` is an ordinary ``DoFn`` (no splittable-DoFn machinery, no state, no
bundle finalization, no offset commits): it runs on every runner, DaskRunner included.
Partition listing, range planning and the reading loop (``PartitionReader``: consumer,
exact stops, record -> ``RawMessage``) are the streaming source's own
(``kafka_discovery``, ``kafka_ranges``, ``kafka_reader``), imported, not copied.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.metrics import Metrics
from kafka import TopicPartition

from connectors.kafka.discovery import list_partitions
from connectors.kafka.planning import (
    PartitionRange,
    fetch_facts,
    log_end_offsets,
    offsets_for_time,
    plan_ranges,
)
from connectors.kafka.positions import (
    StopKind,
    StopPosition,
)
from connectors.kafka.reader import METRICS_NAMESPACE, PartitionReader
from connectors.kafka.settings import KafkaSourceConfig, new_consumer

__all__ = ["ReadSplits", "ReplayPlan", "plan_replay", "split_name"]

_log = logging.getLogger(__name__)



def split_name(split: PartitionRange) -> str:
    """A stable file-name-safe name of a split (progress ledger entries)."""
    return f"{split.topic}-{split.partition}-{split.start}-{split.stop}"


@dataclass(frozen=True)
class ReplayPlan:
    """The splits of a replay, fixed before reading starts."""

    splits: tuple[PartitionRange, ...]

    @property
    def records(self) -> int:
        """Offsets planned (records, plus any gaps left by compaction or transactions)."""
        return sum(s.stop - s.start for s in self.splits)

    def per_partition(self) -> dict[tuple[str, int], tuple[int, int, int]]:
        """``{(topic, partition): (first offset, stop offset, offsets)}``."""
        table: dict[tuple[str, int], tuple[int, int, int]] = {}
        for split in self.splits:
            first, stop, count = table.get(split.key, (split.start, split.stop, 0))
            table[split.key] = (min(first, split.start), max(stop, split.stop),
                                count + split.stop - split.start)
        return table

    def describe(self) -> str:
        lines = [f"{len(self.splits)} splits, {self.records} records"]
        lines += [f"  {topic}[{partition}]  offsets [{first}, {stop})  {count} records"
                  for (topic, partition), (first, stop, count) in sorted(
                      self.per_partition().items())]
        lines.append("splits:")
        lines += [f"  {s.describe()}  {s.stop - s.start} records" for s in self.splits]
        return "\n".join(lines)


def _stop_offsets(consumer, tps: list[TopicPartition], stop: StopPosition,
                  ) -> dict[tuple[str, int], int]:
    """Exact stop offsets: the log end (``now``), the first offset at/after the stop time,
    or the given offsets (clipped to the log end: a replay never waits for new records)."""
    ends = log_end_offsets(consumer, tps)
    if stop.kind is StopKind.TIMESTAMP:
        at = offsets_for_time(consumer, tps, stop.timestamp_ms, ends)
        return {(tp.topic, tp.partition): at[tp] for tp in tps}
    if stop.kind is StopKind.OFFSETS:
        result = {}
        for tp in tps:
            wanted = stop.offsets.get((tp.topic, tp.partition))
            if wanted is None:
                continue
            if wanted > ends[tp]:
                _log.warning("stop offset beyond the log end, clipped", extra={
                    "topic": tp.topic, "partition": tp.partition, "stop": wanted,
                    "log_end": ends[tp]})
            result[(tp.topic, tp.partition)] = min(wanted, ends[tp])
        return result
    if stop.kind is StopKind.NOW:
        return {(tp.topic, tp.partition): ends[tp] for tp in tps}
    raise ValueError(f"a replay needs an exact end, not stop kind {stop.kind.value!r}")


def plan_replay(config: KafkaSourceConfig, *, split_records: int = 50_000) -> ReplayPlan:
    """Ask the broker for the offsets of ``config.start``/``config.stop`` and plan splits.

    Partitions without records in the range get no split. With ``--to offsets:...`` only
    the listed partitions are read.
    """
    if split_records < 1:
        raise ValueError("split_records must be at least 1")
    consumer = new_consumer(config, with_group=True)
    try:
        tps = sorted(TopicPartition(*tp) for tp in list_partitions(consumer, config))
        if not tps:
            raise ValueError(f"no partition matches topics {list(config.topics)} / pattern "
                             f"{config.topic_pattern!r}")
        stops = _stop_offsets(consumer, tps, config.stop)
        tps = [tp for tp in tps if (tp.topic, tp.partition) in stops]
        facts = fetch_facts(consumer, tps, config.start, config.stop)
    finally:
        consumer.close()
    exact = StopPosition(kind=StopKind.OFFSETS, offsets=stops) if stops else config.stop
    ranges = plan_ranges(facts, config.start, exact, max_records_per_range=split_records)
    splits = tuple(r for r in ranges if r.stop is not None and r.stop > r.start)
    _log.info("replay planned", extra={"splits": len(splits),
                                       "records": sum(s.stop - s.start for s in splits)})
    return ReplayPlan(splits)


Progress = Callable[[PartitionRange, int, bool], None]


def _claim(offset: int) -> bool:
    return True


def _stop_at(offset: int) -> None:
    return None


class ReadSplits(beam.DoFn):
    """``PartitionRange`` (a planned split) -> every record of ``[start, stop)`` as a
    ``RawMessage``, event-timestamped like the streaming source.

    The reading loop is the streaming source's ``PartitionReader`` (exact stop, offset
    gaps, broker-trouble backoff, record -> ``RawMessage``), driven without a restriction
    tracker. ``progress(split, records_read, finished)`` is called about every second and
    once at the end (the replay's progress bar). A split that makes no progress for
    ``stall_seconds`` fails the bundle (the runner retries it) instead of hanging.
    """

    def __init__(self, config: KafkaSourceConfig, progress: Progress | None = None,
                 stall_seconds: float = 120.0) -> None:
        self._config = config
        self._progress = progress
        self._stall_seconds = stall_seconds

    def setup(self) -> None:
        self._reader = PartitionReader(self._config)
        self._records = Metrics.counter(METRICS_NAMESPACE, "replay_records")

    def teardown(self) -> None:
        self._reader.close()

    def process(self, split: PartitionRange):
        position, read = split.start, 0
        moved_at = reported_at = time.monotonic()
        while position < split.stop:
            records = self._reader.read(split.key, position, split.stop, None, _claim,
                                        _stop_at, seconds=1.0)
            while True:
                try:
                    message = next(records)
                except StopIteration as end:
                    outcome = end.value
                    break
                read += 1
                yield message
            now = time.monotonic()
            if outcome.position > position or outcome.done:
                moved_at = now
            elif now - moved_at > self._stall_seconds:
                raise TimeoutError(
                    f"replay split {split.describe()} stalled at offset {position} for "
                    f"{self._stall_seconds:.0f}s: is the broker reachable, were the records "
                    "deleted by retention?")
            position = split.stop if outcome.done else outcome.position
            if outcome.retry_in and position < split.stop:
                time.sleep(min(outcome.retry_in, 1.0))
            if self._progress is not None and now - reported_at >= 1.0:
                self._progress(split, read, False)
                reported_at = now
        self._records.inc(read)
        if self._progress is not None:
            self._progress(split, read, True)
