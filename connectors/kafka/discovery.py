"""Partition discovery for the Kafka source: which ``PartitionRange``s to read, and when.

``DiscoverPartitions`` lists the selected partitions once. In streaming it also emits a
``PartitionWatch``, which the reading SDF processes by re-listing every
``discovery_interval_seconds`` and reading the partitions found since; the known set and
their offsets live in its restriction (``WatchState``), so a checkpointed or restarted
watch never re-emits nor skips a partition, and a topic that grows partitions or a new
topic matching ``--topic-pattern`` is read without restarting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.iobase import RestrictionProgress, RestrictionTracker
from kafka import KafkaConsumer, TopicPartition

from connectors.kafka.planning import PartitionRange, fetch_facts, plan_ranges
from connectors.kafka.settings import KafkaSourceConfig, new_consumer

__all__ = ["DiscoverPartitions", "PartitionLister", "PartitionWatch", "TopicNotAuthorized",
           "WatchState", "WatchTracker", "list_partitions", "unauthorized_topics"]

_log = logging.getLogger(__name__)


def partitions_for(consumer: KafkaConsumer, topic: str) -> set[int]:
    """Partition ids of ``topic`` from the consumer's metadata (one seam for tests)."""
    return set(consumer.partitions_for_topic(topic) or ())


def list_partitions(consumer: KafkaConsumer, config: KafkaSourceConfig) -> set[tuple[str, int]]:
    """Topic-partitions the config selects, from freshly requested cluster metadata."""
    found: set[tuple[str, int]] = set()
    for topic in sorted(consumer.topics()):  # topics() refreshes the metadata
        if config.matches(topic):
            found.update((topic, p) for p in partitions_for(consumer, topic))
    return found


_TOPIC_AUTHORIZATION_FAILED = 29  # Kafka protocol error code


class TopicNotAuthorized(ValueError):
    """The broker refuses to describe a topic the source names (ACLs): a setting to fix,
    not an outage to wait out."""


def unauthorized_topics(config: KafkaSourceConfig, topics: list[str]) -> list[str]:
    """Of ``topics``, those the broker answers with TOPIC_AUTHORIZATION_FAILED when asked
    by name. (A metadata request for all topics silently leaves them out, which looks
    the same as a topic not created yet.)"""
    admin = config.client.admin()
    try:
        described = admin.describe_topics(topics)
    finally:
        admin.close()
    return sorted(t["name"] for t in described
                  if t.get("error_code") == _TOPIC_AUTHORIZATION_FAILED)


