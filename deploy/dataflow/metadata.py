"""Write the Flex Template metadata (``metadata.json``) from ``newsbeam run``'s own parser.

    .venv/bin/python deploy/dataflow/metadata.py > deploy/dataflow/metadata.json

One template parameter per ``newsbeam run`` flag, named in snake_case (``bootstrap_servers``
for ``--bootstrap-servers``); ``deploy/launcher.py`` maps them back. ``tests/deploy`` fails
when the committed file differs from this output, so a new or renamed flag is caught there.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from launcher import LIST_SEPARATOR, run_parser  # noqa: E402

__all__ = ["metadata"]

# Parameters a job cannot do without (the rest have working defaults).
REQUIRED = frozenset({"bootstrap_servers"})
_NUMBER = {int: r"^[0-9]+$", float: r"^[0-9]+(\.[0-9]+)?$"}


def _parameter(name: str, action: argparse.Action) -> dict[str, Any]:
    help_text = re.sub(r"\s+", " ", (action.help or "").replace("%%", "%")).strip()
    flag = action.option_strings[0]
    param: dict[str, Any] = {
        "name": name,
        "label": name.replace("_", " ").capitalize(),
        "helpText": f"{help_text} (newsbeam run {flag})",
        "isOptional": name not in REQUIRED,
    }
    if isinstance(action, argparse._StoreConstAction):
        param["helpText"] += " true or false."
        param["regexes"] = ["^(true|false)$"]
    elif action.choices:
        param["regexes"] = ["^(" + "|".join(re.escape(str(c)) for c in action.choices) + ")$"]
    elif action.type in _NUMBER:
        param["regexes"] = [_NUMBER[action.type]]
    if isinstance(action, argparse._AppendAction):
        param["helpText"] += f" Several values: separate them with '{LIST_SEPARATOR}'."
    return param


def metadata() -> dict[str, Any]:
    parser = run_parser()
    params = []
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        name = action.option_strings[0][2:].replace("-", "_")
        params.append(_parameter(name, action))
    return {
        "name": "newsbeam",
        "description": ("Streaming news ingestion: Kafka topic -> parse, clean, language, "
                        "dedup, topic tags -> Avro files (and Kafka topics) per route."),
        "streaming": True,
        "supportsAtLeastOnce": True,
        "supportsExactlyOnce": True,
        "defaultStreamingMode": "EXACTLY_ONCE",
        "parameters": params,
    }


if __name__ == "__main__":
    json.dump(metadata(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
