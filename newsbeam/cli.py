"""``newsbeam``: the command line. Each subcommand's ``--help`` shows examples.

``_commands()`` is the dispatch table: for each command its help, the flags it declares
(Beam ``PipelineOptions`` classes, or functions adding arguments, shared with the code
that reads them, so ``--help`` lists exactly what the command accepts) and its handler.
``produce``, ``inspect``, ``run``, ``process`` and ``replay`` declare the Kafka connection
flags through one declaration (``connectors.kafka.options.add_connection_arguments``),
so each reaches a TLS/SASL cluster the same way.

A bad input (``ValueError``) ends with one line on stderr and exit code 2, a Kafka or
timeout failure with one line and exit code 1; ``--log-level DEBUG`` adds the traceback.
Output piped into a command that stops reading (``newsbeam inspect out/ | head``) ends
quietly, as the Python docs recommend for SIGPIPE.

Modules that import Beam are imported inside functions: importing Beam logs a warning on
the root logger, which ``main`` quiets before its own logging is configured.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kafka.errors import KafkaError
from pydantic import ValidationError

from newsbeam.broker import BrokerNotAvailable
from newsbeam.logs import configure_logging

__all__ = ["main"]

_log = logging.getLogger(__name__)

ArgumentAdder = Callable[[argparse.ArgumentParser], None]
Handler = Callable[[argparse.Namespace, list[str]], int]


@dataclass(frozen=True)
class Command:
    """One subcommand: ``flags`` are ``PipelineOptions`` classes or argument adders;
    ``beam``: unknown flags pass through to Beam (``--runner``, ...)."""

    help: str
    examples: str
    flags: tuple[type | ArgumentAdder, ...]
    handler: Handler
    beam: bool = False


# ---------------------------------------------------------------- arguments

def _broker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--engine", choices=("tansu", "kafka"), default="tansu",
                        help="tansu: the embedded broker, memory only (default); kafka: "
                             "Apache Kafka (KRaft, one node), resolved from Maven Central on "
                             "first use; needs Java 17+ and Maven.")
    parser.add_argument("--data-dir", default=None,
                        help="--engine kafka: keep the data in this folder (restart on it "
                             "later); default: a temporary folder removed on exit.")


def _produce_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, default=3,
                        help="Partitions when the topic has to be created (default: 3).")
    parser.add_argument("paths", nargs="+",
                        help="Files or directories; - reads JSON Lines from stdin.")


def _process_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", dest="inputs", action="append", required=True,
                        help="JSON Lines file (.jsonl, .jsonl.gz), text/HTML file or "
                             "directory; repeatable.")


def _inspect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="SOURCE",
                        help="File or directory (local, gs://, s3://), kafka://HOST:PORT/TOPIC, "
                             "or kafka:TOPIC (broker from --bootstrap-servers).")
    parser.add_argument("--schema-registry-url", default=None,
                        help="Schema Registry for Confluent wire-format values (credentials: "
                             "NEWSBEAM_SCHEMA_REGISTRY_USER_INFO[_FILE]).")
    parser.add_argument("--metadata", action="store_true",
                        help="Wrap each record with where it was read (file, or topic, "
                             "partition, offset, key, headers).")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="Seconds to reach a topic's end before giving up (default: 30).")


# ---------------------------------------------------------------- handlers

def _broker(args: argparse.Namespace, _: list[str]) -> int:
    if args.engine == "kafka":
        from newsbeam.kafka_broker import ApacheKafkaBroker

        broker = ApacheKafkaBroker(port=args.port, log_dir=args.data_dir).start()
        where = f"data in {broker.log_dir}"
    else:
        if args.data_dir:
            raise ValueError("--data-dir needs --engine kafka (the embedded broker keeps "
                             "its data in memory)")
        from newsbeam.broker import EmbeddedBroker

        broker = EmbeddedBroker(port=args.port).start()
        where = "memory only"
    print(f"broker listening on {broker.bootstrap_servers} ({where}; Ctrl-C stops it)",
          flush=True)
    try:
        return broker.wait()
    except KeyboardInterrupt:
        broker.stop()
        return 0


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


def _produce(args: argparse.Namespace, _: list[str]) -> int:
    from connectors.kafka.options import connection_settings
    from connectors.kafka.topics import ensure_topic, publish_values

    client = connection_settings(args, "producer")
    ensure_topic(client, args.topic, args.partitions)
    count = publish_values(client, args.topic, _stdin_or_files(args.paths))
    print(f"published {count} messages to {args.topic}")
    return 0


def _run(_: argparse.Namespace, pipeline_argv: list[str]) -> int:
    from newsbeam.jobs import run_streaming

    print(run_streaming(pipeline_argv).table())
    return 0


def _process(args: argparse.Namespace, pipeline_argv: list[str]) -> int:
    from newsbeam.jobs import run_batch

    print(run_batch(args.inputs, _drop_flag(pipeline_argv, "--input")).table())
    return 0


def _replay(_: argparse.Namespace, pipeline_argv: list[str]) -> int:
    from newsbeam.replay import run_replay

    print(run_replay(pipeline_argv).report())
    return 0


def _demo(_: argparse.Namespace, beam_argv: list[str]) -> int:
    from newsbeam.demo import run_demo

    return run_demo(Path.cwd(), beam_argv)


def _json_default(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    return str(value)


def _kafka_source(source: str) -> tuple[str | None, str] | None:
    """``kafka://HOST:PORT/TOPIC`` -> (servers, topic); ``kafka:TOPIC`` -> (None, topic):
    the broker of ``--bootstrap-servers``. None: not a Kafka source."""
    if source.startswith("kafka://"):
        servers, _, topic = source[len("kafka://"):].partition("/")
        if not servers or not topic:
            raise ValueError(f"bad source {source!r}: expected kafka://HOST:PORT/TOPIC")
        return servers, topic
    if source.startswith("kafka:"):
        if not source[len("kafka:"):]:
            raise ValueError(f"bad source {source!r}: expected kafka:TOPIC")
        return None, source[len("kafka:"):]
    return None


def _print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, default=_json_default))


def _inspect(args: argparse.Namespace, _: list[str]) -> int:
    from connectors.avro_files import list_avro_files, read_avro_records
    from connectors.kafka.options import connection_settings
    from connectors.kafka.topics import read_topic
    from connectors.schema_registry import SchemaRegistryClient

    sources = [(source, _kafka_source(source)) for source in args.paths]  # fail before output
    client = (connection_settings(args, "consumer")
              if any(kafka for _, kafka in sources) else None)
    registry = SchemaRegistryClient(args.schema_registry_url) if args.schema_registry_url else None
    found = undecodable = 0
    for source, kafka in sources:
        if kafka is None:
            for path in list_avro_files(source):
                for record in read_avro_records(path):
                    found += 1
                    _print_json({"file": path, "record": record} if args.metadata else record)
            continue
        servers, topic = kafka
        reach = client if servers is None else client.model_copy(
            update={"bootstrap_servers": servers})
        for message in read_topic(reach, topic, registry=registry,
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


# ---------------------------------------------------------------- the table

def _commands() -> dict[str, Command]:
    from connectors.kafka.options import KafkaOptions, add_connection_arguments, add_sink_arguments
    from newsbeam.options import DedupOptions, NewsbeamOptions
    from newsbeam.replay import ReplayOptions

    return {
        "broker": Command(
            "Run a broker in the foreground: the embedded one (Tansu) or Apache Kafka.",
            "examples:\n  newsbeam broker --port 9092\n"
            "  newsbeam broker --engine kafka --data-dir ./kafka-data\n"
            "  # then: --bootstrap-servers 127.0.0.1:9092",
            (_broker_arguments,), _broker),
        "produce": Command(
            "Publish articles from files (JSON Lines, text, HTML) or stdin.",
            "examples:\n"
            "  newsbeam produce --bootstrap-servers 127.0.0.1:9092 --topic articles seeds/\n"
            "  newsbeam produce --bootstrap-servers 127.0.0.1:9092 --topic articles a.jsonl page.html\n"
            "  cat fixed.jsonl | newsbeam produce --bootstrap-servers 127.0.0.1:9092 --topic articles -\n"
            "  newsbeam produce --bootstrap-servers kafka:9093 --kafka-property security.protocol=SSL \\\n"
            "      --kafka-property ssl.ca.location=ca.pem --topic articles seeds/",
            (add_connection_arguments, _produce_arguments), _produce),
        "run": Command(
            "Run the streaming pipeline: Kafka -> stages -> sinks.",
            "examples:\n"
            "  newsbeam run --bootstrap-servers 127.0.0.1:9092 --topic articles --output-dir out/\n"
            "  newsbeam run --bootstrap-servers kafka:9092 --topic articles --group-id newsbeam \\\n"
            "      --sink avro:gs://bucket/news --sink kafka:articles.{route}\n"
            "  newsbeam run ... --stop drained:5     # stop once caught up for 5 s\n"
            "  newsbeam run ... --runner PrismRunner  # on Beam's Prism runner (built with Go)\n"
            "Beam flags (--runner PrismRunner|DirectRunner|..., --direct_num_workers, ...) pass through.",
            (KafkaOptions, NewsbeamOptions, DedupOptions), _run, beam=True),
        "process": Command(
            "Run the same stages in batch over files.",
            "examples:\n"
            "  newsbeam process --input archive.jsonl.gz --output-dir out/\n"
            "  newsbeam process --input seeds/ --output-dir out/ --direct_num_workers 2\n"
            "  newsbeam process --input seeds/ --sink kafka:articles.{route} "
            "--bootstrap-servers kafka:9092\n"
            "Beam flags (--runner PrismRunner|DirectRunner|..., --direct_num_workers, ...) pass through.",
            (_process_arguments, add_sink_arguments, NewsbeamOptions, DedupOptions), _process,
            beam=True),
        "inspect": Command(
            "Print Avro records of files, directories or Kafka topics as JSON Lines.",
            "examples:\n"
            "  newsbeam inspect out/\n"
            "  newsbeam inspect out/energy/part-00000-of-00004.avro | jq .title\n"
            "  newsbeam inspect gs://bucket/news/dead_letter/\n"
            "  newsbeam inspect kafka://127.0.0.1:9092/articles.energy\n"
            "  newsbeam inspect --bootstrap-servers 127.0.0.1:9092 --metadata kafka:articles.dead_letter\n"
            "  newsbeam inspect --schema-registry-url http://registry:8081 kafka://kafka:9092/articles.energy\n"
            "Topics are read from the beginning up to their current end (no consumer group).\n"
            "Values in either encoding (Avro single-object, Confluent wire format with a registry).",
            (_inspect_arguments, add_connection_arguments), _inspect),
        "replay": Command(
            "Re-run the stages over a fixed Kafka range (bounded, parallel).",
            "examples:\n"
            "  newsbeam replay --bootstrap-servers kafka:9092 --topic articles \\\n"
            "      --from 2026-11-01T00:00Z --to 2026-11-08T00:00Z --output-dir out/replay/ --dry-run\n"
            "  newsbeam replay ... --from offsets:articles:0=1200,articles:1=900 --to now\n"
            "  newsbeam replay ... --runner DaskRunner --dask-workers 8\n"
            "  newsbeam replay ... --runner DaskRunner --dask-address tcp://scheduler:8786\n"
            "Beam flags (--runner PrismRunner|DirectRunner|..., --direct_num_workers, ...) pass through.",
            (ReplayOptions, KafkaOptions, NewsbeamOptions, DedupOptions), _replay, beam=True),
        "demo": Command(
            "Embedded broker + seeds + streaming pipeline + summary.",
            "examples:\n  newsbeam demo   # embedded broker, seeds/ -> streaming pipeline -> ./out/\n"
            "  newsbeam demo --runner PrismRunner   # the same on Beam's Prism runner (Go)\n"
            "Beam flags (--runner, --prism_location, ...) pass through.",
            (), _demo, beam=True),
    }


def _build_parser(commands: dict[str, Command] | None = None) -> argparse.ArgumentParser:
    # No abbreviations: Beam's own parser drops an abbreviated flag silently, so
    # `--bootstrap kafka:9092` would quietly mean the default broker.
    parser = argparse.ArgumentParser(prog="newsbeam", allow_abbrev=False, description=(
        "Streaming news ingestion on Apache Beam: Kafka in, clean, deduplicated, "
        "topic-tagged Avro out."))
    parser.add_argument("--log-level", default="WARNING", help="Log level (default: WARNING).")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, command in (commands or _commands()).items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help,
                                    epilog=command.examples, allow_abbrev=False,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        for flags in command.flags:
            getattr(flags, "_add_argparse_args", flags)(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    """An error as one line; a pydantic error by its messages only."""
    if isinstance(exc, ValidationError):
        text = "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Importing Beam logs an irrelevant GCP-client warning on the root logger; keep the
    # terminal quiet until our own (JSON) logging is configured below.
    logging.getLogger().setLevel(logging.ERROR)
    commands = _commands()
    parser = _build_parser(commands)
    args, beam_args = parser.parse_known_args(args_list)
    configure_logging(args.log_level)
    command = commands[args.command]
    if beam_args and not command.beam:
        parser.error(f"unrecognized arguments: {' '.join(beam_args)}")
    # Everything after the subcommand goes to Beam, which parses our flags and its own.
    pipeline_argv = args_list[args_list.index(args.command) + 1:]
    try:
        code = command.handler(args, pipeline_argv)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader went away (`| head`): send what is still buffered to devnull so the
        # interpreter's final flush does not fail too (docs.python.org, signal, SIGPIPE).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except ValueError as exc:  # a bad flag, input or source: say what to fix, no traceback
        _log.debug("bad input", exc_info=True)
        print(f"newsbeam {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (KafkaError, TimeoutError, BrokerNotAvailable) as exc:
        _log.debug("Kafka failure", exc_info=True)
        print(f"newsbeam {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


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
