"""The Kafka source: ``ReadFromKafka``, a pure-Python splittable DoFn on kafka-python.

Impulse -> ``DiscoverPartitions`` (``connectors.kafka.discovery``) -> ``ReadPartitions``:
an SDF reading one ``PartitionRange`` per element with ``assign()`` (restriction = offset
range ``[start, stop)``, ``stop`` unbounded when streaming), plus, when streaming, one
``PartitionWatch`` element that re-lists partitions and reads those added later.

Delivery: at-least-once. A record's offset is committed to the consumer group from a
bundle-finalization callback, which runners call only after the bundle's outputs are
durably committed (fused downstream writes included). A crash before that re-reads the
records from the last commit; a record is never skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam import coders
from apache_beam.io.iobase import RestrictionProgress
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.transforms.core import RestrictionProvider, WatermarkEstimatorProvider
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Duration, Timestamp
from kafka.errors import KafkaError

from connectors.kafka.discovery import (
    DiscoverPartitions,
    PartitionLister,
    PartitionWatch,
    WatchState,
    WatchTracker,
)
from connectors.kafka.planning import UNBOUNDED, PartitionRange
from connectors.kafka.positions import StopKind
from connectors.kafka.reader import METRICS_NAMESPACE, PartitionReader
from connectors.kafka.settings import KafkaSourceConfig
from schemas.models import RawMessage

__all__ = ["CONSUMED", "METRICS_NAMESPACE", "ReadFromKafka", "ReadPartitions",
           "ReadPartitionsUnbounded", "source_from_options", "StopAt"]

_log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class StopAt:
    """Claim position meaning "the range ends here" (idle stop, stop timestamp)."""

    offset: int


class _KafkaOffsetTracker(OffsetRestrictionTracker):
    """Offset-range tracker whose range can end early (``StopAt``) and may be unbounded."""

    def try_claim(self, position) -> bool:
        if isinstance(position, StopAt):
            stop = max(position.offset, self._range.start)
            if self._last_claim_attempt is not None:
                stop = max(stop, self._last_claim_attempt + 1)
            if stop < self._range.stop:
                self._range = OffsetRange(self._range.start, stop)
            self._last_claim_attempt = max(self._range.stop - 1, self._range.start)
            return False
        return super().try_claim(position)

    def try_split(self, fraction_of_remainder: float):
        """Checkpoints only. A partition is read in order by one worker: splitting a
        range would let a later part commit its offsets before an earlier part's records
        are out, and a crash would then skip them. Parallelism is one range per
        partition (or planned chunks, read without commits)."""
        if fraction_of_remainder > 0:
            return None
        return super().try_split(fraction_of_remainder)

    def current_progress(self) -> RestrictionProgress:
        if self._range.stop == UNBOUNDED:  # backlog is reported as a metric instead
            return RestrictionProgress(completed=0, remaining=1)
        return super().current_progress()

    def is_bounded(self) -> bool:
        return self._range.stop != UNBOUNDED


class _RangeProvider(RestrictionProvider):
    """Offset ranges for ``PartitionRange``s, a ``WatchState`` for the ``PartitionWatch``."""

    def initial_restriction(self, element):
        if isinstance(element, PartitionWatch):
            return WatchState(element.known)
        return OffsetRange(element.start, UNBOUNDED if element.stop is None else element.stop)

    def create_tracker(self, restriction):
        if isinstance(restriction, WatchState):
            return WatchTracker(restriction)
        return _KafkaOffsetTracker(restriction)

    def restriction_size(self, element, restriction) -> int:
        if isinstance(restriction, WatchState) or restriction.stop == UNBOUNDED:
            return 1
        return restriction.size()

    def restriction_coder(self):
        return coders.PickleCoder()

    def split(self, element, restriction):
        yield restriction


class _WatermarkProvider(WatermarkEstimatorProvider):
    def initial_estimator_state(self, element, restriction):
        return MIN_TIMESTAMP

    def create_watermark_estimator(self, estimator_state):
        return ManualWatermarkEstimator(estimator_state)


# The tagged output of the reading SDF with commits after the sinks: read positions.
CONSUMED = "consumed"
_RANGE_RESTRICTION = beam.DoFn.RestrictionParam(_RangeProvider())
_MANUAL_WATERMARK = beam.DoFn.WatermarkEstimatorParam(_WatermarkProvider())


class ReadPartitions(beam.DoFn):
    """``PartitionRange`` (or ``PartitionWatch``) -> ``RawMessage`` per record,
    event-timestamped by the policy.

    Bounded reads (replay) use this class; streaming uses ``ReadPartitionsUnbounded``.
    Consumers live per DoFn instance (``PartitionReader``), not per call.
    """

    def __init__(self, config: KafkaSourceConfig) -> None:
        self._config = config

    def setup(self) -> None:
        self._reader = PartitionReader(self._config)
        self._lister = PartitionLister(self._config)
        self._listed_at = time.monotonic()
        self._watch_idle_since = time.monotonic()
        self._watched_ends: dict[tuple[str, int], int] | None = None

    def teardown(self) -> None:
        self._reader.close()
        self._lister.close()

    def process(self, element: PartitionRange | PartitionWatch,
                bundle_finalizer=beam.DoFn.BundleFinalizerParam,
                tracker=_RANGE_RESTRICTION,
                watermark_estimator=_MANUAL_WATERMARK):
        if isinstance(element, PartitionWatch):
            yield from self._watch(self._bundle_offsets_to_commit(bundle_finalizer), tracker,
                                   watermark_estimator)
            return
        offsets = self._bundle_offsets_to_commit(bundle_finalizer)
        restriction: OffsetRange = tracker.current_restriction()
        latest = [watermark_estimator.current_watermark()]
        outcome = yield from self._stamped(self._reader.read(
            element.key, restriction.start, restriction.stop, element.stop_time_ms,
            claim=tracker.try_claim, stop_at=lambda offset: tracker.try_claim(StopAt(offset)),
            seconds=self._config.bundle_seconds), latest)
        yield from self._commit_on_finalize(offsets, element.key, restriction.start,
                                            outcome.position, latest[0])
        _raise_watermark(watermark_estimator, self._reader.mark(element.key))
        if not outcome.done:
            tracker.defer_remainder(Duration.of(outcome.retry_in))

    def _watch(self, offsets, tracker, watermark_estimator):
        """Re-list partitions now and then; read those found after the start."""
        config = self._config
        state: WatchState = tracker.current_restriction()
        drained = config.stop.kind is StopKind.DRAINED
        confirm_end = self._watch_may_end(state)  # a fresh listing must confirm it
        first = drained and self._watched_ends is None  # log ends to compare with later
        unlisted = not state.known  # a one-reader watch lists the topic first of all
        every = config.discovery_interval_seconds
        if ((every > 0 and time.monotonic() - self._listed_at >= every)
                or confirm_end or first or unlisted):
            self._listed_at = time.monotonic()
            try:
                known, ranges = self._lister.new_ranges(state.known)
                ends = self._lister.log_ends(known) if drained else None
            except KafkaError as exc:
                _log.warning("partition discovery failed, retrying", extra={
                    "error_class": type(exc).__name__, "error": str(exc)})
                self._lister.close()
                self._watch_idle_since = time.monotonic()  # an outage is not a drained topic
                self._watched_ends = self._watched_ends or {}
            else:
                # --stop drained: the watch ends once no partition appeared and no record
                # arrived in the known ones for the idle time (the readers of the other
                # partitions are drained by then too), not while the job is still reading.
                if ranges or (not first and ends != self._watched_ends):
                    self._watch_idle_since = time.monotonic()
                self._watched_ends = ends
                if not tracker.try_claim(("discover", known, {r.key: r.start for r in ranges})):
                    return
        reading = tracker.current_restriction().reading
        delays = []
        for topic, partition, position in reading:
            key = (topic, partition)
            latest = [watermark_estimator.current_watermark()]
            outcome = yield from self._stamped(self._reader.read(
                key, position, UNBOUNDED, None,
                claim=lambda offset, key=key: tracker.try_claim(("read", key, offset)),
                stop_at=lambda offset, key=key: tracker.try_claim(("stop", key, offset)),
                seconds=config.bundle_seconds / len(reading)), latest)
            yield from self._commit_on_finalize(offsets, key, position, outcome.position,
                                                latest[0])
            delays.append(outcome.retry_in)
        if tracker.current_restriction().finished:
            return  # the runner checkpointed this watch meanwhile; the residual goes on
        reading = tracker.current_restriction().reading
        marks = [self._reader.mark((t, p)) for t, p, _ in reading]
        if not reading:
            _raise_watermark(watermark_estimator, Timestamp.now())
        elif all(mark is not None for mark in marks):
            _raise_watermark(watermark_estimator, min(marks))
        if confirm_end and self._watch_may_end(tracker.current_restriction()):
            return  # drained: nothing new appeared for the idle time
        if reading:
            self._watch_idle_since = time.monotonic()
        delay = min(delays) if delays else min(1.0, config.discovery_interval_seconds)
        tracker.defer_remainder(Duration.of(delay))

    def _watch_may_end(self, state: WatchState) -> bool:
        """``--stop drained``: the watch reads nothing and saw nothing new (partition or
        record) for the idle time."""
        config = self._config
        return (config.stop.kind is StopKind.DRAINED and not state.reading
                and time.monotonic() - self._watch_idle_since >= config.stop.idle_seconds)

    def start_bundle(self) -> None:
        self._bundle_offsets: dict[tuple[str, int], int] | None = None

    def _bundle_offsets_to_commit(self, bundle_finalizer) -> dict[tuple[str, int], int]:
        """This bundle's next-to-read offsets, committed by one finalization callback
        registered at the bundle's first element (a later bundle may still be running when
        a runner finalizes an earlier one, so each bundle commits its own offsets only).

        Every bundle registers the callback, also one that reads nothing or does not
        commit: Prism (Beam 2.77) sends a FinalizeBundle request for every bundle of a
        stage whose DoFn takes a bundle finalizer, ignoring the bundle's
        ``requires_finalization=False``, and the Python SDK harness answers a request for a
        bundle without callbacks with an error ("Bundle is not in a finalizable state"),
        logged each time. Other runners then finalize idle bundles too, which costs one
        call; such a callback commits nothing new but retries a commit that failed earlier
        (``PartitionReader.commit``)."""
        if self._bundle_offsets is None:
            offsets = self._bundle_offsets = {}
            bundle_finalizer.register(lambda: self._reader.commit(offsets))
        return self._bundle_offsets

    def _stamped(self, reading: Iterator[Any], latest: list[Timestamp]) -> Generator:
        """The reader's records, passed on; returns the reader's outcome. ``latest[0]``
        starts at the watermark and ends at the newest record time emitted. With commits
        after the sinks, a record older than the watermark is stamped with the watermark
        instead (it would be late data, which no watermark downstream accounts for, and
        the commit waits for the watermark: see ``connectors.kafka.commits``); its Kafka
        time stays in its provenance."""
        floor = latest[0]
        clamp = self._config.commit_after == "sinks"
        while True:
            try:
                value = next(reading)
            except StopIteration as done:
                return done.value
            if clamp and value.timestamp < floor:
                value = beam.window.TimestampedValue(value.value, floor)
            latest[0] = max(latest[0], value.timestamp)
            yield value

    def _commit_on_finalize(self, offsets: dict[tuple[str, int], int], key: tuple[str, int],
                            start: int, position: int, latest: Timestamp) -> Iterator[Any]:
        """Commit ``position`` for ``key`` once the runner has durably committed this
        bundle's outputs (fused downstream writes included), if the bundle moved past
        ``start``. ``position`` is the reader's: every offset below it was claimed, or
        holds no record for us (a transaction's commit or abort marker, an aborted
        record under read_committed, a compacted gap), so after a drained run on a
        transactional topic the group's lag is 0, not 1 (the marker after the last
        record), as Kafka's consumers commit it.

        With ``commit_after="sinks"`` the position leaves instead as a ``CONSUMED``
        output, ``((topic, partition), position)`` stamped ``latest`` (the newest record
        time read up to it), for ``connectors.kafka.commits.CommitWhenWritten``."""
        if position <= start or not self._config.commit_offsets:
            return
        if self._config.commit_after == "sinks":
            yield beam.pvalue.TaggedOutput(
                CONSUMED, beam.window.TimestampedValue((key, position), latest))
            return
        offsets[key] = position


def _raise_watermark(watermark_estimator, mark: Timestamp | None) -> None:
    if mark is not None and mark > watermark_estimator.current_watermark():
        watermark_estimator.set_watermark(mark)


class ReadPartitionsUnbounded(ReadPartitions):
    """Streaming variant: the runner treats each element as unbounded work."""

    @beam.DoFn.unbounded_per_element()
    def process(self, element: PartitionRange,
                bundle_finalizer=beam.DoFn.BundleFinalizerParam,
                tracker=_RANGE_RESTRICTION,
                watermark_estimator=_MANUAL_WATERMARK):
        yield from super().process(element, bundle_finalizer, tracker, watermark_estimator)


class ReadFromKafka(beam.PTransform):
    """PBegin -> PCollection[RawMessage], event-timestamped by ``config.timestamp_policy``.

    ``--kafka-io=xlang`` is handled by the graph with ``connectors.kafka.xlang`` instead.
    """

    def __init__(self, config: KafkaSourceConfig, label: str | None = None) -> None:
        super().__init__(label)
        self._config = config
        # With commit_after="sinks" (and commits on): the read positions, once applied;
        # pass them to connectors.kafka.commits.CommitWhenWritten.
        self.consumed: beam.PCollection | None = None

    def expand(self, pbegin):
        config = self._config
        streaming = config.stop.kind in (StopKind.NEVER, StopKind.DRAINED)
        watch = streaming and (config.discovery_interval_seconds > 0 or config.one_reader)
        discover = DiscoverPartitions(config, watch=watch)
        read = ReadPartitionsUnbounded(config) if streaming else ReadPartitions(config)
        ranges = pbegin | "Impulse" >> beam.Impulse() | "DiscoverPartitions" >> beam.ParDo(
            discover)
        if config.commit_after != "sinks" or not config.commit_offsets:
            return ranges | "ReadPartitions" >> beam.ParDo(read).with_output_types(RawMessage)
        outputs = ranges | "ReadPartitions" >> beam.ParDo(read).with_outputs(
            CONSUMED, main="records")
        self.consumed = outputs[CONSUMED]
        return outputs.records


def source_from_options(options) -> beam.PTransform:
    """The Kafka source the flags ask for: native ``ReadFromKafka`` or, with
    ``--kafka-io=xlang``, Beam's Java KafkaIO; both yield ``RawMessage``s."""
    from connectors.kafka.options import KafkaOptions

    kafka = options.view_as(KafkaOptions)
    config = kafka.source_config()
    if kafka.kafka_io == "xlang":
        from connectors.kafka.xlang import XlangReadFromKafka
        return XlangReadFromKafka(config)
    return ReadFromKafka(config)
