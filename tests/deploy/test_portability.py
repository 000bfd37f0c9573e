"""The pipeline is portable: proven by construction; nothing is submitted anywhere.

For the Flink and Dataflow deployments the pipeline is built exactly as deployed (the
launcher's flags read from deploy/, the graph built by ``newsbeam.jobs.run_streaming``), for
Dask as ``newsbeam replay --runner DaskRunner`` builds it (``newsbeam.replay``); each is translated to the portable pipeline proto
with the environment its runner would use. Every DoFn then goes through what a remote
worker does with it: unpickled from the proto, set up, used side by side with another copy.
One test goes past construction: the batch stages run locally in separate SDK worker
processes over the Fn API.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import apache_beam as beam
import cloudpickle
import pytest
from apache_beam.internal import pickler
from apache_beam.options.pipeline_options import StandardOptions, WorkerOptions
from apache_beam.portability import common_urns, python_urns
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.portability.portable_runner import JobServiceHandle, PortableRunner
from apache_beam.transforms import environments

from tests.support import manifests

RUNNERS = ("FlinkRunner", "DataflowRunner", "DaskRunner")

# Step names are the contract with a running job: Dataflow's --update and Flink's savepoint
# restore match state to steps by these names. Renaming one needs a transform name mapping
# (Dataflow) or allowNonRestoredState (Flink): change this list only with that plan.
STAGES = ("ProcessArticles/ParseArticles", "ProcessArticles/EnforceLimits",
          "ProcessArticles/CleanArticles", "ProcessArticles/DetectLanguage",
          "ProcessArticles/DeduplicateArticles", "ProcessArticles/TagTopics",
          "ProcessArticles/RouteArticles", "DeliverRoutes")
SINK_PREFIX = "DeliverRoutes/WriteRoutes"  # one writer per routed stream (pipeline/graph.py)
STREAMING_SOURCE = "ReadFromKafka"
BATCH_SOURCE = "ReadSplits"  # newsbeam replay: the graph Dask runs

PROJECT_PACKAGES = ("pipeline", "connectors", "schemas")
# DoFns whose setup() opens clients to external services (Kafka): not set up here.
NEEDS_SERVICES = ("connectors.kafka",)


def _build(runner: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[beam.Pipeline, Any]:
    launcher = manifests.launcher()
    if runner == "FlinkRunner":
        pipeline = launcher.build_pipeline(manifests.flink_driver_argv())
        return pipeline, pipeline.runner.default_environment(pipeline._options)
    if runner == "DataflowRunner":
        pipeline = launcher.build_pipeline(manifests.dataflow_launch_argv())
        image = pipeline._options.view_as(WorkerOptions).sdk_container_image
        # What DataflowRunner.run_pipeline does with --sdk_container_image (its own helper
        # needs the gcp extra, which submission needs and construction does not).
        return pipeline, environments.DockerEnvironment.from_container_image(image)
    return _build_dask_replay(tmp_path_factory), None


def _build_dask_replay(tmp_path_factory: pytest.TempPathFactory) -> beam.Pipeline:
    """The graph ``newsbeam replay --runner DaskRunner`` runs (newsbeam/replay.py), for a
    fixed plan: planning asks a broker for offsets, construction needs none."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from connectors.kafka.options import KafkaOptions
    from connectors.kafka.planning import PartitionRange
    from connectors.kafka.positions import parse_from, parse_to
    from connectors.kafka.splits import ReplayPlan
    from newsbeam.options import NewsbeamOptions
    from newsbeam.replay import ProgressLedger, build_replay
    from newsbeam.replay_dask import ReplayDaskRunner

    out = tmp_path_factory.mktemp("dask-out")
    options = PipelineOptions([
        "--runner=DaskRunner", "--dask_client_address=tcp://dask-scheduler:8786",
        "--bootstrap-servers=kafka:9092", "--topic=articles", f"--output-dir={out}"])
    source = options.view_as(KafkaOptions).source_config().model_copy(update={
        "start": parse_from("earliest"), "stop": parse_to("now"), "commit_offsets": False})
    plan = ReplayPlan(splits=tuple(PartitionRange("articles", p, 0, 1000) for p in range(3)))
    pipeline = beam.Pipeline(runner=ReplayDaskRunner(), options=options)
    build_replay(pipeline, plan, options.view_as(NewsbeamOptions), source,
                 ProgressLedger(str(tmp_path_factory.mktemp("dask-progress"))))
    return pipeline


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, tuple[beam.Pipeline, Any, beam_runner_api_pb2.Pipeline]]:
    result = {}
    for runner in RUNNERS:
        pipeline, environment = _build(runner, tmp_path_factory)
        proto = pipeline.to_runner_api(default_environment=environment)
        result[runner] = (pipeline, environment, proto)
    return result


