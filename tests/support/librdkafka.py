"""Test input produced with librdkafka (``confluent-kafka``), a Kafka client independent of
newsbeam's: what a test expects to find is what the broker acknowledged in librdkafka's
delivery reports, never a count newsbeam's own producer returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from confluent_kafka import Producer

__all__ = ["produce_acked"]


def produce_acked(bootstrap: str, topic: str, values: Sequence[bytes], *,
                  partition: int | None = None, codec: str = "none",
                  key: Callable[[bytes], bytes | None] | None = None) -> list[tuple[int, int]]:
    """Produce ``values`` (acks=all, idempotent; linger lets librdkafka batch several
    records); return the acknowledged ``(partition, offset)`` of each value, in the order
    given. ``partition`` pins one partition; otherwise a value goes where its ``key(value)``
    puts it (murmur2, as Java's producer and kafka-python place keys; keyless at random)."""
    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec,
                         "linger.ms": 50, "acks": "all", "enable.idempotence": True,
                         "partitioner": "murmur2_random"})
    acked: dict[int, tuple[int, int]] = {}
    errors: list[str] = []

    def report(index: int) -> Callable:
        def delivered(error, message) -> None:
            if error is not None:
                errors.append(str(error))
            else:
                acked[index] = (message.partition(), message.offset())
        return delivered

    for index, value in enumerate(values):
        extra = {} if partition is None else {"partition": partition}
        producer.produce(topic, value=value, key=key(value) if key else None,
                         on_delivery=report(index), **extra)
    assert producer.flush(60) == 0, "librdkafka did not deliver everything"
    assert not errors, errors
    assert len(acked) == len(values) and len(set(acked.values())) == len(values), acked
    return [acked[index] for index in range(len(values))]
