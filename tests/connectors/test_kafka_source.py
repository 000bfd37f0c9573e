"""ReadFromKafka against the embedded broker (Tansu), on Beam's FnApiRunner."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from kafka import KafkaConsumer, TopicPartition

from connectors.kafka_settings import (
    KafkaClientSettings,
    KafkaSourceConfig,
    parse_start,
    parse_stop,
)
from connectors.kafka_source import ReadFromKafka
from tests.connectors.conftest import create_topic, produce

RUNNER = ["--runner=FnApiRunner"]


def source_config(bootstrap: str, topic: str, *, start: str = "committed",
                  stop: str = "drained:1", group: str = "g", **extra) -> KafkaSourceConfig:
    return KafkaSourceConfig(
        client=KafkaClientSettings(bootstrap_servers=bootstrap), topics=(topic,),
        group_id=group, start=parse_start(start), stop=parse_stop(stop), **extra)




def committed(bootstrap: str, group: str, topic: str, partitions: int) -> list[int | None]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        return [consumer.committed(TopicPartition(topic, p)) for p in range(partitions)]
    finally:
        consumer.close()


def test_reads_all_partitions_keeps_provenance_and_commits(broker):
    """start=committed with no commits reads from earliest; keys, headers and CreateTime
    are kept; after the run the group's offsets are committed at the log end, so a
    second run with the same group reads nothing."""
    topic = create_topic(broker.bootstrap_servers, 3)
    produced = produce(broker.bootstrap_servers, topic, 30, 3, timestamp_ms=1_700_000_000_000)
    config = source_config(broker.bootstrap_servers, topic, group="g1")

    def summary(message):
        p = message.provenance
        return (p.partition, p.offset, p.key, p.headers["n"], message.value,
                int(p.timestamp.timestamp() * 1000))

    expected = []
    for i, (partition, offset) in enumerate(produced):
        expected.append((partition, offset, b"k%d" % i, str(i).encode(), b"v%d" % i,
                         1_700_000_000_000 + i * 1000))
    with beam.Pipeline(options=PipelineOptions(RUNNER)) as pipeline:
        messages = pipeline | ReadFromKafka(config)
        assert_that(messages | beam.Map(summary), equal_to(expected))
        event_times = messages | beam.Map(
            lambda m, ts=beam.DoFn.TimestampParam: (m.provenance.offset, m.provenance.partition,
                                                   int(ts.micros // 1000)))
        assert_that(event_times, equal_to(
            [(o, p, 1_700_000_000_000 + i * 1000) for i, (p, o) in enumerate(produced)]),
            label="EventTimeIsCreateTime")

    assert committed(broker.bootstrap_servers, "g1", topic, 3) == [10, 10, 10]

    with beam.Pipeline(options=PipelineOptions(RUNNER)) as pipeline:
        again = pipeline | ReadFromKafka(config)
        assert_that(again, equal_to([]))


def offsets_read(config: KafkaSourceConfig, expected: list[tuple[int, int]]) -> None:
    """Run the source to its end and assert it read exactly ``expected`` (partition, offset)s."""
    with beam.Pipeline(options=PipelineOptions(RUNNER)) as pipeline:
        read = pipeline | ReadFromKafka(config) | beam.Map(
            lambda m: (m.provenance.partition, m.provenance.offset))
        assert_that(read, equal_to(expected))


def test_start_from_timestamp_reads_exactly_the_later_records(broker):
    """start=timestamp:T reads, per partition, from the first record stamped >= T. Tansu
    answers offsets_for_times with offset 0; the source checks the answer by reading."""
    topic = create_topic(broker.bootstrap_servers, 3)
    base = 1_700_000_000_000
    produced = produce(broker.bootstrap_servers, topic, 30, 3, timestamp_ms=base)
    start = datetime.fromtimestamp((base + 17_000) / 1000, UTC).isoformat()
    expected = [pos for i, pos in enumerate(produced) if base + i * 1000 >= base + 17_000]
    assert len(expected) == 13
    offsets_read(source_config(broker.bootstrap_servers, topic, start=f"timestamp:{start}",
                               group="g-ts"), expected)


def test_start_from_explicit_offsets_and_earliest_for_unlisted_partitions(broker):
    topic = create_topic(broker.bootstrap_servers, 3)
    produced = produce(broker.bootstrap_servers, topic, 30, 3)
    start = f"offsets:{topic}:0=3,{topic}:1=9"
    expected = [(p, o) for p, o in produced if (p == 0 and o >= 3) or (p == 1 and o >= 9)
                or p == 2]
    offsets_read(source_config(broker.bootstrap_servers, topic, start=start, group="g-off"),
                 expected)


def test_bounded_read_stops_exactly_at_stop_offsets_although_end_offsets_lags(broker):
    """Records sent in one batch make Tansu's end_offsets answer 1; stop offsets are
    still honoured exactly: nothing at or past them, nothing before them missing. A stop
    offset beyond the data written so far waits for the records to arrive."""
    topic = create_topic(broker.bootstrap_servers, 2)
    produce(broker.bootstrap_servers, topic, 20, 2)  # offsets 0..9 in each partition
    probe = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers)
    stale = probe.end_offsets([TopicPartition(topic, 0), TopicPartition(topic, 1)])
    probe.close()
    assert min(stale.values()) < 10, "the broker's end_offsets is expected to lag here"

    late = threading.Timer(3.0, produce, (broker.bootstrap_servers, topic, 10, 2),
                           {"start": 20})  # offsets 10..14 in each partition, 3 s later
    late.start()
    try:
        config = source_config(broker.bootstrap_servers, topic, start="earliest",
                               stop=f"offsets:{topic}:0=7,{topic}:1=12", group="g-stop")
        offsets_read(config, [(0, o) for o in range(7)] + [(1, o) for o in range(12)])
    finally:
        late.join()


def test_stop_now_reads_to_the_true_log_end(broker):
    """stop=now ends at the log end found from a fetch's high watermark, not the stale
    end_offsets, and does not read records written after the read started."""
    topic = create_topic(broker.bootstrap_servers, 2)
    produced = produce(broker.bootstrap_servers, topic, 20, 2)
    config = source_config(broker.bootstrap_servers, topic, start="earliest", stop="now",
                           group="g-now")
    offsets_read(config, produced)
