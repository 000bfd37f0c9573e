"""Runner resolution: what ``--runner`` means for newsbeam's jobs.

- no ``--runner``, or ``--runner FnApiRunner`` (newsbeam's default): Beam's in-process
  FnApiRunner. It runs our self-checkpointing Kafka source (a splittable DoFn), user state
  and bundle finalization, needs nothing but Python (no Go, no Java), and runs on several
  processes with ``--direct_num_workers N --direct_running_mode multi_processing``.
  ``make demo`` and the tests use it.
- ``--runner PrismRunner``: Beam's Prism runner (a Go binary, run as a local job service;
  the SDK worker runs in this process, ``LOOPBACK``). ``newsbeam.prism`` finds or builds
  the binary and sets ``--prism_location`` on the options, so Beam never tries its GitHub
  download; without Go and without a cached binary that is a ``ValueError`` saying how to
  get one. ``--direct_num_workers`` does not apply. On Prism, newsbeam turns Prism's
  bundle splitting off (see ``resolve_runner``), reads all partitions in one source element
  (``--kafka-readers``) and decides duplicates in event-time order (``--dedup-order``).
- ``--runner DirectRunner``: Beam 2.77's DirectRunner, unchanged
  (``apache_beam/runners/direct/direct_runner.py``, ``SwitchingDirectRunner``). It hands
  every pipeline its Prism support check accepts (newsbeam's streaming, batch and replay
  graphs pass it; ``--kafka-io xlang``'s cross-language read does not) to Prism; if Prism
  fails to start it falls back to the FnApiRunner when the pipeline suits it (no
  TestStream, no Pub/Sub, no processing-time timers: ours do), else to its bundle-based
  runner, whose streaming mode cannot run our splittable DoFn. newsbeam resolves the Prism
  binary for it like for ``PrismRunner``; with neither Go nor a cached binary it tries
  Beam's own GitHub download (what Beam's DirectRunner does first); when that fails too it
  picks the FnApiRunner itself (where Beam would fall back to) and says so, so that the
  runner-dependent defaults (``--commit-after``, ``--kafka-readers``, ``--dedup-order``)
  follow the runner that really runs: Prism's would commit nothing on the FnApiRunner.
- ``--runner FlinkRunner``: Beam's portable Flink runner (a Java job server with an embedded
  Flink mini-cluster for ``--flink_master [local]``/``[auto]``; the SDK worker runs in this
  process, ``LOOPBACK``). ``newsbeam.flink`` finds or assembles the job server with Maven
  (Beam's Flink 1.19 runner 2.62.0: no newer one is served; see that module) and sets
  ``--flink_job_server_jar``, so Beam never tries its own download; without Maven and
  without a cached one that is a ``ValueError`` saying how to get one. Not with
  ``--flink_submit_uber_jar`` (a remote cluster) nor ``--job_endpoint`` (a running job
  service, as in deploy/flink). The job server stops when its job has finished (Beam
  keeps it until the process exits). ``--flink_master HOST:PORT`` submits to a cluster
  (``newsbeam.flink_cluster`` starts a local one). ``newsbeam run`` on it wants
  ``--streaming --checkpointing_interval MS`` (offsets are committed when a checkpoint
  completes) and, for a bounded ``--stop``, ``--shutdown_sources_after_idle_ms MS`` longer
  than the read takes (else the job never ends; ``newsbeam.flink`` says why).
- any other runner name (``DataflowRunner``, ...) goes to Beam as given;
  ``newsbeam replay --runner DaskRunner`` is handled by ``newsbeam.replay``.

So newsbeam's default stays the in-process FnApiRunner (no Go needed), while
``DirectRunner`` means what it means in Beam.
"""

from __future__ import annotations

import logging
from typing import Any

from apache_beam.options.pipeline_options import (
    DebugOptions,
    FlinkRunnerOptions,
    PipelineOptions,
    PortableOptions,
    PrismRunnerOptions,
    StandardOptions,
)
from apache_beam.runners.portability.flink_runner import FlinkRunner
from apache_beam.runners.runner import PipelineState

from newsbeam.flink import resolve_flink_job_server
from newsbeam.prism import PrismUnavailable, resolve_prism

__all__ = ["PRISM_RUNNERS", "resolve_runner", "runner_name"]

# The runner names that run a pipeline on Prism (Beam's DirectRunner hands ours to Prism).
PRISM_RUNNERS = ("PrismRunner", "DirectRunner", "SwitchingDirectRunner")

_log = logging.getLogger(__name__)


