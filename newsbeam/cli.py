"""``newsbeam``: the command line. Each subcommand's ``--help`` shows examples."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from newsbeam.logs import configure_logging

__all__ = ["main"]

_EXAMPLES = {
    "broker": "examples:\n  newsbeam broker --port 9092\n  # then: --bootstrap-servers 127.0.0.1:9092",
    "produce": (
        "examples:\n"
        "  newsbeam produce --bootstrap-servers 127.0.0.1:9092 --topic articles seeds/\n"
        "  newsbeam produce --bootstrap-servers 127.0.0.1:9092 --topic articles a.jsonl page.html\n"
        "  cat fixed.jsonl | newsbeam produce --bootstrap-servers 127.0.0.1:9092 --topic articles -"),
    "run": (
        "examples:\n"
        "  newsbeam run --bootstrap-servers 127.0.0.1:9092 --topic articles --output-dir out/\n"
        "  newsbeam run --bootstrap-servers kafka:9092 --topic articles --group-id newsbeam \\\n"
        "      --sink avro:gs://bucket/news --sink kafka:articles.{route}\n"
        "  newsbeam run ... --stop drained:5     # stop once caught up for 5 s\n"
        "Beam flags (--runner, --direct_num_workers, ...) pass through."),
    "process": (
        "examples:\n"
        "  newsbeam process --input archive.jsonl.gz --output-dir out/\n"
        "  newsbeam process --input seeds/ --output-dir out/ --direct_num_workers 2"),
    "inspect": (
        "examples:\n"
        "  newsbeam inspect out/\n"
        "  newsbeam inspect out/energy/part-00000-of-00004.avro | jq .title\n"
        "  newsbeam inspect gs://bucket/news/dead_letter/\n"
        "  newsbeam inspect kafka://127.0.0.1:9092/articles.energy\n"
        "  newsbeam inspect --bootstrap-servers 127.0.0.1:9092 --metadata kafka:articles.dead_letter\n"
        "  newsbeam inspect --schema-registry-url http://registry:8081 kafka://kafka:9092/articles.energy\n"
        "Topics are read from the beginning up to their current end (no consumer group).\n"
        "Values in either encoding (Avro single-object, Confluent wire format with a registry)."),
    "replay": (
        "examples:\n"
        "  newsbeam replay --bootstrap-servers kafka:9092 --topic articles \\\n"
        "      --from 2026-11-01T00:00Z --to 2026-11-08T00:00Z --output-dir out/replay/ --dry-run\n"
        "  newsbeam replay ... --from offsets:articles:0=1200,articles:1=900 --to now\n"
        "  newsbeam replay ... --runner DaskRunner --dask-workers 8\n"
        "  newsbeam replay ... --runner DaskRunner --dask-address tcp://scheduler:8786\n"
        "Beam flags (--runner, --direct_num_workers, ...) pass through."),
    "demo": "example:\n  newsbeam demo   # embedded broker, seeds/ -> streaming pipeline -> ./out/",
}


def _subparser(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> argparse.ArgumentParser:
    return subparsers.add_parser(name, help=help_text, description=help_text,
                                 epilog=_EXAMPLES[name], allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


def _build_parser() -> argparse.ArgumentParser:
    from connectors.kafka.options import KafkaOptions
    from newsbeam.options import DedupOptions, NewsbeamOptions
    from newsbeam.replay import ReplayOptions

    # No abbreviations: Beam's own parser drops an abbreviated flag silently, so
    # `--bootstrap kafka:9092` would quietly mean the default broker.
    parser = argparse.ArgumentParser(prog="newsbeam", allow_abbrev=False, description=(
        "Streaming news ingestion on Apache Beam: Kafka in, clean, deduplicated, "
        "topic-tagged Avro out."))
    parser.add_argument("--log-level", default="WARNING", help="Log level (default: WARNING).")
    subparsers = parser.add_subparsers(dest="command", required=True)

    broker = _subparser(subparsers, "broker", "Run the embedded Kafka-protocol broker (Tansu) in the foreground.")
    broker.add_argument("--port", type=int, default=9092)

    produce = _subparser(subparsers, "produce", "Publish articles from files (JSON Lines, text, HTML) or stdin.")
    produce.add_argument("--bootstrap-servers", required=True)
    produce.add_argument("--topic", required=True)
    produce.add_argument("--partitions", type=int, default=3,
                         help="Partitions when the topic has to be created (default: 3).")
    produce.add_argument("paths", nargs="+", help="Files or directories; - reads JSON Lines from stdin.")

    run = _subparser(subparsers, "run", "Run the streaming pipeline: Kafka -> stages -> sinks.")
    KafkaOptions._add_argparse_args(run)
    NewsbeamOptions._add_argparse_args(run)
    DedupOptions._add_argparse_args(run)

    process = _subparser(subparsers, "process", "Run the same stages in batch over files.")
    process.add_argument("--input", dest="inputs", action="append", required=True,
                         help="JSON Lines file (.jsonl, .jsonl.gz), text/HTML file or directory; repeatable.")
    NewsbeamOptions._add_argparse_args(process)
    DedupOptions._add_argparse_args(process)

    inspect = _subparser(subparsers, "inspect",
                         "Print Avro records of files, directories or Kafka topics as JSON Lines.")
    inspect.add_argument("paths", nargs="+", metavar="SOURCE",
                         help="File or directory (local, gs://, s3://), kafka://HOST:PORT/TOPIC, "
                              "or kafka:TOPIC with --bootstrap-servers.")
    inspect.add_argument("--bootstrap-servers", default=None,
                         help="Broker for kafka:TOPIC sources.")
    inspect.add_argument("--schema-registry-url", default=None,
                         help="Schema Registry for Confluent wire-format values (credentials: "
                              "NEWSBEAM_SCHEMA_REGISTRY_USER_INFO[_FILE]).")
    inspect.add_argument("--metadata", action="store_true",
                         help="Wrap each record with where it was read (file, or topic, "
                              "partition, offset, key, headers).")
    inspect.add_argument("--timeout", type=float, default=30.0,
                         help="Seconds to reach a topic's end before giving up (default: 30).")

    replay = _subparser(subparsers, "replay",
                        "Re-run the stages over a fixed Kafka range (bounded, parallel).")
    ReplayOptions._add_argparse_args(replay)
    KafkaOptions._add_argparse_args(replay)
    NewsbeamOptions._add_argparse_args(replay)

    _subparser(subparsers, "demo", "Embedded broker + seeds + streaming pipeline + summary; no arguments.")
    return parser


def _stdin_or_files(paths: Sequence[str]) -> Iterator[bytes]:
    from connectors.article_files import expand_paths, iter_file_values

    for path in paths:
        if path == "-":
            for line in sys.stdin.buffer:
                if line.strip():
                    yield line.rstrip(b"\r\n")
            continue
        for file in expand_paths([path]):
            for _, value in iter_file_values(file):
                yield value


def _json_default(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    return str(value)


def _kafka_source(source: str, bootstrap_servers: str | None) -> tuple[str, str] | None:
    """``kafka://HOST:PORT/TOPIC`` or ``kafka:TOPIC`` -> (bootstrap servers, topic)."""
    if source.startswith("kafka://"):
        servers, _, topic = source[len("kafka://"):].partition("/")
        if not servers or not topic:
            raise ValueError(f"bad source {source!r}: expected kafka://HOST:PORT/TOPIC")
        return servers, topic
    if source.startswith("kafka:"):
        if not bootstrap_servers:
            raise ValueError(f"{source!r} needs --bootstrap-servers (or use kafka://HOST:PORT/TOPIC)")
        return bootstrap_servers, source[len("kafka:"):]
    return None


