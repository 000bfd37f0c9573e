"""``newsbeam``: the command line. Each subcommand's ``--help`` shows examples."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from pipeline.observability import configure_logging

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
        "examples:\n  newsbeam inspect out/\n  newsbeam inspect out/energy/part-global-1a2b.avro | jq .title"),
    "demo": "example:\n  newsbeam demo   # embedded broker, seeds/ -> streaming pipeline -> ./out/",
}


def _subparser(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> argparse.ArgumentParser:
    return subparsers.add_parser(name, help=help_text, description=help_text,
                                 epilog=_EXAMPLES[name],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


def _build_parser() -> argparse.ArgumentParser:
    from connectors.kafka_options import KafkaOptions
    from pipeline.options import NewsbeamOptions

    parser = argparse.ArgumentParser(prog="newsbeam", description=(
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

    process = _subparser(subparsers, "process", "Run the same stages in batch over files.")
    process.add_argument("--input", dest="inputs", action="append", required=True,
                         help="JSON Lines file (.jsonl, .jsonl.gz), text/HTML file or directory; repeatable.")
    NewsbeamOptions._add_argparse_args(process)

    inspect = _subparser(subparsers, "inspect", "Print Avro records (files or directories) as JSON Lines.")
    inspect.add_argument("paths", nargs="+")

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


def _command_inspect(paths: Sequence[str]) -> int:
    from connectors.avro_files import list_avro_files, read_avro_records

    found = 0
    for root in paths:
        for path in list_avro_files(root):
            for record in read_avro_records(path):
                found += 1
                print(json.dumps(record, ensure_ascii=False, default=_json_default))
    if not found:
        print(f"no Avro records under {' '.join(paths)}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    args, beam_args = parser.parse_known_args(args_list)
    configure_logging(args.log_level)
    if beam_args and args.command not in ("run", "process"):
        parser.error(f"unrecognized arguments: {' '.join(beam_args)}")
    # Everything after the subcommand goes to Beam, which parses our flags and its own.
    pipeline_argv = args_list[args_list.index(args.command) + 1:]

    if args.command == "broker":
        from connectors.broker import EmbeddedBroker

        broker = EmbeddedBroker(port=args.port).start()
        print(f"broker listening on {broker.bootstrap_servers} (memory only; Ctrl-C stops it)",
              flush=True)
        try:
            return broker.wait()
        except KeyboardInterrupt:
            broker.stop()
            return 0
    if args.command == "produce":
        from connectors.publish import ensure_topic, publish_values

        ensure_topic(args.bootstrap_servers, args.topic, args.partitions)
        count = publish_values(args.bootstrap_servers, args.topic, _stdin_or_files(args.paths))
        print(f"published {count} messages to {args.topic}")
        return 0
    if args.command == "run":
        from pipeline.jobs import run_streaming

        print(run_streaming(pipeline_argv).table())
        return 0
    if args.command == "process":
        from pipeline.jobs import run_batch

        rest = _drop_flag(pipeline_argv, "--input")
        print(run_batch(args.inputs, rest).table())
        return 0
    if args.command == "inspect":
        return _command_inspect(args.paths)
    if args.command == "demo":
        from pipeline.demo import run_demo

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
