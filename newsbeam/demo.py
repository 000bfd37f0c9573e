"""``newsbeam demo``: the whole system on a laptop, with nothing started by hand.

Starts the embedded broker, creates a topic, publishes every file in ``seeds/``, runs the
streaming pipeline (on the in-process FnApiRunner, or the ``--runner`` given) until the
topic is drained, writes Avro files under ``./out/`` and prints what happened.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from connectors.article_files import expand_paths, iter_file_values
from connectors.avro_files import list_avro_files
from connectors.kafka.settings import KafkaClientSettings
from connectors.kafka.topics import ensure_topic, publish_values
from newsbeam.broker import EmbeddedBroker
from newsbeam.jobs import run_streaming
from schemas.routes import ROUTES

__all__ = ["DEMO_TOPIC", "run_demo"]

DEMO_TOPIC = "articles"


def _reset_output(out: Path) -> None:
    """Clear a previous demo's output, but never a directory newsbeam did not write."""
    if not out.exists():
        return
    ours = {*ROUTES, ".tmp"}
    if any(child.name not in ours for child in out.iterdir()):
        raise ValueError(f"{out} holds files newsbeam did not write; move them or remove {out}")
    shutil.rmtree(out)


def run_demo(workdir: Path, beam_argv: Sequence[str] = ()) -> int:
    """Run the demo in ``workdir`` (which holds ``seeds/``); 0 when every published
    message was read. ``beam_argv``: Beam flags for the run (``--runner PrismRunner``).
    Raises ``ValueError`` when ``workdir`` is not fit for it."""
    seeds = workdir / "seeds"
    if not seeds.is_dir():
        raise ValueError(f"no seeds/ folder in {workdir}: run the demo from the repository root")
    out = workdir / "out"
    _reset_output(out)
    files = expand_paths([str(seeds)])
    values = [value for path in files for _, value in iter_file_values(path)]
    started = time.monotonic()
    with EmbeddedBroker() as broker:
        print(f"embedded broker on {broker.bootstrap_servers}", flush=True)
        client = KafkaClientSettings(bootstrap_servers=broker.bootstrap_servers)
        ensure_topic(client, DEMO_TOPIC, partitions=3)
        sent = publish_values(client, DEMO_TOPIC, values)
        print(f"published {sent} articles from {len(files)} files in seeds/ to topic "
              f"'{DEMO_TOPIC}'; running the streaming pipeline until the topic is drained...",
              flush=True)
        summary = run_streaming([
            "--bootstrap-servers", broker.bootstrap_servers, "--topic", DEMO_TOPIC,
            "--group-id", "newsbeam-demo", "--start", "earliest", "--stop", "drained:3",
            "--output-dir", str(out), *beam_argv,
        ])
    print(summary.table())
    written = list_avro_files(str(out))
    print(f"{len(written)} Avro files under {out}/ in {time.monotonic() - started:.1f}s; "
          f"read them with: newsbeam inspect {out}/")
    if summary.records_in != sent:
        print(f"error: published {sent} messages but the pipeline read {summary.records_in}")
        return 1
    return 0
