"""Where a Kafka read starts and stops, and how records get their event time.

``--start``/``--stop`` (and a replay's ``--from``/``--to``) are parsed here, once, into
validated, frozen values: ``committed|earliest|latest|timestamp:ISO|offsets:...`` and
``never|drained[:SECONDS]|now|timestamp:ISO|offsets:...``; and resolved here, per
partition, against what the broker says of it (``PartitionFacts``) into offsets.
``connectors.kafka.settings`` carries the parsed values in the source config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "PartitionFacts",
    "PartitionOffsets",
    "StartKind",
    "StartPosition",
    "StopKind",
    "StopPosition",
    "TimestampPolicy",
    "parse_offsets",
    "parse_start",
    "parse_from",
    "parse_stop",
    "parse_to",
    "resolve_start",
    "resolve_stop",
]


class StartKind(StrEnum):
    COMMITTED = "committed"
    EARLIEST = "earliest"
    LATEST = "latest"
    TIMESTAMP = "timestamp"
    OFFSETS = "offsets"


class StopKind(StrEnum):
    NEVER = "never"
    DRAINED = "drained"
    OFFSETS = "offsets"
    TIMESTAMP = "timestamp"
    NOW = "now"


class TimestampPolicy(StrEnum):
    """Event time of a record, as in Beam KafkaIO's ``TimestampPolicyFactory``."""

    CREATE_TIME = "create-time"
    LOG_APPEND_TIME = "log-append-time"
    PROCESSING_TIME = "processing-time"


PartitionOffsets = dict[tuple[str, int], int]


def _to_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _millis(value: datetime) -> int:
    return int(_to_utc(value).timestamp() * 1000)


