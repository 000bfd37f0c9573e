"""deploy/ manifests parse, agree with each other, and pass only flags that exist.

Every command line in deploy/ is parsed by the real ``newsbeam`` parser and Beam's
``PipelineOptions``: a renamed flag breaks a test here, not a production deploy.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import shutil
import subprocess
from pathlib import Path

import apache_beam
import jsonschema
import pytest

from tests.support import manifests
from tests.support.manifests import DEPLOY, ROOT

VERSION = manifests.project_version()
IMAGE_REPO = "registry.example.com/newsbeam/newsbeam"
FLINK_IMAGE_REPO = "registry.example.com/newsbeam/newsbeam-flink"


def _flag_value(argv: list[str], flag: str) -> str:
    values = [a.split("=", 1)[1] for a in argv if a.startswith(f"{flag}=")]
    assert len(values) == 1, (flag, argv)
    return values[0]


# --- the launcher ------------------------------------------------------------------------

def test_template_parameters_map_to_run_flags():
    launcher = manifests.launcher()
    argv = launcher.template_argv([
        "--bootstrap_servers=k:9092", "--topic=a;b", "--no_commit_offsets=true",
        "--output_dir=gs://b/out", "--sink=kafka:articles.{route}", "--dedup_ttl_days", "3",
        "--runner=DataflowRunner", "--streaming"])
    assert argv == ["--bootstrap-servers=k:9092", "--topic=a", "--topic=b",
                    "--no-commit-offsets", "--output-dir=gs://b/out",
                    "--sink=kafka:articles.{route}", "--dedup-ttl-days=3",
                    "--runner=DataflowRunner", "--streaming"]
    assert launcher.template_argv(["--no_commit_offsets=false"]) == []


@pytest.mark.parametrize("bad", ["--timestamp-policy=wall-clock", "--bootstrap=kafka:9092"])
def test_launcher_refuses_bad_or_abbreviated_flags(bad, capsys):
    with pytest.raises(SystemExit):
        manifests.launcher().build_pipeline([bad, "--topic=articles", "--output-dir=/tmp/x"])
    assert "newsbeam run: error" in capsys.readouterr().err


# --- images ------------------------------------------------------------------------------

def test_image_is_the_beam_sdk_harness_of_the_tested_beam_and_python():
    path = DEPLOY / "Dockerfile"
    args = manifests.dockerfile_args(path)
    assert args["BEAM_VERSION"] == apache_beam.__version__
    import sys
    assert args["PYTHON_VERSION"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    instructions = manifests.dockerfile(path)
    bases = [manifests.expand(rest.split()[0], args) for op, rest in instructions if op == "FROM"]
    assert bases[-1] == f"apache/beam_python{args['PYTHON_VERSION']}_sdk:{apache_beam.__version__}"
    entrypoint = [rest for op, rest in instructions if op == "ENTRYPOINT"]
    assert json.loads(entrypoint[-1]) == ["/opt/apache/beam/boot"]
    env = " ".join(rest for op, rest in instructions if op == "ENV")
    assert f"FLEX_TEMPLATE_PYTHON_PY_FILE={manifests.LAUNCHER_IN_IMAGE}" in env
    copies = [rest.split() for op, rest in instructions if op == "COPY"]
    assert ["deploy/launcher.py", manifests.LAUNCHER_IN_IMAGE] in copies
    assert any("/opt/google/dataflow/python_template_launcher" in c for c in map(" ".join, copies))


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "flink/Dockerfile"])
def test_images_copy_only_what_exists_and_is_not_ignored(dockerfile):
    path = DEPLOY / dockerfile
    ignore = (path.parent / f"{path.name}.dockerignore").read_text().split()
    kept = [line[1:] for line in ignore if line.startswith("!")]
    assert "**" in ignore, "the build context is the repository: allow-list what goes in"
    for op, rest in manifests.dockerfile(path):
        if op != "COPY" or rest.startswith("--from"):
            continue
        *sources, _ = rest.split()
        for source in sources:
            assert (ROOT / source).exists(), f"{dockerfile}: COPY {source}: no such path"
            assert any(source == k or k.startswith(f"{source}/") for k in kept), (
                f"{dockerfile}: COPY {source} is excluded by {path.name}.dockerignore")


def test_flink_image_matches_the_deployment_and_the_runner():
    path = DEPLOY / "flink" / "Dockerfile"
    args = manifests.dockerfile_args(path)
    deployment = manifests.flink_deployment()
    assert args["BEAM_VERSION"] == apache_beam.__version__
    flink = args["FLINK_VERSION"]
    assert deployment["spec"]["flinkVersion"] == "v" + flink.replace(".", "_")
    from apache_beam.options.pipeline_options import FlinkRunnerOptions
    assert flink in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
    assert _flag_value(manifests.flink_driver_argv(), "--flink_version") == flink
    instructions = manifests.dockerfile(path)
    bases = [manifests.expand(rest.split()[0], args) for op, rest in instructions if op == "FROM"]
    assert f"apache/beam_flink{flink}_job_server:{apache_beam.__version__}" in bases
    assert bases[-1].startswith(f"flink:{flink}-")
    jar = deployment["spec"]["job"]["jarURI"].removeprefix("local://")
    copies = [" ".join(rest.split()[-2:]) for op, rest in instructions if op == "COPY"]
    assert f"/opt/apache/beam/jars/beam-runners-flink-job-server.jar {jar}" in copies
    assert ["deploy/launcher.py", manifests.LAUNCHER_IN_IMAGE] in [
        rest.split() for op, rest in instructions if op == "COPY"]
    python = manifests.flink_driver_command()[0]
    assert re.fullmatch(r"python3\.11", python), python
    assert args["PYTHON_VERSION"].startswith("3.11.")


# --- Flink -------------------------------------------------------------------------------

def test_flink_deployment_is_an_operator_application_with_savepoint_upgrades():
    deployment = manifests.flink_deployment()
    assert deployment["apiVersion"] == "flink.apache.org/v1beta1"
    assert deployment["kind"] == "FlinkDeployment"
    spec = deployment["spec"]
    assert spec["image"] == f"{FLINK_IMAGE_REPO}:{VERSION}"
    job = spec["job"]
    assert job["entryClass"] == "org.apache.beam.runners.flink.FlinkPortableClientEntryPoint"
    assert job["upgradeMode"] == "savepoint" and job["state"] == "running"
    assert job["allowNonRestoredState"] is False
    conf = spec["flinkConfiguration"]
    assert all(isinstance(v, str) for v in conf.values()), "flinkConfiguration values are strings"
    for key in ("state.checkpoints.dir", "state.savepoints.dir", "high-availability.storageDir"):
        assert conf[key].startswith("s3://"), key
    for part in ("jobManager", "taskManager"):
        assert spec[part]["resource"]["memory"] and spec[part]["resource"]["cpu"], part


def test_flink_checkpointing_and_parallelism_agree_with_the_driver():
    spec = manifests.flink_deployment()["spec"]
    conf, argv = spec["flinkConfiguration"], manifests.flink_driver_argv()
    interval = conf["execution.checkpointing.interval"]
    assert interval.endswith("s") and int(interval[:-1]) * 1000 == int(
        _flag_value(argv, "--checkpointing_interval")), "checkpointing on in both places"
    assert "--streaming" in argv
    parallelism = int(_flag_value(argv, "--parallelism"))
    assert parallelism == spec["job"]["parallelism"] == int(conf["parallelism.default"])
    slots = int(conf["taskmanager.numberOfTaskSlots"]) * spec["taskManager"]["replicas"]
    assert parallelism <= slots, "not enough task slots for the parallelism"
    assert int(_flag_value(argv, "--max_parallelism")) == int(conf["pipeline.max-parallelism"])
    assert int(_flag_value(argv, "--sdk_worker_parallelism")) == int(
        conf["taskmanager.numberOfTaskSlots"])


def test_flink_worker_pool_sidecar_serves_the_external_environment():
    spec = manifests.flink_deployment()["spec"]
    argv = manifests.flink_driver_argv()
    assert _flag_value(argv, "--environment_type") == "EXTERNAL"
    host, port = _flag_value(argv, "--environment_config").split(":")
    assert host == "localhost"
    containers = spec["taskManager"]["podTemplate"]["spec"]["containers"]
    pool = next(c for c in containers if c["name"] == "beam-worker-pool")
    assert pool["image"] == f"{IMAGE_REPO}:{VERSION}"
    assert pool["args"] == ["--worker_pool"]
    assert int(port) in [p["containerPort"] for p in pool["ports"]]
    assert pool["resources"]["requests"]["memory"] and pool["resources"]["limits"]["memory"]


def test_flink_pod_templates_are_valid_kubernetes_pods():
    """The operator merges these into the Flink pods: they must be valid Pod specs."""
    import kubernetes_validate

    spec = manifests.flink_deployment()["spec"]
    templates = {"pod": spec.get("podTemplate")}
    templates.update({part: spec[part].get("podTemplate") for part in ("jobManager", "taskManager")})
    templates = {name: t for name, t in templates.items() if t}
    assert "taskManager" in templates, "the worker-pool sidecar lives in the TaskManager template"
    for name, template in templates.items():
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"newsbeam-{name.lower()}"},
               "spec": template["spec"]}
        kubernetes_validate.validate(pod, kubernetes_validate.latest_version(), strict=True)


def test_flink_driver_flags_exist():
    unknown = manifests.unknown_flags(manifests.flink_driver_argv(),
                                      also_known=manifests.FLINK_JAVA_OPTIONS)
    assert not unknown, f"flags neither newsbeam, Beam nor Beam's Flink runner knows: {unknown}"


# --- Dataflow ----------------------------------------------------------------------------

def test_dataflow_metadata_is_generated_from_the_run_parser():
    import importlib.util

    manifests.launcher()
    spec = importlib.util.spec_from_file_location(
        "newsbeam_dataflow_metadata", DEPLOY / "dataflow" / "metadata.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert manifests.load_json(manifests.DATAFLOW_METADATA) == module.metadata(), (
        "deploy/dataflow/metadata.json is stale: run "
        ".venv/bin/python deploy/dataflow/metadata.py > deploy/dataflow/metadata.json")


def test_dataflow_metadata_has_every_run_flag():
    metadata = manifests.load_json(manifests.DATAFLOW_METADATA)
    names = {p["name"] for p in metadata["parameters"]}
    parser = manifests.subcommand_parser("run")
    flags = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    missing = [a.option_strings[0] for a in flags
               if not any(o[2:].replace("-", "_") in names for o in a.option_strings)]
    assert not missing, missing
    assert metadata["streaming"] is True
    for param in metadata["parameters"]:
        assert {"name", "label", "helpText"} <= param.keys()
        assert re.fullmatch(r"[a-z][a-z0-9_]*", param["name"]), param["name"]
        for regex in param.get("regexes", []):
            re.compile(regex)


def test_dataflow_parameters_exist_and_are_declared():
    flags = manifests.dataflow_flags()
    declared = {p["name"] for p in manifests.load_json(manifests.DATAFLOW_METADATA)["parameters"]}
    from apache_beam.options.pipeline_options import PipelineOptions
    beam_options = {a.dest for cls in PipelineOptions.__subclasses__() for a in _actions(cls)}
    for name in flags["--parameters"]:
        assert name in declared or name in beam_options, f"--parameters {name}: undeclared"
    argv = manifests.launcher().template_argv(manifests.dataflow_launch_argv())
    assert not manifests.unknown_flags(argv)
    for name, value in flags["--parameters"].items():
        for regex in next((p.get("regexes", []) for p in manifests.load_json(
                manifests.DATAFLOW_METADATA)["parameters"] if p["name"] == name), []):
            assert re.match(regex, str(value)), (name, value, regex)


def _actions(cls):
    import argparse

    parser = argparse.ArgumentParser(conflict_handler="resolve")
    cls._add_argparse_args(parser)
    return parser._actions


def test_dataflow_job_is_streaming_engine_with_autoscaling_on_the_same_image():
    flags = manifests.dataflow_flags()
    unknown = set(flags) - manifests.GCLOUD_FLEX_RUN_FLAGS
    assert not unknown, f"not flags of gcloud dataflow flex-template run: {unknown}"
    assert flags["--enable-streaming-engine"] is True
    assert 0 < flags["--num-workers"] < flags["--max-workers"]
    image = flags["--parameters"]["sdk_container_image"]
    assert image == manifests.script_default("IMAGE")
    assert image.endswith(f"/newsbeam:{VERSION}")
    assert flags["--template-file-gcs-location"] == manifests.script_default("TEMPLATE")
    build = manifests.load_yaml(DEPLOY / "dataflow" / "cloudbuild.yaml")
    assert build["substitutions"]["_IMAGE"] == image
    assert build["steps"][0]["args"][:3] == ["build", "-f", "deploy/Dockerfile"]


def test_dataflow_script_is_valid_bash_with_every_procedure():
    bash = shutil.which("bash")
    assert bash
    subprocess.run([bash, "-n", str(manifests.DATAFLOW_SCRIPT)], check=True)
    text = manifests.DATAFLOW_SCRIPT.read_text()
    for step in ("image)", "build)", "run)", "update)", "drain)", "cancel)"):
        assert f"\n  {step}" in text, step
    assert "--update" in text and "--transform-name-mappings" in text
    assert "gcloud dataflow jobs drain" in text


# --- compose -----------------------------------------------------------------------------

def _compose_schema() -> dict:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendor.joinpath("compose-spec.json").read_text(encoding="utf-8"))


def test_compose_file_follows_the_compose_specification():
    document = manifests.compose()
    jsonschema.validate(document, _compose_schema(),
                        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    services = document["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).resolve().parent.exists(), (name, volume)
            else:
                assert source in document.get("volumes", {}), (name, volume)
        if "build" in service:
            context = (DEPLOY / service["build"]["context"]).resolve()
            assert (context / service["build"]["dockerfile"]).is_file(), name


def _compose_cli() -> list[str] | None:
    """Docker Compose v2 (the plugin, or a v2 standalone binary); v1 predates the spec."""
    for cli in (["docker", "compose"], ["docker-compose"]):
        if not shutil.which(cli[0]):
            continue
        version = subprocess.run([*cli, "version", "--short"], capture_output=True, text=True)
        if version.returncode == 0 and version.stdout.strip().lstrip("v").startswith("2"):
            return cli
    return None


def test_docker_compose_config_accepts_the_file():
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Docker Compose here: test_compose_file_follows_the_compose_specification "
                    "validated the file against the Compose specification's schema instead")
    subprocess.run([*cli, "-f", str(manifests.COMPOSE), "config", "--quiet"], check=True,
                   cwd=ROOT)


def test_compose_runs_kraft_kafka_registry_and_newsbeam_with_real_flags():
    services = manifests.compose()["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "zookeeper" not in json.dumps(services).lower()
    advertised = {item.split("://", 1)[1] for item in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    assert "schema-registry" in services

    newsbeam = services["newsbeam"]
    assert newsbeam["image"] == f"{IMAGE_REPO}:{VERSION}"
    assert newsbeam["build"]["dockerfile"] == "deploy/Dockerfile"
    assert newsbeam["entrypoint"] == ["newsbeam"]
    command = newsbeam["command"]
    assert command[0] == "run"
    assert not manifests.unknown_flags(command[1:])
    assert _flag_value(command, "--bootstrap-servers") in advertised
    topic = _flag_value(command, "--topic")
    script = services["kafka-init"]["command"][0]
    created = re.findall(r"^create (\S+) \d+$", script, re.M)
    assert topic in created, f"kafka-init does not create the input topic {topic}"

    # The Kafka sink: one topic per route, values registered in the Schema Registry.
    from schemas.routes import ROUTES

    template = _flag_value(command, "--sink")
    assert template.startswith("kafka:") and template.endswith(".{route}")
    prefix = template.removeprefix("kafka:").removesuffix("{route}")
    loop = re.search(r"for route in ([\w ]+); do\s+create \"(\S+)\$\$route\"", script)
    assert loop and loop.group(2) == prefix
    assert set(loop.group(1).split()) == set(ROUTES)
    registry = services["schema-registry"]
    url = _flag_value(command, "--schema-registry-url")
    listener = registry["environment"]["SCHEMA_REGISTRY_LISTENERS"]
    assert url == f"http://{registry['hostname']}:{listener.rsplit(':', 1)[1]}"
    assert _flag_value(command, "--value-encoding") == "confluent"

    seeds = services["produce-seeds"]
    assert seeds["image"] == newsbeam["image"]
    produce = manifests.subcommand_parser("produce")
    args, rest = manifests.parse_or_fail(produce, seeds["command"][1:])
    assert not rest and args.topic == topic and args.bootstrap_servers in advertised


# --- README ------------------------------------------------------------------------------

def test_readme_covers_the_deployment_questions_and_names_real_files():
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for topic in ("Which runner", "Sizing", "offsets", "Replay", "Flink", "Dataflow", "compose"):
        assert topic.lower() in text.lower(), topic
    for path in set(re.findall(r"`(deploy/[\w./-]+)`", text)):
        assert (ROOT / path).exists(), f"README names {path}, which does not exist"
    assert not [p for p in Path(DEPLOY).rglob("*") if p.name.endswith((".orig", ".rej"))]


def test_template_names_do_not_shadow_beam_options():
    """The launcher rewrites ``--name`` for every newsbeam flag: no Beam option may share it.

    ``bootstrap_servers`` is the known exception: Beam's KafkaStreamsRunnerOptions declares
    ``--bootstrap_servers`` with the same dest as our ``--bootstrap-servers``, and
    ``PipelineOptions.view_as(KafkaOptions)`` ignores that spelling (the pipeline would use
    the default broker), so the launcher must translate it.
    """
    import argparse

    from apache_beam.options.pipeline_options import PipelineOptions

    from connectors.kafka.options import KafkaOptions
    from newsbeam.options import DedupOptions, NewsbeamOptions

    launcher = manifests.launcher()
    ours = set(launcher._template_names(launcher.run_parser()))
    beam = set()
    for cls in PipelineOptions.__subclasses__():
        if cls in (KafkaOptions, NewsbeamOptions, DedupOptions):
            continue
        parser = argparse.ArgumentParser(conflict_handler="resolve")
        cls._add_argparse_args(parser)
        beam.update(o.lstrip("-").replace("-", "_") for a in parser._actions
                    for o in a.option_strings)
    assert ours & beam == {"bootstrap_servers"}
    assert launcher.template_argv(["--bootstrap_servers=b:9092"]) == ["--bootstrap-servers=b:9092"]


def test_image_has_the_filesystems_the_deployments_write_to():
    """Workers write --output-dir through Beam's filesystems: s3:// needs the aws extra,
    gs:// the gcp extra, installed in the SDK harness image (from requirements/lock-runtime.txt,
    compiled from requirements/runtime.in)."""
    runs = " ".join(rest for op, rest in manifests.dockerfile(DEPLOY / "Dockerfile") if op == "RUN")
    assert "-r requirements/lock-runtime.txt" in runs
    runtime_in = (ROOT / "requirements" / "runtime.in").read_text()
    extras = set(re.search(r"(?m)^apache-beam\[([\w,]+)\]", runtime_in).group(1).split(","))
    outputs = [_flag_value(manifests.flink_driver_argv(), "--output-dir"),
               str(manifests.dataflow_flags()["--parameters"]["output_dir"])]
    needed = {"s3": "aws", "gs": "gcp"}
    for output in outputs:
        scheme = output.split("://", 1)[0] if "://" in output else None
        if scheme in needed:
            assert needed[scheme] in extras, f"{output} needs apache-beam[{needed[scheme]}]"
