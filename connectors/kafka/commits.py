"""Offset commits after the sinks: ``CommitWhenWritten``.

The Kafka source commits a bundle's read positions in that bundle's finalization, which a
runner calls once it holds the bundle's outputs durably. Where the runner fuses the read
with every write (Beam's in-process runner) those outputs are the files and topics
themselves. Where the stages run apart, they are only elements in the runner's hands: on a
runner that keeps them in memory (Prism) a crash after the commit loses every record not
yet written (the SIGKILL trials lost 367 of 823 offsets before this module).

With ``KafkaSourceConfig.commit_after="sinks"`` the source emits its read positions instead
(``connectors.kafka.source.CONSUMED``: ``((topic, partition), next offset)``, stamped with
the newest record time read up to there; records older than the watermark are stamped
with it, so none of them is late). ``CommitWhenWritten`` takes those positions and the
sinks' last outputs, and commits a position when the watermark of all of them has passed
its stamp: by then every record read before it has left every stage and been written
(or held: a record a stage still holds, such as one dedup waits on, holds the watermark
with its timer). The end of a bounded or drained read moves the watermark to the end of
time, so a finished run commits everything it read. The cost is the latency of the
watermark: commits trail the writes by the slowest stage.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.timestamp import Timestamp

from connectors.kafka.reader import PartitionReader
from connectors.kafka.settings import KafkaSourceConfig

__all__ = ["CommitWhenWritten", "due_positions"]


def due_positions(held: Sequence[tuple[int, int]], until_micros: int,
                  ) -> tuple[int | None, list[tuple[int, int]]]:
    """``(position to commit or None, positions still held)`` from held ``(stamp in
    micros, position)`` pairs once the watermark is at ``until_micros``: due are the
    stamps strictly before it (a watermark equal to a stamp still admits records stamped
    so, such as the ones a stage holding the watermark there releases)."""
    due = [position for micros, position in held if micros < until_micros]
    later = [(micros, position) for micros, position in held if micros >= until_micros]
    return (max(due) if due else None), later


def _after(micros: int) -> Timestamp:
    """The timer time that fires once the watermark has passed ``micros``: the next
    millisecond (runners keep timers in milliseconds: a timer one microsecond later fires
    at the same millisecond, finds nothing due and loops)."""
    return Timestamp(micros=(micros // 1000 + 1) * 1000)


class _CommitFn(beam.DoFn):
    """Per partition: held positions, one event-time timer at the earliest stamp."""

    HELD = BagStateSpec("held", PickleCoder())
    COMMIT = TimerSpec("commit", TimeDomain.WATERMARK)

    def __init__(self, config: KafkaSourceConfig) -> None:
        self._config = config

    def setup(self) -> None:
        self._reader = PartitionReader(self._config)  # its commit(): one request, retried

    def teardown(self) -> None:
        self._reader.close()

    def process(self, element: tuple[tuple[str, int], int],
                stamp=beam.DoFn.TimestampParam,  # noqa: B008 - Beam idiom
                held=beam.DoFn.StateParam(HELD),  # noqa: B008
                commit=beam.DoFn.TimerParam(COMMIT)) -> None:  # noqa: B008
        _, position = element
        earlier = [micros for micros, _ in held.read()]
        held.add((stamp.micros, position))
        if not earlier or stamp.micros < min(earlier):
            commit.set(_after(stamp.micros))

    @on_timer(COMMIT)
    def commit_due(self, key=beam.DoFn.KeyParam,  # noqa: B008 - Beam idiom
                   fired=beam.DoFn.TimestampParam,  # noqa: B008
                   held=beam.DoFn.StateParam(HELD),  # noqa: B008
                   commit=beam.DoFn.TimerParam(COMMIT)) -> Iterator[None]:  # noqa: B008
        position, later = due_positions(list(held.read()), fired.micros)
        held.clear()
        for item in later:
            held.add(item)
        if later:
            commit.set(_after(min(micros for micros, _ in later)))
        if position is not None:
            self._reader.commit({tuple(key): position})
        return iter(())


class CommitWhenWritten(beam.PTransform):
    """``(consumed, *written)`` -> nothing: commits each read position of ``consumed``
    once the watermark of every PCollection in ``written`` (the sinks' last outputs; their
    elements are ignored) has passed it. See the module doc."""

    def __init__(self, config: KafkaSourceConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, inputs: tuple[beam.PCollection, ...]) -> None:
        consumed, *written = inputs
        waits = [pcoll
                 | f"Written{number}" >> beam.FlatMap(lambda _: ()).with_output_types(
                     tuple[tuple[str, int], int])
                 | f"Global{number}" >> beam.WindowInto(GlobalWindows())
                 for number, pcoll in enumerate(written)]
        positions = consumed | "Positions" >> beam.WindowInto(GlobalWindows())
        _ = ((positions, *waits)
             | "PositionsAndWrites" >> beam.Flatten()
             | "Commit" >> beam.ParDo(_CommitFn(self._config)))