def _applied_transforms(pipeline: beam.Pipeline) -> list[beam.pipeline.AppliedPTransform]:
    found = []

    class Collect(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node):
            found.append(node)

        def enter_composite_transform(self, node):
            found.append(node)

    pipeline.visit(Collect())
    return found


def _dofns(pipeline: beam.Pipeline) -> list[tuple[str, beam.DoFn]]:
    return [(node.full_label, node.transform.fn) for node in _applied_transforms(pipeline)
            if isinstance(node.transform, beam.ParDo)]


def _project_dofns(pipeline: beam.Pipeline) -> list[tuple[str, beam.DoFn]]:
    return [(label, fn) for label, fn in _dofns(pipeline)
            if type(fn).__module__.split(".")[0] in PROJECT_PACKAGES]


@pytest.mark.parametrize("runner", RUNNERS)
def test_built_for_the_runner_without_running(built, runner):
    pipeline, _, _ = built[runner]
    expected = "ReplayDaskRunner" if runner == "DaskRunner" else runner
    # Beam's runner class, or newsbeam's subclass of it (FlinkRunner: stops its job server)
    assert expected in {cls.__name__ for cls in type(pipeline.runner).__mro__}
    if runner != "DaskRunner":
        assert pipeline._options.view_as(StandardOptions).streaming


@pytest.mark.parametrize("runner", RUNNERS)
def test_translates_to_the_portable_proto(built, runner):
    _, environment, proto = built[runner]
    names = {t.unique_name for t in proto.components.transforms.values()}
    source = BATCH_SOURCE if runner == "DaskRunner" else STREAMING_SOURCE
    missing = [name for name in (source, *STAGES) if name not in names]
    assert not missing, f"steps missing from the {runner} proto: {missing}"
    assert any(name.startswith(SINK_PREFIX) for name in names), f"no sink step in {runner}"
    # The proto is what a job service receives: it must survive the wire.
    again = beam_runner_api_pb2.Pipeline.FromString(proto.SerializeToString())
    assert again == proto
    # Every user ParDo runs in the runner's environment (the image / the worker pool).
    if environment is not None:
        wanted = environment.to_runner_api(None)
        for transform in proto.components.transforms.values():
            if transform.spec.urn == common_urns.primitives.PAR_DO.urn:
                env = proto.components.environments[transform.environment_id]
                assert env.urn == wanted.urn and env.payload == wanted.payload, transform.unique_name
    if runner == "FlinkRunner":
        assert wanted.urn == common_urns.environments.EXTERNAL.urn
    if runner == "DataflowRunner":
        payload = beam_runner_api_pb2.DockerPayload.FromString(wanted.payload)
        assert payload.container_image == manifests.dataflow_flags()["--parameters"][
            "sdk_container_image"]
    if runner != "DaskRunner":
        source = proto.components.transforms[next(
            tid for tid, t in proto.components.transforms.items()
            if t.unique_name == STREAMING_SOURCE)]
        outputs = [proto.components.pcollections[p] for p in source.outputs.values()]
        assert outputs and all(
            p.is_bounded == beam_runner_api_pb2.IsBounded.UNBOUNDED for p in outputs), (
            "the Kafka source must be unbounded in a streaming deployment")


