"""Offset ranges per partition: the unit the Kafka source reads, and how they are planned.

``PartitionRange`` is the element of the reading SDF (streaming and bounded replay alike).
``plan_ranges`` is pure: from facts about each partition (earliest, log end, committed,
offset at a time) and the configured start/stop it computes the ranges to read, optionally
cut into chunks so a bounded replay can spread them over workers. ``fetch_facts`` is the
only part that talks to the broker, and it distrusts it: the log end comes from a fetch's
high watermark (ListOffsets can be stale) and ``offsets_for_times`` is checked by reading.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from connectors.kafka.positions import (
    PartitionFacts,
    StartKind,
    StartPosition,
    StopKind,
    StopPosition,
    resolve_start,
    resolve_stop,
)

__all__ = [
    "UNBOUNDED",
    "PartitionRange",
    "fetch_facts",
    "log_end_offsets",
    "offsets_for_time",
    "plan_ranges",
]

_log = logging.getLogger(__name__)

# Stop offset of an unbounded range (fits Beam's varint offset coders).
UNBOUNDED = 2**63 - 1


@dataclass(frozen=True, order=True)
class PartitionRange:
    """Read ``topic[partition]`` offsets ``[start, stop)``; ``stop=None`` never ends.

    ``stop_time_ms``: also stop at the first record whose timestamp is at or past it, or,
    once caught up, when the wall clock has passed it.
    """

    topic: str
    partition: int
    start: int
    stop: int | None = None
    stop_time_ms: int | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.topic, self.partition)

    def describe(self) -> str:
        stop = "inf" if self.stop is None else self.stop
        return f"{self.topic}[{self.partition}]@[{self.start},{stop})"


def plan_ranges(facts: Mapping[tuple[str, int], PartitionFacts], start: StartPosition,
                stop: StopPosition, *, discovered_later: bool = False,
                max_records_per_range: int | None = None) -> list[PartitionRange]:
    """Ranges to read, sorted by partition. Pure: no broker, no clock.

    With ``max_records_per_range``, bounded ranges are cut into chunks of at most that
    many offsets (for a replay that reshuffles them over workers). Read chunks with
    ``commit_offsets=False``: a later chunk finishing first would commit past records of
    an earlier chunk that are not out yet.
    """
    ranges: list[PartitionRange] = []
    for tp in sorted(facts):
        first = resolve_start(start, tp, facts[tp], discovered_later=discovered_later)
        last, stop_time = resolve_stop(stop, tp, facts[tp])
        if last is not None and last <= first:
            ranges.append(PartitionRange(tp[0], tp[1], first, first))
            continue
        if last is None or not max_records_per_range:
            ranges.append(PartitionRange(tp[0], tp[1], first, last, stop_time))
            continue
        for chunk in range(first, last, max_records_per_range):
            ranges.append(PartitionRange(tp[0], tp[1], chunk,
                                         min(chunk + max_records_per_range, last), stop_time))
    return ranges


def log_end_offsets(consumer, tps: Iterable, *, timeout_s: float = 10.0) -> dict:
    """The true log end (high watermark) of each partition, from a fetch response.

    ``end_offsets`` (ListOffsets) is a lower bound only: some brokers (Tansu 0.6) answer
    with the last batch's base offset + 1. A fetch from just before that answer returns
    the real high watermark. Leaves ``consumer`` assigned to ``tps``.
    """
    tps = list(tps)
    if not tps:
        return {}
    hints = consumer.end_offsets(tps)
    earliest = consumer.beginning_offsets(tps)
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, max(earliest[tp], hints[tp] - 1))
    ends: dict = {}
    deadline = time.monotonic() + timeout_s
    while len(ends) < len(tps) and time.monotonic() < deadline:
        consumer.poll(timeout_ms=200, max_records=100_000)
        for tp in tps:
            high = consumer.highwater(tp)
            if high is not None and tp not in ends:
                ends[tp] = max(high, hints[tp])
    for tp in tps:
        if tp not in ends:
            _log.warning("no fetch high watermark, using ListOffsets answer",
                         extra={"topic": tp.topic, "partition": tp.partition,
                                "end_offset": hints[tp]})
            ends[tp] = hints[tp]
    return ends


def offsets_for_time(consumer, tps: Iterable, timestamp_ms: int, ends: Mapping,
                     *, timeout_s: float = 30.0) -> dict:
    """First offset whose record timestamp is ``>= timestamp_ms`` (the log end if none).

    Starts from the broker's ``offsets_for_times`` answer and reads forward to check it
    (on a correct broker the first record read already qualifies). Leaves ``consumer``
    assigned to ``tps``.
    """
    tps = list(tps)
    if not tps:
        return {}
    hints = consumer.offsets_for_times({tp: timestamp_ms for tp in tps})
    earliest = consumer.beginning_offsets(tps)
    result: dict = {}
    pending = []
    for tp in tps:
        hint = hints.get(tp)
        first = earliest[tp] if hint is None or hint.offset is None else hint.offset
        if first >= ends[tp]:
            result[tp] = ends[tp]
        else:
            pending.append((tp, max(first, earliest[tp])))
    if pending:
        consumer.assign([tp for tp, _ in pending])
        for tp, offset in pending:
            consumer.seek(tp, offset)
    deadline = time.monotonic() + timeout_s
    waiting = {tp for tp, _ in pending}
    while waiting and time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=200, max_records=10_000)
        for tp, records in batch.items():
            if tp not in waiting:
                continue
            for record in records:
                if record.timestamp >= timestamp_ms:
                    result[tp] = record.offset
                    waiting.discard(tp)
                    consumer.pause(tp)
                    break
        for tp in list(waiting):
            if consumer.position(tp) >= ends[tp]:
                result[tp] = ends[tp]
                waiting.discard(tp)
    if waiting:
        raise TimeoutError(f"could not find offsets for time {timestamp_ms} in {sorted(waiting)}")
    consumer.resume(*consumer.paused())
    return result


def fetch_facts(consumer, tps: Iterable, start: StartPosition, stop: StopPosition,
                ) -> dict[tuple[str, int], PartitionFacts]:
    """Ask the broker what ``plan_ranges`` needs for these partitions, and nothing more.

    ``consumer`` must carry the group id (for committed offsets); it is left assigned to
    whatever partitions the lookups needed.
    """
    tps = sorted(tps)
    if not tps:
        return {}
    earliest = consumer.beginning_offsets(tps)
    needs_end = (start.kind in (StartKind.LATEST, StartKind.TIMESTAMP)
                 or start.fallback is StartKind.LATEST or stop.kind is StopKind.NOW)
    ends = log_end_offsets(consumer, tps) if needs_end else {}
    committed = ({tp: consumer.committed(tp) for tp in tps}
                 if start.kind is StartKind.COMMITTED else {})
    at_time = ({} if start.timestamp_ms is None or start.kind is not StartKind.TIMESTAMP
               else offsets_for_time(consumer, tps, start.timestamp_ms, ends))
    return {
        (tp.topic, tp.partition): PartitionFacts(
            earliest=earliest[tp], end=ends.get(tp), committed=committed.get(tp),
            at_time=at_time.get(tp))
        for tp in tps
    }
