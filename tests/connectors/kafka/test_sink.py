"""WriteToKafka against the embedded broker: delivered records, and failures as dead letters."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from kafka import KafkaConsumer, TopicPartition

from connectors.kafka.settings import KafkaClientSettings, KafkaSinkConfig
from connectors.kafka.sink import OutgoingRecord, WriteToKafka, _ProduceFn
from newsbeam.broker import EmbeddedBroker
from schemas.failures import Stage
from schemas.models import Provenance, ProvenanceKind
from tests.support.broker import create_topic

RUNNER = ["--runner=FnApiRunner"]


def _provenance(i: int) -> Provenance:
    return Provenance(kind=ProvenanceKind.KAFKA, topic="in", partition=0, offset=i)


def _read_all(bootstrap: str, topic: str, partitions: int) -> list:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    records = []
    for _ in range(20):
        for batch in consumer.poll(timeout_ms=200).values():
            records.extend(batch)
    consumer.close()
    return records


def test_writes_each_record_to_its_topic_keyed_by_article_id(broker):
    """Records reach the topic named in each element; the key (article id) decides the
    partition, so all records of one key share a partition; no dead letters."""
    articles, events = (create_topic(broker.bootstrap_servers, 3, "articles"),
                        create_topic(broker.bootstrap_servers, 1, "events"))
    config = KafkaSinkConfig(client=KafkaClientSettings(
        bootstrap_servers=broker.bootstrap_servers))
    records = [OutgoingRecord(articles, b"id-%d" % (i % 4), b"a%d" % i, _provenance(i),
                              (("route", b"energy"),)) for i in range(20)]
    records.append((events, b"id-x", b"e0", _provenance(99)))  # plain tuples work too
    with beam.Pipeline(options=PipelineOptions(RUNNER)) as pipeline:
        failures = pipeline | beam.Create(records) | WriteToKafka(config)
        assert_that(failures, equal_to([]))

    written = _read_all(broker.bootstrap_servers, articles, 3)
    assert sorted(r.value for r in written) == sorted(b"a%d" % i for i in range(20))
    partitions_by_key = {}
    for record in written:
        partitions_by_key.setdefault(record.key, set()).add(record.partition)
        assert record.headers == [("route", b"energy")]
    assert all(len(p) == 1 for p in partitions_by_key.values())
    assert [r.value for r in _read_all(broker.bootstrap_servers, events, 1)] == [b"e0"]


def test_record_over_the_size_limit_becomes_a_dead_letter(broker):
    """A record the producer refuses comes out as a DeadLetter of stage 'sink' carrying
    the payload and provenance; the other records of the bundle are delivered."""
    topic = create_topic(broker.bootstrap_servers, 1, "sink")
    too_big = KafkaSinkConfig(client=KafkaClientSettings(
        bootstrap_servers=broker.bootstrap_servers, properties={"max_request_size": 1000}))

    def summary(letter):
        return (letter.stage, letter.error_class, letter.payload, letter.provenance.offset)

    with beam.Pipeline(options=PipelineOptions(RUNNER)) as pipeline:
        big = pipeline | beam.Create([
            OutgoingRecord(topic, b"k", b"x" * 5000, _provenance(1)),
            OutgoingRecord(topic, b"k", b"small", _provenance(2))])
        assert_that(big | WriteToKafka(too_big) | beam.Map(summary),
                    equal_to([(Stage.SINK.value, "MessageSizeTooLargeError", b"x" * 5000, 1)]))
    assert [r.value for r in _read_all(broker.bootstrap_servers, topic, 1)] == [b"small"]


def test_records_unacknowledged_when_the_broker_dies_become_dead_letters():
    """The producer works, then its broker goes away: finish_bundle (flush) turns every
    record of the bundle into a DeadLetter instead of dropping it."""
    with EmbeddedBroker() as doomed:
        topic = create_topic(doomed.bootstrap_servers, 1, "doomed")
        config = KafkaSinkConfig(
            client=KafkaClientSettings(bootstrap_servers=doomed.bootstrap_servers,
                                       properties={"request_timeout_ms": 1000,
                                                   "max_block_ms": 1000}),
            retries=1, delivery_timeout_ms=2000, flush_timeout_seconds=5)
        produce = _ProduceFn(config)
        produce.setup()
        produce.start_bundle()
        window = GlobalWindow()
        assert list(produce.process(OutgoingRecord(topic, b"k", b"ok", _provenance(0)),
                                    MIN_TIMESTAMP, window)) == []
        assert list(produce.finish_bundle() or ()) == []
        doomed.stop()
        produce.start_bundle()
        letters = []
        for i in range(1, 4):
            letters += produce.process(OutgoingRecord(topic, b"k", b"v%d" % i, _provenance(i)),
                                       MIN_TIMESTAMP, window)
        letters += [wv.value for wv in produce.finish_bundle()]
        produce.teardown()
    assert sorted((d.stage, d.payload, d.provenance.offset) for d in letters) == [
        (Stage.SINK.value, b"v%d" % i, i) for i in range(1, 4)]