@pytest.mark.parametrize("runner", RUNNERS)
def test_every_dofn_in_the_proto_unpickles_as_on_a_worker(built, runner):
    _, _, proto = built[runner]
    unpickled = []
    for transform in proto.components.transforms.values():
        if transform.spec.urn != common_urns.primitives.PAR_DO.urn:
            continue
        payload = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload)
        if payload.do_fn.urn != python_urns.PICKLED_DOFN_INFO:
            continue
        fn, *_ = pickler.loads(payload.do_fn.payload)
        assert isinstance(fn, beam.DoFn), transform.unique_name
        unpickled.append(type(fn).__module__)
    assert sum(module.startswith(PROJECT_PACKAGES) for module in unpickled) >= len(STAGES)


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("library", ["beam-pickler", "cloudpickle"])
def test_every_dofn_round_trips_through_pickling(built, runner, library):
    pipeline, _, _ = built[runner]
    dumps, loads = ((pickler.dumps, pickler.loads) if library == "beam-pickler"
                    else (cloudpickle.dumps, cloudpickle.loads))
    dofns = _dofns(pipeline)
    assert len(dofns) >= len(STAGES)
    for label, fn in dofns:
        copy = loads(dumps(fn))
        assert type(copy) is type(fn), label
        assert copy is not fn


_IMMUTABLE = (str, bytes, int, float, bool, complex, type(None), frozenset, range, type)


def _read_only(value: object) -> bool:
    """Immutable, or a frozen record (a per-process memo of package data, e.g. the cleaning
    rules from ``load_rules()``: every process builds the same one, nobody writes it)."""
    if isinstance(value, _IMMUTABLE) or callable(value):
        return True
    if isinstance(value, tuple):
        return all(_read_only(v) for v in value)
    if dataclasses.is_dataclass(value) and value.__dataclass_params__.frozen:
        return True
    config = getattr(type(value), "model_config", None)
    return isinstance(config, dict) and bool(config.get("frozen"))


def _shared_mutables(a: object, b: object) -> list[str]:
    return [name for name, value in vars(a).items()
            if vars(b).get(name) is value and not _read_only(value)]


def test_worker_copies_of_a_dofn_share_no_state(tmp_path):
    """Two workers' copies of each stage, set up side by side, hold nothing in common.

    The Flink deployment's pipeline, writing to a local directory instead of S3 (the Avro
    writer looks at its output directory in ``setup()``).
    """
    argv = [a for a in manifests.flink_driver_argv() if not a.startswith("--output-dir")]
    pipeline = manifests.launcher().build_pipeline([*argv, f"--output-dir={tmp_path}"])
    checked = 0
    for label, fn in _project_dofns(pipeline):
        if type(fn).__module__.startswith(NEEDS_SERVICES):
            continue
        first, second = pickler.loads(pickler.dumps(fn)), pickler.loads(pickler.dumps(fn))
        first.setup()
        second.setup()
        try:
            assert not _shared_mutables(first, second), (label, _shared_mutables(first, second))
            assert not _shared_mutables(first, fn), (label, "shares state with the launcher's copy")
        finally:
            first.teardown()
            second.teardown()
        checked += 1
    assert checked >= len(STAGES) - 1


def test_dask_graph_has_no_stateful_or_splittable_dofn(built):
    """Beam's DaskRunner runs ParDos without user state and without SDF support: the replay
    graph must have replaced every stateful stage (RunStatefulInOrder) and read plainly."""
    from apache_beam.runners.common import DoFnSignature

    pipeline, _, _ = built["DaskRunner"]
    offenders = [label for label, fn in _dofns(pipeline)
                 if DoFnSignature(fn).is_stateful_dofn() or DoFnSignature(fn).is_splittable_dofn()]
    assert not offenders, offenders


def test_dofn_classes_hold_no_mutable_class_attributes(built):
    """A class-level dict/list/set is shared by every DoFn instance in a worker process."""
    classes: set[type] = set()
    for runner in RUNNERS:
        classes.update(type(fn) for _, fn in _project_dofns(built[runner][0]))
    offenders = []
    for cls in classes:
        for klass in cls.__mro__:
            if not klass.__module__.startswith(PROJECT_PACKAGES):
                continue
            for name, value in vars(klass).items():
                if isinstance(value, (list, dict, set, bytearray)) and not name.startswith("__"):
                    offenders.append(f"{klass.__module__}.{klass.__qualname__}.{name}")
    assert not offenders, offenders


