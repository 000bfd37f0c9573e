"""``newsbeam run --runner PrismRunner`` against the embedded broker and Apache Kafka, next
to the default in-process FnApiRunner on the same topic.

The oracles come from outside newsbeam: the producer's acknowledgements (librdkafka,
confluent-kafka) say which offsets exist, and a librdkafka consumer reads the group's
committed offsets (not the broker's ListOffsets, which Tansu answers with the last batch's
base offset + 1). Partition 0 holds the seeds in file order (their duplicates among them),
partition 1 two undecodable values and three unrelated, undated articles, so no duplicate
decision depends on how a runner interleaves the partitions.

The Prism binary comes from the ``prism_binary`` fixture (``tests/conftest.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from newsbeam.broker import EmbeddedBroker
from newsbeam.prism import PrismUnavailable, build_prism
from tests.support.prism import require_go
from tests.support.routes import decisions_by_route
from tests.support.runner_topic import (
    committed,
    lone,
    produce_runner_topic,
    route_table,
    run_drained,
)

TOPIC = "prism-articles"


@pytest.fixture
def produced(any_broker) -> dict[tuple[int, int], bytes]:
    """``{(partition, offset): value}`` of every acknowledged record of ``TOPIC``, on each
    broker in turn (the embedded one, then Apache Kafka)."""
    return produce_runner_topic(any_broker.bootstrap_servers, TOPIC)


def _run(broker, out: Path, group: str, *runner: str) -> None:
    run_drained(broker.bootstrap_servers, TOPIC, out, group, *runner)


def _committed(broker, group: str) -> dict[int, int]:
    return committed(broker.bootstrap_servers, group, TOPIC)


@pytest.mark.slow
def test_run_on_prism_routes_and_commits_like_the_in_process_runner(
        any_broker, produced: dict[tuple[int, int], bytes], prism_binary: str,
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _run(any_broker, tmp_path / "fnapi", "prism-test-fnapi")
    with caplog.at_level(logging.ERROR):
        _run(any_broker, tmp_path / "prism", "prism-test-prism", "--runner", "PrismRunner",
             "--prism_location", prism_binary)

    on_fnapi, on_prism = route_table(tmp_path / "fnapi"), route_table(tmp_path / "prism")
    # every acknowledged offset is in exactly one route, on each runner
    for table in (on_fnapi, on_prism):
        offsets = set(table["_offsets"]) | set(table["dead_letter"])
        assert offsets == set(produced)
        assert len(table["_offsets"]) + len(table["dead_letter"]) == len(produced)
    # The same records in every route, duplicates marked alike. Prism shuffles into the
    # keyed dedup step and delivers in an order of its own (Beam promises none), so there
    # newsbeam decides in event-time order once the watermark passes (--dedup-order auto):
    # Kafka time, then partition and offset, which is the in-process runner's arrival
    # order on this topic. Before that, Prism's decisions among copies changed from run
    # to run.
    assert on_prism == on_fnapi, "Prism routes differently from the in-process runner"
    copies = {a for pair in on_fnapi.get("duplicates", {}).items() for a in pair}
    assert len(lone(on_prism, copies)) >= 8
    assert len(on_prism["duplicates"]) >= 3  # the seeds' copies (hand-counted: 3)
    assert all(of is not None for of in on_prism["duplicates"].values())

    # committed = the offset after each partition's last acknowledged record
    ends = {p: max(o for q, o in produced if q == p) + 1 for p in (0, 1)}
    assert _committed(any_broker, "prism-test-prism") == ends
    assert _committed(any_broker, "prism-test-fnapi") == ends

    # no "Bundle is not in a finalizable state" from the SDK harness (connectors/kafka/source.py)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [e for e in errors if "finalizable" in e], errors


def test_a_failed_go_build_says_what_go_said(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A Beam version Go's module proxy does not have: the real ``go install`` fails and
    the error carries its output; no empty cache folder stays behind."""
    go = require_go()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(PrismUnavailable) as error:
        build_prism("2.0.999", go=go)
    message = str(error.value)
    assert "go install github.com/apache/beam/sdks/v2/go/cmd/prism@v2.0.999" in message
    assert "2.0.999" in message.split("failed:", 1)[1]  # Go's own words about the version
    assert "--prism_location" in message
    assert not (tmp_path / "newsbeam" / "prism" / "v2.0.999").exists()


def test_prism_runs_after_a_pipeline_on_beams_default_runner_in_the_same_process(
        prism_binary: str) -> None:
    """Beam keeps one Prism job server per process, made with the first job's options: a
    pipeline on Beam's default runner (which tries Prism with no binary here) must not
    leave newsbeam's Prism run trying to download Prism (failed CI before the fix)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.testing.util import assert_that, equal_to

    from newsbeam.runners import resolve_runner

    with beam.Pipeline() as first:  # Beam's DirectRunner: Prism if it can, else fallback
        assert_that(first | beam.Create([1, 2]), equal_to([1, 2]))
    options = PipelineOptions(["--runner", "PrismRunner", "--prism_location", prism_binary])
    with beam.Pipeline(runner=resolve_runner(options), options=options) as ours:
        assert_that(ours | beam.Create([3, 4]) | beam.Map(lambda x: x * 10),
                    equal_to([30, 40]))


@pytest.mark.slow
def test_prism_decides_copies_across_partitions_as_a_replay_of_the_range_does(
        broker: EmbeddedBroker, prism_binary: str, tmp_path: Path) -> None:
    """The demo's topic: the seeds over three partitions by key, so copies of a story
    sit in different partitions and Prism delivers them to the dedup key in an order of
    its own. Deciding on arrival there gave other originals than the in-process run (demo
    routes energy 2 / defense 1 / culture 1 / untagged 2 instead of 3 / 2 / 2 / 1). The
    oracle is ``newsbeam replay`` of the same range: a bounded job that splits dedup by
    story and decides in replay order (Kafka time, partition, offset), another code path.
    """
    from newsbeam.cli import main
    from tests.support.runner_topic import produce_copies_topic, replay_decisions

    topic = "prism-copies"
    produce_copies_topic(broker.bootstrap_servers, topic)
    streamed = tmp_path / "prism"
    assert main(["run", "--bootstrap-servers", broker.bootstrap_servers, "--topic", topic,
                 "--group-id", "prism-copies", "--start", "earliest", "--stop", "drained:3",
                 "--output-dir", str(streamed), "--runner", "PrismRunner",
                 "--prism_location", prism_binary]) == 0
    on_prism = decisions_by_route(streamed)
    assert on_prism == replay_decisions(broker.bootstrap_servers, topic, tmp_path / "replay")
    assert len(on_prism["duplicates"]) == 3  # the seeds' copies, counted by hand
