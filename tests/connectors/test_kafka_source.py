"""ReadFromKafka against the embedded broker (Tansu), on Beam's FnApiRunner."""

from __future__ import annotations

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
