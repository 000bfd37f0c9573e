"""Submit the newsbeam streaming pipeline to a remote runner, then exit.

The program both deployments start:

- Dataflow: the Flex Template's Python file (``FLEX_TEMPLATE_PYTHON_PY_FILE`` in
  ``deploy/Dockerfile``); Dataflow runs it once to submit the job.
- Flink: the driver command of ``FlinkPortableClientEntryPoint`` (``deploy/flink/``), run
  inside the JobManager; the entry point appends ``--job_endpoint=localhost:PORT``.

Unlike ``newsbeam run`` it never waits for the job: a streaming job does not finish, and
both launchers expect the program to exit once the job is handed over.

Flags are exactly those of ``newsbeam run`` (parsed by its own parser, so a renamed flag
fails here, at submission) plus any Beam or runner flag. Flex Template parameters arrive as
``--snake_case=value`` and are mapped to the ``newsbeam run`` flag of the same name
(``--bootstrap_servers`` -> ``--bootstrap-servers``); a repeatable flag (``--topic``,
``--sink``, ``--kafka-property``) takes several values separated by ``;`` there, and an
on/off flag (``--no-commit-offsets``) takes ``true``/``false``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import apache_beam as beam

__all__ = ["build_pipeline", "main", "run_parser", "template_argv"]

_log = logging.getLogger("newsbeam.launcher")
LIST_SEPARATOR = ";"


def run_parser() -> argparse.ArgumentParser:
    """The ``newsbeam run`` argument parser, taken from the real command line."""
    from newsbeam.cli import _build_parser

    parser = _build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices["run"]
    raise RuntimeError("newsbeam's command line has no 'run' subcommand")


def _template_names(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """``snake_case`` parameter name -> the ``newsbeam run`` flag's action."""
    names: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        for option in action.option_strings:
            names[option[2:].replace("-", "_")] = action
    return names


def _is_true(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"expected true or false, got {value!r}")
    return lowered in ("true", "1", "yes")


def template_argv(argv: Sequence[str], parser: argparse.ArgumentParser | None = None) -> list[str]:
    """``--snake_case=value`` template parameters -> ``newsbeam run`` flags; others unchanged.

    Every ``newsbeam run`` flag is normalised, however it is spelled, so a repeatable flag
    always splits on ``;`` (Kafka topic names, sink specs and non-secret client properties
    never contain one; a secret is only ever given as ``env:VAR``/``file:PATH``).
    """
    names = _template_names(parser or run_parser())
    out: list[str] = []
    items = list(argv)
    index = 0
    while index < len(items):
        item = items[index]
        index += 1
        name, sep, value = item[2:].partition("=") if item.startswith("--") else ("", "", "")
        action = names.get(name.replace("-", "_"))
        if action is None:
            out.append(item)  # a Beam or runner flag: Beam parses it
            continue
        flag = action.option_strings[0]
        if isinstance(action, argparse._StoreConstAction):  # store_true / store_false
            if not sep or _is_true(value):
                out.append(flag)
            continue
        if not sep:  # "--name value"
            if index >= len(items):
                raise ValueError(f"parameter --{name} needs a value")
            value = items[index]
            index += 1
        if isinstance(action, argparse._AppendAction):
            out.extend(f"{flag}={part.strip()}" for part in value.split(LIST_SEPARATOR)
                       if part.strip())
        else:
            out.append(f"{flag}={value}")
    return out


def _check_flags(argv: list[str]) -> None:
    """Values checked by ``newsbeam run``'s parser (it exits with its own message), and no
    abbreviated newsbeam flag: argparse would accept ``--bootstrap`` for
    ``--bootstrap-servers`` but Beam's options parser does not, and the pipeline would
    silently use the default."""
    parser = run_parser()
    parser.allow_abbrev = False
    _, rest = parser.parse_known_args(argv)
    ours = [o for action in parser._actions for o in action.option_strings]
    for item in rest:
        name = item.split("=", 1)[0]
        matches = [o for o in ours if name.startswith("--") and o.startswith(name)]
        if matches:
            parser.error(f"{name}: spell the flag out ({' or '.join(matches)})")


def build_pipeline(argv: Sequence[str]) -> beam.Pipeline:
    """The pipeline ``newsbeam run`` would run for ``argv``: constructed, not run.

    Built by ``newsbeam.jobs.build_streaming``, as ``newsbeam run`` builds it, so a deployed
    job always has exactly the steps (and step names) of a local ``newsbeam run``.
    """
    from newsbeam import jobs

    argv = template_argv(argv)
    _check_flags(argv)
    if "--streaming" not in argv:
        # Dataflow refuses an unbounded source in batch mode; Flink would switch by itself.
        argv.append("--streaming")
    return jobs.build_streaming(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    pipeline = build_pipeline(sys.argv[1:] if argv is None else argv)
    result = pipeline.run()  # submits; deliberately no wait_until_finish()
    # No state query: on Flink the in-JobManager job service stops once it has handed the
    # job over, so a status call could race with its shutdown.
    job_id = getattr(result, "job_id", None)
    _log.info("pipeline submitted (runner %s, job %s)", type(pipeline.runner).__name__,
              job_id() if callable(job_id) else getattr(result, "_job_id", "?"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
