"""A tiny streaming job for the kill/restart tests: ReadFromKafka -> offsets to a file.

The file write is fused into the source's stage and fsynced in ``finish_bundle``, so a
bundle's outputs are durable before its offsets are committed (bundle finalization).

    python -m tests.connectors.kafka.run_source --out FILE [--sleep-ms N] <Kafka flags>
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from connectors.kafka.options import KafkaOptions
from connectors.kafka.source import ReadFromKafka


class AppendOffsets(beam.DoFn):
    """Appends ``partition offset`` lines; durable (fsync) when the bundle finishes."""

    def __init__(self, path: str, sleep_ms: int) -> None:
        self._path = path
        self._sleep = sleep_ms / 1000

    def setup(self) -> None:
        self._file = open(self._path, "a", encoding="utf-8")  # noqa: SIM115

    def process(self, message):
        if self._sleep:
            time.sleep(self._sleep)
        self._file.write(f"{message.provenance.partition} {message.provenance.offset}\n")

    def finish_bundle(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def teardown(self) -> None:
        self._file.close()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--sleep-ms", type=int, default=0)
    args, rest = parser.parse_known_args(argv)
    logging.basicConfig(stream=sys.stderr)
    logging.getLogger("connectors").setLevel(logging.INFO)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # kafka-python logs every retry
    options = PipelineOptions(["--runner=FnApiRunner", *rest])
    config = options.view_as(KafkaOptions).source_config()
    with beam.Pipeline(options=options) as pipeline:
        _ = (pipeline
             | "ReadFromKafka" >> ReadFromKafka(config)
             | "AppendOffsets" >> beam.ParDo(AppendOffsets(args.out, args.sleep_ms)))


if __name__ == "__main__":
    main(sys.argv[1:])