_MUTATORS = {"append", "extend", "insert", "add", "update", "setdefault", "pop", "popitem",
             "clear", "remove", "discard", "__setitem__", "move_to_end", "appendleft"}

# Process-wide state that is deliberate and off in every deployment in deploy/ (a test
# below checks the manifests never turn it on). Anything else found fails the test.
KNOWN_PROCESS_STATE = {
    # One Prometheus HTTP server per process for --metrics-port (local runs). On Flink or
    # Dataflow several SDK worker processes share a host, so the second one could not bind
    # the port: deployments use the runner's metrics instead.
    "newsbeam/progress.py: _PrometheusExporter._started",
}


def _is_container(value: ast.expr | None) -> bool:
    return isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp,
                              ast.SetComp)) or (
        isinstance(value, ast.Call) and getattr(value.func, "id", getattr(value.func, "attr", ""))
        in ("dict", "list", "set", "defaultdict", "OrderedDict", "Counter", "deque"))


def _assigned_names(body: list[ast.stmt]) -> set[str]:
    names = set()
    for node in body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        if _is_container(getattr(node, "value", None)):
            names.update(t.id for t in targets
                         if isinstance(t, ast.Name) and not t.id.startswith("__"))
    return names


def _mutated(node: ast.AST) -> tuple[ast.expr, str] | None:
    """``(owner, name)`` when ``node`` writes into ``owner.name[...]`` / ``name[...]``."""
    target = None
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
        for t in getattr(node, "targets", [getattr(node, "target", None)]):
            if isinstance(t, ast.Subscript):
                target = t.value
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
          and node.func.attr in _MUTATORS):
        target = node.func.value
    if isinstance(target, ast.Name):
        return target, target.id
    if isinstance(target, ast.Attribute):
        return target.value, target.attr
    return None


def _module_state_problems(path: Path) -> list[str]:
    """``global`` statements, and module- or class-level containers written at run time."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = path.relative_to(manifests.ROOT).as_posix()
    module_level = _assigned_names(tree.body)
    class_level = {name: cls.name for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef)
                   for name in _assigned_names(cls.body)}
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            problems.append(f"{where}:{node.lineno}: global {', '.join(node.names)}")
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for inner in ast.walk(node):
            found = _mutated(inner)
            if found is None:
                continue
            owner, name = found
            if isinstance(owner, ast.Name) and owner.id == name and name in module_level:
                problems.append(f"{where}: module-level {name} (line {inner.lineno})")
            elif not (isinstance(owner, ast.Name) and owner.id == name) and name in class_level:
                problems.append(f"{where}: {class_level[name]}.{name} (line {inner.lineno})")
    return problems


def _module_path(name: str) -> Path | None:
    base = manifests.ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _worker_modules(pipelines: list[beam.Pipeline]) -> dict[str, Path]:
    """Project modules a worker imports to run these pipelines: those defining their
    transforms and DoFns, and everything they import (at any depth, lazily or not)."""
    pending = {type(node.transform).__module__ for p in pipelines
               for node in _applied_transforms(p) if node.transform is not None}
    pending |= {type(fn).__module__ for p in pipelines for _, fn in _dofns(p)}
    found: dict[str, Path] = {}
    while pending:
        name = pending.pop()
        if name in found or name.split(".")[0] not in PROJECT_PACKAGES:
            continue
        path = _module_path(name)
        if path is None:
            continue
        found[name] = path
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                pending.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                pending.add(base)
                pending.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_no_stage_relies_on_process_global_state(built):
    """No module a worker imports keeps mutable module-level or class-level state.

    Each worker process of Flink, Dataflow or Dask imports the modules afresh, so a module
    global written by one bundle is invisible to the others. Memoised loaders
    (``functools.cache`` over package data, e.g. ``schemas.parsed_schema``) compute the same
    value in every process and are fine; ``global`` statements and module- or class-level
    containers written at run time are not.
    """
    modules = _worker_modules([pipeline for pipeline, _, _ in built.values()])
    assert {"pipeline.graph", "pipeline.dedup.streaming", "pipeline.clean",
            "connectors.kafka.source"} <= modules.keys()
    problems = [problem for path in modules.values() for problem in _module_state_problems(path)]
    unexpected = [p for p in problems if p.split(" (line")[0] not in KNOWN_PROCESS_STATE]
    assert not unexpected, "\n".join(unexpected)


def test_deployments_leave_the_process_wide_exporter_off():
    """``--metrics-port`` (one HTTP server per process) is for local runs only."""
    compose_run = manifests.compose()["services"]["newsbeam"]["command"]
    for argv in (manifests.flink_driver_argv(), manifests.dataflow_launch_argv(), compose_run):
        assert not any(a.startswith(("--metrics-port", "--metrics_port")) for a in argv), argv


@pytest.mark.parametrize("runner", RUNNERS)
def test_options_encode_for_a_job_service(built, runner):
    """Pipeline options travel to Flink's job server / Dataflow as a protobuf Struct."""
    pipeline, _, _ = built[runner]
    options = pipeline._options.get_all_options(retain_unknown_options=True)
    struct = JobServiceHandle.encode_pipeline_options(options)
    assert "beam:option:runner:v1" in struct.fields