class _FlinkBundleOptions(PipelineOptions):
    """Beam's Flink runner option that the Python SDK does not declare (the job server
    does, so ``--finish_bundle_before_checkpointing`` on the command line works too);
    declared here so that ``resolve_runner`` can set it. ``None``: not sent."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument("--finish_bundle_before_checkpointing", action="store_true",
                            default=None)


class _FlinkRunner(FlinkRunner):
    """Beam's ``FlinkRunner``, whose job server (a JVM with a Flink mini-cluster, ~0.5 GB)
    stops once its job has finished. Beam stops it only at process exit, so a process
    that runs several jobs (a test suite, a backfill loop) kept one per job running."""

    def run_pipeline(self, pipeline, options):
        self._server = None
        result = super().run_pipeline(pipeline, options)
        wait = result.wait_until_finish

        def wait_then_stop_the_job_server(duration=None):
            state = wait(duration)
            if PipelineState.is_terminal(result.state) and self._server is not None:
                result.metrics()  # fetched (and kept by the result) while the server is up
                self._server.stop()
                self._server = None
            return state

        result.wait_until_finish = wait_then_stop_the_job_server
        return result

    def default_job_server(self, options):
        self._server = super().default_job_server(options)
        return self._server


def runner_name(options: PipelineOptions) -> str:
    """The runner's short name (``FnApiRunner`` when none is given)."""
    name = options.view_as(StandardOptions).runner
    return name.rsplit(".", 1)[-1] if name else "FnApiRunner"


def resolve_runner(options: PipelineOptions) -> Any:
    """The runner for ``options``: an instance or Beam's name for one (see the module
    doc). For Prism (``PrismRunner``, ``DirectRunner``) sets ``--prism_location``, for
    ``FlinkRunner`` ``--flink_job_server_jar``, on ``options`` itself, so pass the same
    ``options`` to the pipeline."""
    name = runner_name(options)
    if name == "FnApiRunner":
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    if name == "FlinkRunner":
        flink = options.view_as(FlinkRunnerOptions)
        # With --job_endpoint (a running job service: Flink's FlinkPortableClientEntryPoint
        # in deploy/flink, say) Beam starts no job server, so none is needed here.
        if not flink.flink_submit_uber_jar and not options.view_as(PortableOptions).job_endpoint:
            flink.flink_job_server_jar = resolve_flink_job_server(flink.flink_job_server_jar)
        # By default Beam's Flink operators finish a bundle inside the checkpoint and buffer
        # its output until the next bundle starts, yet emit the watermark at once; the
        # Impulse source sends the +inf watermark right away, so the buffered records then
        # arrive behind it and the first stateful stage (StatefulDoFnRunner) drops them all
        # as late ("StatefulParDoDropped"). Finishing bundles before the barrier emits them
        # in order.
        options.view_as(_FlinkBundleOptions).finish_bundle_before_checkpointing = True
        return _FlinkRunner()
    if name not in PRISM_RUNNERS:
        return options.view_as(StandardOptions).runner
    # Beam keeps one Prism job server per process, made with the options of the first job
    # that asked (its --prism_location too): a process that ran a pipeline on Beam's
    # default runner before (which tries Prism without our binary) would reuse that server
    # and try to download Prism. One server per job instead.
    options.view_as(DebugOptions).add_experiment("disable_prism_server_singleton")
    # Prism 2.77 splits a slow bundle of a stateful stage and then frees the residual's
    # keys (engine/elementmanager.go, splitBundle) although the primary still holds the
    # same key: with one dedup key a second bundle for it starts at once, both read the
    # same state and the last to finish overwrites the other's writes (seen here: dedup
    # entries and held articles lost). Our Kafka source checkpoints itself, so it needs
    # no runner splits; this experiment turns Prism's bundle splitting off.
    options.view_as(DebugOptions).add_experiment("prism_disable_sdf_split")
    prism = options.view_as(PrismRunnerOptions)
    if name == "PrismRunner":
        from apache_beam.runners.portability.prism_runner import PrismRunner

        prism.prism_location = resolve_prism(prism.prism_location)
        return PrismRunner()
    try:
        prism.prism_location = resolve_prism(prism.prism_location)
    except PrismUnavailable as exc:
        downloaded = _beams_prism_download(options)
        if downloaded is None:
            _log.warning("Beam's DirectRunner: no Prism here (no cached or built binary, "
                         "and Beam's download failed), so newsbeam runs the in-process "
                         "FnApiRunner, where Beam would fall back to, with its defaults",
                         extra={"reason": str(exc)})
            options.view_as(StandardOptions).runner = "FnApiRunner"
            from apache_beam.runners.portability.fn_api_runner import FnApiRunner

            return FnApiRunner()
        prism.prism_location = downloaded
    return options.view_as(StandardOptions).runner


def _beams_prism_download(options: PipelineOptions) -> str | None:
    """The Prism binary Beam's DirectRunner would download from GitHub (into Beam's own
    cache), or ``None`` when that fails (no network to GitHub)."""
    from apache_beam.runners.portability.prism_runner import PrismJobServer

    server = PrismJobServer(options)
    try:
        return PrismJobServer.local_bin(server.path_to_binary(), PrismJobServer.BIN_CACHE)
    except Exception as exc:  # noqa: BLE001 - Beam raises RuntimeError/OSError/ValueError
        _log.info("Beam's Prism download failed", extra={"reason": str(exc)})
        return None