class StartPosition(BaseModel):
    """Where each partition starts. ``committed`` falls back to ``fallback`` (earliest)
    for a partition the group never committed; ``offsets`` falls back likewise for a
    partition not listed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: StartKind = StartKind.COMMITTED
    timestamp: datetime | None = None
    offsets: PartitionOffsets = Field(default_factory=dict)
    fallback: StartKind = StartKind.EARLIEST

    @model_validator(mode="after")
    def _complete(self) -> StartPosition:
        if self.kind is StartKind.TIMESTAMP and self.timestamp is None:
            raise ValueError("start kind 'timestamp' needs a timestamp (timestamp:ISO-8601)")
        if self.kind is StartKind.OFFSETS and not self.offsets:
            raise ValueError("start kind 'offsets' needs offsets (offsets:topic:partition=offset,...)")
        if self.fallback not in (StartKind.EARLIEST, StartKind.LATEST):
            raise ValueError("start fallback must be 'earliest' or 'latest'")
        return self

    @property
    def timestamp_ms(self) -> int | None:
        return None if self.timestamp is None else _millis(self.timestamp)


class StopPosition(BaseModel):
    """Where a read ends. ``never`` streams forever; ``drained`` stops a partition once it
    has been caught up for ``idle_seconds``; ``offsets``/``timestamp``/``now`` are exact
    bounded stops (``now``: the log end when the read starts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: StopKind = StopKind.NEVER
    idle_seconds: float = 5.0
    timestamp: datetime | None = None
    offsets: PartitionOffsets = Field(default_factory=dict)

    @model_validator(mode="after")
    def _complete(self) -> StopPosition:
        if self.kind is StopKind.TIMESTAMP and self.timestamp is None:
            raise ValueError("stop kind 'timestamp' needs a timestamp (timestamp:ISO-8601)")
        if self.kind is StopKind.OFFSETS and not self.offsets:
            raise ValueError("stop kind 'offsets' needs offsets (offsets:topic:partition=offset,...)")
        if self.idle_seconds <= 0:
            raise ValueError("drained:SECONDS must be positive")
        return self

    @property
    def bounded(self) -> bool:
        return self.kind is not StopKind.NEVER

    @property
    def timestamp_ms(self) -> int | None:
        return None if self.timestamp is None else _millis(self.timestamp)


def parse_offsets(text: str) -> PartitionOffsets:
    """``topic:partition=offset,...`` -> ``{(topic, partition): offset}``."""
    offsets: PartitionOffsets = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = re.fullmatch(r"(.+):(\d+)=(\d+)", item)
        if not match:
            raise ValueError(f"bad offset {item!r}: expected topic:partition=offset")
        offsets[(match.group(1), int(match.group(2)))] = int(match.group(3))
    return offsets


def _parse_time(text: str) -> datetime:
    try:
        if re.fullmatch(r"\d{10,}", text):
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        return _to_utc(datetime.fromisoformat(text))
    except ValueError as exc:
        raise ValueError(f"bad timestamp {text!r}: expected ISO-8601 or epoch millis") from exc


def parse_start(text: str) -> StartPosition:
    """``committed|earliest|latest|timestamp:ISO|offsets:t:p=o,...``"""
    kind, _, arg = text.strip().partition(":")
    try:
        start_kind = StartKind(kind.lower())
    except ValueError:
        raise ValueError(f"bad --start {text!r}: expected committed, earliest, latest, "
                         "timestamp:ISO or offsets:topic:partition=offset,...") from None
    if start_kind is StartKind.TIMESTAMP:
        return StartPosition(kind=start_kind, timestamp=_parse_time(arg))
    if start_kind is StartKind.OFFSETS:
        return StartPosition(kind=start_kind, offsets=parse_offsets(arg))
    return StartPosition(kind=start_kind)


def parse_stop(text: str) -> StopPosition:
    """``never|drained[:SECONDS]|offsets:t:p=o,...|timestamp:ISO|now``"""
    kind, _, arg = text.strip().partition(":")
    try:
        stop_kind = StopKind(kind.lower())
    except ValueError:
        raise ValueError(f"bad --stop {text!r}: expected never, drained[:SECONDS], now, "
                         "timestamp:ISO or offsets:topic:partition=offset,...") from None
    if stop_kind is StopKind.DRAINED:
        return StopPosition(kind=stop_kind, idle_seconds=float(arg) if arg else 5.0)
    if stop_kind is StopKind.TIMESTAMP:
        return StopPosition(kind=stop_kind, timestamp=_parse_time(arg))
    if stop_kind is StopKind.OFFSETS:
        return StopPosition(kind=stop_kind, offsets=parse_offsets(arg))
    return StopPosition(kind=stop_kind)


_START_KINDS = tuple(k.value for k in StartKind)
_STOP_KINDS = ("now", "offsets", "timestamp")


def parse_from(text: str) -> StartPosition:
    """``--from``: an ISO-8601 time or epoch millis, ``earliest``, ``committed``,
    ``timestamp:ISO`` or ``offsets:topic:partition=offset,...``."""
    kind = text.strip().partition(":")[0].lower()
    return parse_start(text if kind in _START_KINDS else f"timestamp:{text.strip()}")


def parse_to(text: str) -> StopPosition:
    """``--to``: an ISO-8601 time or epoch millis, ``now``, ``timestamp:ISO`` or
    ``offsets:topic:partition=offset,...`` (exclusive). Never open-ended: a replay ends."""
    kind = text.strip().partition(":")[0].lower()
    if re.fullmatch(r"never|drained(:.*)?", text.strip().lower()):
        raise ValueError(f"--to {text!r}: a replay needs an end (a time, now or offsets)")
    return parse_stop(text if kind in _STOP_KINDS else f"timestamp:{text.strip()}")


# ------------------------------------------------------------------ resolved per partition

@dataclass(frozen=True)
class PartitionFacts:
    """What the broker says about one partition (``None``: not asked or unknown)."""

    earliest: int = 0
    end: int | None = None
    committed: int | None = None
    at_time: int | None = None


def resolve_start(start: StartPosition, tp: tuple[str, int], facts: PartitionFacts, *,
                  discovered_later: bool = False) -> int:
    """The first offset to read. A partition found after the job started is new: reading
    it from ``latest`` would skip what was written before discovery, so it starts from
    its earliest offset instead."""
    kind = start.kind
    if kind is StartKind.OFFSETS:
        if tp in start.offsets:
            return max(start.offsets[tp], facts.earliest)
        kind = start.fallback
    elif kind is StartKind.COMMITTED:
        if facts.committed is not None:
            return max(facts.committed, facts.earliest)
        kind = start.fallback
    if kind is StartKind.TIMESTAMP:
        return facts.at_time if facts.at_time is not None else _end(facts, tp)
    if kind is StartKind.LATEST and not discovered_later:
        return _end(facts, tp)
    return facts.earliest


def _end(facts: PartitionFacts, tp: tuple[str, int]) -> int:
    if facts.end is None:
        raise ValueError(f"log end of {tp} unknown")
    return facts.end


def resolve_stop(stop: StopPosition, tp: tuple[str, int],
                 facts: PartitionFacts) -> tuple[int | None, int | None]:
    """``(stop offset or None, stop time in ms or None)`` for one partition."""
    if stop.kind is StopKind.OFFSETS:
        # Partitions not listed are not read: the stop offsets name the replayed partitions.
        return stop.offsets.get(tp, facts.earliest), None
    if stop.kind is StopKind.NOW:
        return _end(facts, tp), None
    if stop.kind is StopKind.TIMESTAMP:
        return None, stop.timestamp_ms
    return None, None
