"""Runner resolution: what ``--runner`` means for newsbeam's jobs."""

from __future__ import annotations

from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

__all__ = ["resolve_runner"]


def resolve_runner(options: PipelineOptions) -> Any:
    """``DirectRunner`` (the default) means Beam's in-process FnApiRunner.

    Beam's Python DirectRunner first tries the Prism runner (a binary fetched at run time)
    and its streaming mode cannot run splittable DoFns; the FnApiRunner runs our
    self-checkpointing Kafka source, state and bundle finalization in-process (and on
    several processes with ``--direct_num_workers N --direct_running_mode multi_processing``).
    """
    name = options.view_as(StandardOptions).runner
    if name in (None, "DirectRunner", "FnApiRunner"):
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    return name
