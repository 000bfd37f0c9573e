"""Beam's portable Flink runner as the suites run it: the job server and the flags."""

from __future__ import annotations

from tests.support.jvm import require_java

__all__ = ["FLINK_FLAGS", "flink_job_server_or_skip"]

# Streaming (an unbounded read runs on portable Flink only so), checkpoints every second
# (the runner finalizes bundles, so commits offsets, when one completes), and the Impulse
# source shut down once idle that long, so the job ends after the drained read: longer
# than the read takes, since no checkpoint completes after it (newsbeam.flink).
FLINK_FLAGS = ("--runner", "FlinkRunner", "--flink_master", "[local]", "--streaming",
               "--environment_type", "LOOPBACK", "--checkpointing_interval", "1000",
               "--shutdown_sources_after_idle_ms", "15000", "--parallelism", "2")


def flink_job_server_or_skip() -> str:
    """The job server jar (``newsbeam.flink``: cached, else assembled with Maven); skipped
    without Java and Maven, unless ``NEWSBEAM_REQUIRE_JAVA=1`` makes that a failure."""
    from newsbeam.flink import cached_job_server, resolve_flink_job_server

    if cached_job_server() is None:
        require_java()
    return resolve_flink_job_server()
