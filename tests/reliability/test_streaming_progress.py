"""A run without a stop (``--stop never``) must make progress: write as articles arrive.

On the FnApiRunner (``--runner DirectRunner``, the default) stateful DoFns (cleaning,
dedup) are stage roots and stages run one after another, so an unbounded read never
hands anything to the writers: the run buffers forever and writes nothing. Either the
run writes as it goes, or it refuses ``--stop never`` on that runner with a message
saying what to use instead; silently writing nothing for months is the failure.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from newsbeam.broker import EmbeddedBroker

from .harness import PipelineRun, article_value, audit, new_topic, publish, run_args, tail

WAIT_SECONDS = 40.0


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_an_unbounded_run_writes_as_it_goes_or_is_refused(broker: EmbeddedBroker,
                                                          tmp_path: Path) -> None:
    topic = new_topic(broker.bootstrap_servers, "progress", partitions=2)
    rng = random.Random(11)
    publish(broker.bootstrap_servers, topic, [article_value(rng, i, "progress") for i in range(30)])
    out, log = tmp_path / "out", tmp_path / "run.log"
    run = PipelineRun(run_args(broker.bootstrap_servers, topic, out, "progress",
                               "--start", "earliest", "--stop", "never"), log)
    deadline = time.monotonic() + WAIT_SECONDS
    written = 0
    try:
        while time.monotonic() < deadline and run.process.poll() is None:
            written = audit(out, topic).records
            if written:
                break
            time.sleep(1.0)
    finally:
        code = run.kill()
    refused = code not in (0, -9) and "--stop" in log.read_text(errors="replace")
    assert written or refused, (
        f"`newsbeam run --stop never` ran {WAIT_SECONDS:.0f} s over 30 articles and wrote "
        f"nothing (exit {code}); log tail:\n{tail(log, 10)}")
