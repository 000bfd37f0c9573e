"""The deploy/ manifests, loaded, and the command lines they pass to newsbeam.

Flags are checked with the real parsers: ``newsbeam run``'s argparse parser (from
``newsbeam.cli``) for ours, Beam's ``PipelineOptions`` classes for Beam's, and, for the
options only Beam's Java Flink job server knows, the list of ``FlinkPipelineOptions``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import re
import shlex
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
FLINK_DEPLOYMENT = DEPLOY / "flink" / "flink-deployment.yaml"
DATAFLOW_FLAGS = DEPLOY / "dataflow" / "job-flags.yaml"
DATAFLOW_METADATA = DEPLOY / "dataflow" / "metadata.json"
DATAFLOW_SCRIPT = DEPLOY / "dataflow" / "flex-template.sh"
COMPOSE = DEPLOY / "compose.yaml"
LAUNCHER_IN_IMAGE = "/opt/newsbeam/launcher.py"

# Options of Beam's Java FlinkPipelineOptions (runners/flink, Beam 2.77), in the snake_case
# the portable job server announces them with (DescribePipelineOptions). The Python SDK
# learns them from the job server at submission, so no Python class declares them.
FLINK_JAVA_OPTIONS = frozenset({
    "allow_non_restored_state", "attached_mode", "auto_balance_write_files_sharding_enabled",
    "auto_watermark_interval", "checkpoint_timeout_millis", "checkpointing_interval",
    "checkpointing_mode", "disable_metrics", "enable_stable_input_drain",
    "execution_mode_for_batch", "execution_retry_delay", "externalized_checkpoints_enabled",
    "fail_on_checkpointing_errors", "faster_copy", "file_input_split_max_size_m_b",
    "finish_bundle_before_checkpointing", "flink_conf_dir", "force_unaligned_checkpoint_enabled",
    "job_check_interval_in_secs", "latency_tracking_interval", "max_bundle_size",
    "max_bundle_time_mills", "min_pause_between_checkpoints", "num_concurrent_checkpoints",
    "number_of_execution_retries", "object_reuse", "operator_chaining",
    "re_iterable_group_by_key_result", "report_checkpoint_duration",
    "retain_externalized_checkpoints_on_cancellation", "savepoint_path",
    "shutdown_sources_after_idle_ms", "state_backend", "state_backend_storage_path",
    "unaligned_checkpoint_enabled",
})

# `gcloud dataflow flex-template run` flags (gcloud reference, GA track).
GCLOUD_FLEX_RUN_FLAGS = frozenset({
    "--additional-experiments", "--additional-pipeline-options", "--additional-user-labels",
    "--dataflow-kms-key", "--disable-public-ips", "--enable-streaming-engine", "--flexrs-goal",
    "--launcher-machine-type", "--max-workers", "--network", "--num-workers", "--parameters",
    "--region", "--service-account-email", "--staging-location", "--subnetwork",
    "--temp-location", "--template-file-gcs-location", "--worker-machine-type",
    "--worker-region", "--worker-zone", "--update", "--transform-name-mappings", "--project",
})


@cache
def launcher() -> ModuleType:
    """``deploy/launcher.py`` as a module (it is a script in the image, not a package)."""
    sys.path.insert(0, str(DEPLOY))  # deploy/dataflow/metadata.py imports it by name too
    spec = importlib.util.spec_from_file_location("launcher", DEPLOY / "launcher.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["launcher"] = module
    spec.loader.exec_module(module)
    return module


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def project_version() -> str:
    match = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert match, "pyproject.toml has no version"
    return match.group(1)


# --- Flink -------------------------------------------------------------------------------

def flink_deployment() -> dict[str, Any]:
    return load_yaml(FLINK_DEPLOYMENT)


def flink_driver_command() -> list[str]:
    args = flink_deployment()["spec"]["job"]["args"]
    assert args[0] == "--driver-cmd" and len(args) == 2, args
    return shlex.split(args[1])


def flink_driver_argv() -> list[str]:
    """The launcher's flags, as FlinkPortableClientEntryPoint runs them (+ --job_endpoint)."""
    command = flink_driver_command()
    assert command[1] == LAUNCHER_IN_IMAGE, command[:2]
    return [*command[2:], "--job_endpoint=localhost:8099"]


# --- Dataflow ----------------------------------------------------------------------------

def dataflow_flags() -> dict[str, Any]:
    return load_yaml(DATAFLOW_FLAGS)


def script_default(name: str) -> str:
    """A ``NAME="${NAME:-default}"`` default of flex-template.sh, variables expanded."""
    text = DATAFLOW_SCRIPT.read_text()
    values: dict[str, str] = {}
    for var, default in re.findall(r'^(\w+)="\$\{\1:-(.*)\}"$', text, re.M):
        values[var] = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], default)
    return values[name]


def dataflow_launch_argv() -> list[str]:
    """What Dataflow's launcher passes to deploy/launcher.py: parameters + job options."""
    flags = dataflow_flags()
    argv = [f"--{key}={value}" for key, value in flags["--parameters"].items()]
    return [*argv, "--runner=DataflowRunner", f"--project={script_default('PROJECT')}",
            f"--region={flags['--region']}", f"--temp_location={flags['--temp-location']}",
            f"--staging_location={flags['--staging-location']}", "--job_name=newsbeam"]


# --- compose -----------------------------------------------------------------------------

def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


# --- Dockerfiles -------------------------------------------------------------------------

def dockerfile(path: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def dockerfile_args(path: Path) -> dict[str, str]:
    """``ARG NAME=default`` defaults (the first definition wins, as in a build)."""
    defaults: dict[str, str] = {}
    for instruction, rest in dockerfile(path):
        if instruction == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            defaults.setdefault(name.strip(), value.strip())
    return defaults


def expand(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: variables[m.group(1)], text)


# --- flags -------------------------------------------------------------------------------

def cli_parser() -> argparse.ArgumentParser:
    from newsbeam.cli import _build_parser

    parser = _build_parser()
    _strict(parser)
    return parser


def _strict(parser: argparse.ArgumentParser) -> None:
    """No abbreviations: Beam's PipelineOptions parses with allow_abbrev=False, so an
    abbreviated flag the CLI accepted would reach the pipeline as an unknown flag."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _strict(sub)


def subcommand_parser(name: str) -> argparse.ArgumentParser:
    for action in cli_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise AssertionError("no subcommands")


def parse_or_fail(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """``parse_known_args``, turning argparse's exit into an assertion with its message."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return parser.parse_known_args(argv)
        except SystemExit:
            raise AssertionError(f"{parser.prog} rejects {argv}: {err.getvalue()}") from None


def unknown_flags(argv: list[str], *, also_known: frozenset[str] = frozenset(),
                  subcommand: str = "run") -> list[str]:
    """Flags in ``argv`` that neither ``newsbeam <subcommand>`` nor Beam would accept."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    _, rest = parse_or_fail(subcommand_parser(subcommand), argv)
    beam_parser = _BeamArgumentParser(allow_abbrev=False)
    seen: set[type] = set()
    for cls in PipelineOptions.__subclasses__():
        if cls not in seen:
            seen.add(cls)
            cls._add_argparse_args(beam_parser)
    _, unknown = parse_or_fail(beam_parser, rest)
    return [flag for flag in unknown
            if not (flag.startswith("--") and flag[2:].split("=", 1)[0] in also_known)]