def test_flink_job_service_receives_the_worker_pool_environment(built):
    """The proto exactly as PortableRunner submits it to Flink's job service."""
    pipeline, _, _ = built["FlinkRunner"]
    proto = PortableRunner.get_proto_pipeline(pipeline, pipeline._options)
    (environment,) = proto.components.environments.values()
    assert environment.urn == common_urns.environments.EXTERNAL.urn
    payload = beam_runner_api_pb2.ExternalPayload.FromString(environment.payload)
    assert payload.endpoint.url == "localhost:50000"


def test_kafka_secrets_stay_out_of_the_job_graph(monkeypatch, tmp_path):
    """Secrets travel as references (``env:VAR``/``file:PATH``), resolved on the worker:
    the value is in no pickled DoFn of the job graph."""
    monkeypatch.setenv("NEWSBEAM_TEST_KAFKA_PASSWORD", "s3cr3t-value-for-the-test")
    argv = [a for a in manifests.flink_driver_argv() if not a.startswith("--output-dir")]
    pipeline = manifests.launcher().build_pipeline([
        *argv, f"--output-dir={tmp_path}", "--kafka-property=security.protocol=SASL_SSL",
        "--kafka-property=sasl.mechanism=PLAIN", "--kafka-property=sasl.username=newsbeam",
        "--kafka-property=sasl.password=env:NEWSBEAM_TEST_KAFKA_PASSWORD"])
    leaked = [label for label, fn in _dofns(pipeline)
              if b"s3cr3t-value-for-the-test" in cloudpickle.dumps(fn)]
    assert not leaked, f"the Kafka password is inside the pickled DoFns of {leaked}"


def test_stages_run_in_separate_sdk_worker_processes(tmp_path, capsys):
    """Past construction: the stages run in SDK worker *processes* over the Fn API (the
    in-process runner's multi-process mode), the way Flink's worker pool and Dataflow's
    harness run them: DoFns unpickled and set up in another process, state over the Fn API
    state channel. Every input record comes out in some route."""
    from connectors.article_files import expand_paths, iter_file_values
    from connectors.avro_files import list_avro_files, read_avro_records
    from newsbeam.cli import main

    seeds = str(manifests.ROOT / "seeds")
    out = tmp_path / "out"
    assert main(["process", "--input", seeds, "--output-dir", str(out),
                 "--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]) == 0
    capsys.readouterr()
    expected = {(path, line) for path in expand_paths([seeds])
                for line, _ in iter_file_values(path)}
    seen = set()
    for path in list_avro_files(str(out)):
        for record in read_avro_records(path):
            provenance = record["provenance"]
            seen.add((provenance["file"], provenance["line"]))
    assert seen == expected
