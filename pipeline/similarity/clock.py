"""The deduplication clock: what time a record is remembered at, and when it expires.

One rule for every path (the streaming index, the bounded run split by story, the
benchmark's plain loop), so their decisions stay equal:

- The clock is the newest *real* event time seen (Kafka time, else ``published_at``);
  a record without one never moves it.
- A record with an event time is remembered at that time. A record without one is
  remembered at the clock, the newest real time seen so far; before any real time has
  been seen it is *pending* (stored as ``-inf``) and takes the run's first real time
  (the ``epoch``) as soon as one arrives. So undated records at the start of an archive
  and the first dated record share a time, and the jump from "no time" to a date expires
  nothing.
- An entry expires when ``time + ttl <= clock``; while no real time has been seen,
  nothing expires. Expiry therefore depends only on times that are real.

``DedupClock`` is that rule as a small value: ``DedupIndex`` holds one, and
``components.run_clocks`` replays it over a whole bounded run, handing each component's
index the run's clock (``now``, ``epoch``) just before each of its records.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PENDING", "DedupClock"]

#: the stored time of a record that arrived before any real time: it takes the epoch
PENDING = float("-inf")


@dataclass(slots=True)
class DedupClock:
    """``now``: the newest real event time seen; ``epoch``: the first one (both
    ``PENDING`` until a record with a time arrives)."""

    now: float = PENDING
    epoch: float = PENDING

    def snapshot(self) -> tuple[float, float]:
        return self.now, self.epoch

    def catch_up(self, now: float, epoch: float) -> None:
        """Move to a run's clock (a bounded run's component index sees part of the run)."""
        self.now = max(self.now, now)
        if self.epoch == PENDING:
            self.epoch = epoch

    def advance(self, event_time: float | None) -> float:
        """Take a new record's event time (None: no usable time); return the time it is
        remembered at (``PENDING`` before any real time)."""
        if event_time is None:
            return self.now
        if event_time > self.now:
            self.now = event_time
        if self.epoch == PENDING:
            self.epoch = self.now
        return event_time

    def time_of(self, ts: float) -> float:
        """A stored time, resolved: a pending record's is the epoch."""
        return self.epoch if ts == PENDING else ts

    def expired(self, ts: float, ttl_seconds: float) -> bool:
        """Whether an entry stored at ``ts`` is past its TTL at this clock."""
        resolved = self.time_of(ts)
        return resolved != PENDING and resolved + ttl_seconds <= self.now