class PartitionLister:
    """Lists the selected partitions and plans ranges for the ones not seen before."""

    def __init__(self, config: KafkaSourceConfig) -> None:
        self._config = config
        self._consumer: KafkaConsumer | None = None

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def _client(self) -> KafkaConsumer:
        """The lister's consumer (the group's, to read its committed offsets), made once."""
        if self._consumer is None:
            self._consumer = new_consumer(self._config, with_group=True)
        return self._consumer

    def new_ranges(self, known: frozenset[tuple[str, int]],
                   ) -> tuple[frozenset[tuple[str, int]], list[PartitionRange]]:
        config = self._config
        consumer = self._client()
        found = list_partitions(consumer, config)
        if not known:
            self._check_authorized(found)
        new = found - known
        facts = fetch_facts(consumer, [TopicPartition(*tp) for tp in new],
                            config.start, config.stop)
        ranges = plan_ranges(facts, config.start, config.stop, discovered_later=bool(known))
        if ranges:
            _log.info("partitions discovered", extra={
                "partitions": len(new), "ranges": [r.describe() for r in ranges]})
        return frozenset(found | known), ranges

    def log_ends(self, partitions: frozenset[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The log end of each of ``partitions`` (of the isolation level read), so the
        watch of a drained run can tell whether records still arrive."""
        if not partitions:
            return {}
        ends = self._client().end_offsets([TopicPartition(*tp) for tp in sorted(partitions)],
                                          timeout_ms=self._config.probe_timeout_ms)
        return {(tp.topic, tp.partition): end for tp, end in ends.items()}

    def _check_authorized(self, found: set[tuple[str, int]]) -> None:
        """Raise ``TopicNotAuthorized`` when a topic named by ``--topic`` is missing
        because the principal may not describe it. (Missing for lack of creation is
        fine: a streaming watch reads it once it exists.)"""
        missing = sorted(set(self._config.topics) - {topic for topic, _ in found})
        denied = unauthorized_topics(self._config, missing) if missing else []
        if denied:
            raise TopicNotAuthorized(
                f"the broker denies this client access to topic(s) {', '.join(denied)} "
                f"(TOPIC_AUTHORIZATION_FAILED: not authorized): grant its principal "
                f"DESCRIBE and READ on the topic and READ on consumer group "
                f"{self._config.group_id!r}, or check the user it authenticates as (sasl.username)")


@dataclass(frozen=True)
class PartitionWatch:
    """Element asking the reading SDF to keep looking for new partitions.

    ``known``: the partitions the initial discovery already emitted as ranges (none
    when the watch reads them all: ``KafkaSourceConfig.one_reader``).
    """

    known: frozenset[tuple[str, int]]

    def __reduce__(self):
        # Pickled with ``known`` sorted: a frozenset pickles in the order of the process's
        # string hash seed, and Flink keys the reading SDF's state and timers by these
        # bytes, so a job restored from a savepoint (new SDK processes) found its keys
        # in other key groups and failed.
        return (_partition_watch, (tuple(sorted(self.known)),))


def _partition_watch(known: tuple[tuple[str, int], ...]) -> PartitionWatch:
    return PartitionWatch(frozenset(known))


class DiscoverPartitions(beam.DoFn):
    """Impulse -> a ``PartitionRange`` per selected partition, listed once, plus (when
    ``watch``) one ``PartitionWatch`` so the reader picks up partitions added later.

    The listing is a stage of its own that finishes; the watch runs inside the reading
    SDF. (Beam's in-process runners run a stage only once the one before it has
    finished, so an unbounded discovery stage before the reader would never let it run.)
    """

    def __init__(self, config: KafkaSourceConfig, *, watch: bool = False) -> None:
        self._config = config
        self._watch = watch

    def setup(self) -> None:
        self._lister = PartitionLister(self._config)

    def teardown(self) -> None:
        self._lister.close()

    def process(self, element):
        if self._config.one_reader:  # the watch lists and reads every partition itself
            yield PartitionWatch(frozenset())
            return
        known, ranges = self._lister.new_ranges(frozenset())
        if not ranges:
            _log.warning("no partition matches the Kafka source's topics yet", extra={
                "topics": list(self._config.topics),
                "topic_pattern": self._config.topic_pattern})
        yield from ranges
        if self._watch:
            yield PartitionWatch(known)


@dataclass(frozen=True)
class WatchState:
    """Restriction of a ``PartitionWatch``: partitions known, and the ones the watch
    itself reads (found after the start) with their next offsets."""

    known: frozenset[tuple[str, int]]
    reading: tuple[tuple[str, int, int], ...] = ()
    finished: bool = False

    def __reduce__(self):  # the same bytes in every process: see PartitionWatch
        return (_watch_state, (tuple(sorted(self.known)), self.reading, self.finished))


def _watch_state(known: tuple[tuple[str, int], ...], reading: tuple[tuple[str, int, int], ...],
                 finished: bool) -> WatchState:
    return WatchState(frozenset(known), reading, finished)


class WatchTracker(RestrictionTracker):
    """Claims are tuples: ``("discover", known, {tp: start})`` adds partitions,
    ``("read", tp, offset)`` a record, ``("stop", tp, offset)`` ends a partition.

    Only self-checkpoints split it; the residual carries the grown known set and every
    partition's next offset, so a restart neither re-emits nor skips anything.
    """

    def __init__(self, restriction: WatchState) -> None:
        self._known = restriction.known
        self._reading = {(t, p): o for t, p, o in restriction.reading}
        self._finished = restriction.finished
        self._split = False

    def current_restriction(self) -> WatchState:
        return WatchState(self._known, tuple(sorted((t, p, o) for (t, p), o
                                                    in self._reading.items())),
                          self._finished)

    def try_claim(self, claim) -> bool:
        if self._finished or self._split:
            return False
        kind = claim[0]
        if kind == "discover":
            _, known, starts = claim
            self._known = frozenset(self._known | known)
            for tp, start in starts.items():
                self._reading.setdefault(tp, start)
            return True
        _, tp, offset = claim
        if kind == "stop":
            self._reading.pop(tp, None)
            return False
        if tp not in self._reading or offset < self._reading[tp]:
            raise ValueError(f"claim of {tp}@{offset} before position {self._reading.get(tp)}")
        self._reading[tp] = offset + 1
        return True

    def try_split(self, fraction_of_remainder: float):
        if fraction_of_remainder != 0 or self._split or self._finished:
            return None
        self._split = True
        residual = self.current_restriction()
        self._reading, self._finished = {}, True  # this tracker now holds the primary
        return self.current_restriction(), residual

    def finish(self) -> None:
        self._finished = True

    def check_done(self) -> None:
        return None

    def current_progress(self) -> RestrictionProgress:
        return RestrictionProgress(completed=0, remaining=1)

    def is_bounded(self) -> bool:
        return False