def _print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, default=_json_default))


def _command_inspect(args: argparse.Namespace) -> int:
    from connectors.avro_files import list_avro_files, read_avro_records
    from connectors.kafka.topics import read_topic
    from connectors.schema_registry import SchemaRegistryClient

    registry = SchemaRegistryClient(args.schema_registry_url) if args.schema_registry_url else None
    found = undecodable = 0
    for source in args.paths:
        try:
            kafka = _kafka_source(source, args.bootstrap_servers)
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        if kafka is None:
            for path in list_avro_files(source):
                for record in read_avro_records(path):
                    found += 1
                    _print_json({"file": path, "record": record} if args.metadata else record)
            continue
        servers, topic = kafka
        for message in read_topic(servers, topic, registry=registry,
                                  timeout_seconds=args.timeout):
            if message.schema is None:
                undecodable += 1
                print(f"{topic}[{message.partition}]@{message.offset}: "
                      f"{message.record['error']}", file=sys.stderr)
                continue
            found += 1
            _print_json({"topic": message.topic, "partition": message.partition,
                         "offset": message.offset, "key": message.key,
                         "headers": message.headers, "schema": message.schema,
                         "record": message.record} if args.metadata else message.record)
    if not found and not undecodable:
        print(f"no Avro records in {' '.join(args.paths)}", file=sys.stderr)
    return 1 if undecodable else 0


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Importing Beam logs an irrelevant GCP-client warning on the root logger; keep the
    # terminal quiet until our own (JSON) logging is configured below.
    logging.getLogger().setLevel(logging.ERROR)
    parser = _build_parser()
    args, beam_args = parser.parse_known_args(args_list)
    configure_logging(args.log_level)
    if beam_args and args.command not in ("run", "process", "replay"):
        parser.error(f"unrecognized arguments: {' '.join(beam_args)}")
    # Everything after the subcommand goes to Beam, which parses our flags and its own.
    pipeline_argv = args_list[args_list.index(args.command) + 1:]

    if args.command == "broker":
        from newsbeam.broker import EmbeddedBroker

        broker = EmbeddedBroker(port=args.port).start()
        print(f"broker listening on {broker.bootstrap_servers} (memory only; Ctrl-C stops it)",
              flush=True)
        try:
            return broker.wait()
        except KeyboardInterrupt:
            broker.stop()
            return 0
    if args.command == "produce":
        from connectors.kafka.topics import ensure_topic, publish_values

        ensure_topic(args.bootstrap_servers, args.topic, args.partitions)
        count = publish_values(args.bootstrap_servers, args.topic, _stdin_or_files(args.paths))
        print(f"published {count} messages to {args.topic}")
        return 0
    if args.command == "run":
        from newsbeam.jobs import run_streaming

        print(run_streaming(pipeline_argv).table())
        return 0
    if args.command == "process":
        from newsbeam.jobs import run_batch

        rest = _drop_flag(pipeline_argv, "--input")
        print(run_batch(args.inputs, rest).table())
        return 0
    if args.command == "replay":
        from newsbeam.replay import run_replay

        try:
            result = run_replay(pipeline_argv)
        except ValueError as exc:  # a bad --from/--to/--topic: say what to fix, no traceback
            parser.error(str(exc))
        print(result.report())
        return 0
    if args.command == "inspect":
        return _command_inspect(args)
    if args.command == "demo":
        from newsbeam.demo import run_demo

        return run_demo(Path.cwd())
    parser.error(f"unknown command {args.command}")
    return 2


def _drop_flag(argv: list[str], flag: str) -> list[str]:
    """``argv`` without ``flag VALUE`` / ``flag=VALUE`` pairs (handled by us, not Beam)."""
    kept: list[str] = []
    skip = False
    for item in argv:
        if skip:
            skip = False
        elif item == flag:
            skip = True
        elif not item.startswith(f"{flag}="):
            kept.append(item)
    return kept


if __name__ == "__main__":
    raise SystemExit(main())
