"""``newsbeam.jobs``: the automatic choices a streaming graph makes per runner, read from
the built graph (nothing runs, no broker is reached)."""

from __future__ import annotations

import pytest

from newsbeam.jobs import build_streaming

FLAGS = ["--topic", "in", "--bootstrap-servers", "127.0.0.1:1", "--output-dir", "/nonexistent/out"]


def _steps(*flags: str) -> set[str]:
    names: set[str] = set()

    class Visitor:
        def enter_composite_transform(self, node) -> None:
            names.add(node.full_label)

        def leave_composite_transform(self, node) -> None:
            pass

        def visit_transform(self, node) -> None:
            names.add(node.full_label)

        def visit_value(self, value, producer) -> None:
            pass

    build_streaming([*FLAGS, *flags]).visit(Visitor())
    return names


def test_the_in_process_runner_commits_at_the_read_and_prism_after_the_sinks(
        prism_binary: str) -> None:
    assert not any(name.startswith("CommitOffsets") for name in _steps())
    on_prism = _steps("--runner", "PrismRunner", "--prism_location", prism_binary)
    assert "CommitOffsets/Commit" in on_prism


def test_commits_after_the_sinks_are_refused_on_the_in_process_runner() -> None:
    """It would build a Flatten of unbounded inputs, which that runner never runs: no
    offset would ever be committed. A clear error instead."""
    with pytest.raises(ValueError, match="--commit-after sinks needs a runner"):
        build_streaming([*FLAGS, "--commit-after", "sinks"])
