"""Hostile input: every kind of bad message lands in a route with a clear reason, in time.

``test_each_kind_meets_its_contract`` sends each case through the stages' own DoFns (in
``pipeline/graph.py`` order) in a child process with a time limit, so one slow kind fails
alone instead of hanging the suite. ``test_the_streaming_pipeline_survives_the_corpus``
publishes the whole corpus to Kafka and runs ``newsbeam run`` over it: the run must end
normally, within ``RUN_BUDGET_SECONDS``, with every offset in an output route or the
dead-letter route.
"""

from __future__ import annotations

import base64
import builtins
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.avro_files import list_avro_files, read_avro_records
from newsbeam.broker import EmbeddedBroker
from pipeline.limits import TimeLimitedCall
from schemas.failures import StageError

from .harness import PipelineRun, new_topic, publish, run_args, tail, write_figures
from .hostile import BUDGET_SECONDS, DEAD_LETTER, PROCESSED, Case, build_corpus

CORPUS = build_corpus()
# The whole corpus, start-up included, through one drained run. A run stuck on one record
# for minutes is, for a streaming job, a stopped pipeline.
RUN_BUDGET_SECONDS = 150.0
# Python's own exception names are not reasons: a reason names what is wrong with the input.
GENERIC = frozenset(name for name in dir(builtins) if name.endswith(("Error", "Exception")))


def _encode(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


def check_outcome(case: Case, outcome: str, reason: str | None, detail: str) -> str | None:
    """What is wrong with ``case`` ending as (``outcome``, ``reason``), or None."""
    if outcome == "dead letter":
        if case.expect == PROCESSED:
            return f"expected an article, got dead letter {reason}: {detail}"
        if case.reasons and reason not in case.reasons and case.expect == DEAD_LETTER:
            return f"expected reason {sorted(case.reasons)}, got {reason}: {detail}"
        if not reason or reason in GENERIC:
            return f"dead letter without a clear reason ({reason}: {detail})"
        return None
    if outcome == "processed":
        return "expected a dead letter, got an article" if case.expect == DEAD_LETTER else None
    return f"no outcome ({outcome})"


@pytest.fixture(scope="module")
def chain() -> Iterator[TimeLimitedCall]:
    call = TimeLimitedCall("tests.reliability.chain:run_chain", BUDGET_SECONDS)
    yield call
    call.close()


def test_the_corpus_has_at_least_thirty_kinds() -> None:
    assert len({case.kind for case in CORPUS}) == len(CORPUS) >= 30


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CORPUS, ids=[case.kind for case in CORPUS])
def test_each_kind_meets_its_contract(case: Case, chain: TimeLimitedCall) -> None:
    try:
        result = chain(_encode(case.value()), _encode(case.key), case.timestamp_ms,
                       [[name, _encode(raw)] for name, raw in case.headers], 1)
    except StageError as exc:  # the chain itself failed: a stage raised, or ran too long
        pytest.fail(f"{case.kind}: {exc.error_class}: {exc}")
    problem = check_outcome(case, result.get("outcome", "none"), result.get("reason"),
                            result.get("message", ""))
    assert problem is None, f"{case.kind}: {problem} (seconds per stage: {result['seconds']})"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_streaming_pipeline_survives_the_corpus(tmp_path: Path) -> None:
    big = 32 * 1024 * 1024
    with EmbeddedBroker() as broker:
        topic = new_topic(broker.bootstrap_servers, "hostile", partitions=2)
        positions = publish(broker.bootstrap_servers, topic, [c.value() for c in CORPUS],
                            keys=[c.key for c in CORPUS],
                            timestamps_ms=[c.timestamp_ms for c in CORPUS],
                            headers=[c.headers for c in CORPUS], max_request_size=big)
        kinds = dict(zip(positions, CORPUS, strict=True))
        out, log = tmp_path / "out", tmp_path / "run.log"
        run = PipelineRun(run_args(broker.bootstrap_servers, topic, out, "hostile",
                                   "--start", "earliest", "--stop", "drained:3",
                                   "--kafka-property", f"fetch.max.bytes={big}",
                                   "--kafka-property", f"max.partition.fetch.bytes={big}"), log)
        started = time.monotonic()
        try:
            code: int | str = run.wait(timeout=RUN_BUDGET_SECONDS)
        except AssertionError:  # still running: one record is holding the pipeline up
            code = f"still running after {RUN_BUDGET_SECONDS:.0f} s (killed)"
        seconds = round(time.monotonic() - started, 1)

    outcomes: dict[tuple[int, int], tuple[str, str | None, str]] = {}
    records = 0
    for path in list_avro_files(str(out)):
        route = Path(path).parent.name
        for record in read_avro_records(path):
            records += 1
            prov = record["provenance"]
            position = (prov["partition"], prov["offset"])
            if route == "dead_letter":
                outcomes[position] = ("dead letter", record["error_class"],
                                      record["error_message"][:200])
            else:
                outcomes.setdefault(position, ("processed", None, route))
    problems = {}
    for position, case in kinds.items():
        outcome, reason, detail = outcomes.get(position, ("lost", None, ""))
        problem = check_outcome(case, outcome, reason, detail)
        if problem:
            problems[case.kind] = problem
    # Not in any route after the run: lost if the run ended normally; if it had to be
    # killed, these offsets were never committed and the next run reads them again.
    lost = [kinds[p].kind for p in kinds if p not in outcomes]
    write_figures("hostile_corpus", {
        "kinds": len(CORPUS), "messages": len(positions), "records_read": records,
        "run_exit_code": code, "run_seconds": seconds, "without_outcome": len(lost), "contract_violations": problems,
        "outcomes": {kinds[p].kind: list(outcomes.get(p, ("lost", None, ""))[:2])
                     for p in positions}})
    assert code == 0, f"the pipeline stopped or stalled on hostile input: {code}\n{tail(log)}"
    assert not lost, f"offsets in no route: {lost}"
    assert not problems, problems
