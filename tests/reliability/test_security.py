"""Security: TLS to Kafka end to end, SASL (PLAIN, SCRAM) settings, credentials only by
reference and never in logs, outputs or options, and no eval/pickle of message data."""

from __future__ import annotations

import ast
import pickle
import random
import ssl
import uuid
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from connectors.kafka.options import KafkaOptions
from connectors.kafka.settings import KafkaClientSettings
from connectors.kafka.topics import ensure_topic
from tests.support.broker import proxied_broker
from tests.support.secure_kafka import self_signed_certificate

from .harness import REPO, PipelineRun, article_value, audit, publish, run_args, tail, write_figures


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def _kafka_options(*properties: str, file: Path | None = None) -> KafkaOptions:
    argv = ["--topic", "articles"]
    for prop in properties:
        argv += ["--kafka-property", prop]
    if file is not None:
        argv += ["--kafka-property-file", str(file)]
    return PipelineOptions(argv).view_as(KafkaOptions)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_pipeline_reads_over_tls_and_never_logs_or_writes_credentials(
        certificate: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    env_secret, file_secret = f"env-{uuid.uuid4().hex}", f"file-{uuid.uuid4().hex}"
    properties = tmp_path / "client.properties"
    properties.write_text(f"# read by --kafka-property-file\nssl.key.password={file_secret}\n")
    with proxied_broker(tls=context) as proxy:
        client = {"security_protocol": "SSL", "ssl_cafile": str(cert)}
        ensure_topic(KafkaClientSettings(bootstrap_servers=proxy.address, properties=client),
                     "tls-articles", 2)
        rng = random.Random(3)
        produced = set(publish(proxy.address, "tls-articles",
                               [article_value(rng, i, "tls") for i in range(40)], **client))
        out, log = tmp_path / "out", tmp_path / "run.log"
        run = PipelineRun(
            [*run_args(proxy.address, "tls-articles", out, "tls", "--start", "earliest",
                       "--stop", "drained:2"),
             "--kafka-property", "security.protocol=SSL",
             "--kafka-property", f"ssl.ca.location={cert}",
             "--kafka-property", "sasl.mechanism=SCRAM-SHA-512",
             "--kafka-property", "sasl.username=newsbeam",
             "--kafka-property", "sasl.password=env:NEWSBEAM_TEST_KAFKA_PASSWORD",
             "--kafka-property-file", str(properties)],
            log, env={"NEWSBEAM_TEST_KAFKA_PASSWORD": env_secret}, log_level="DEBUG")
        code = run.wait(timeout=120)
    assert code == 0, tail(log)
    result = audit(out, "tls-articles")
    assert set(result.ids_by_offset) == produced, "every offset read over TLS"
    leaks = [str(path) for path in [log, *out.rglob("*")] if path.is_file() and any(
        secret.encode() in path.read_bytes() for secret in (env_secret, file_secret))]
    write_figures("security_tls", {"produced": len(produced), "read_over_tls": len(result.ids_by_offset),
                                   "log_bytes_checked": log.stat().st_size, "files_with_secrets": leaks})
    assert not leaks, f"a credential was written to {leaks}"


def test_sasl_scram_and_tls_settings_reach_kafka_python(tmp_path: Path, monkeypatch) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text("from-a-file\n")
    monkeypatch.setenv("KAFKA_USER_PASSWORD", "from-the-env")
    for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        config = _kafka_options(
            "security.protocol=SASL_SSL", f"sasl.mechanism={mechanism}",
            "sasl.username=newsbeam", f"sasl.password=file:{secret_file}",
            "ssl.ca.location=/etc/ssl/ca.pem", "ssl.endpoint.identification.algorithm=https",
        ).source_config()
        kwargs = config.client.client_kwargs()
        assert kwargs["security_protocol"] == "SASL_SSL"
        assert kwargs["sasl_mechanism"] == mechanism
        assert kwargs["sasl_plain_username"] == "newsbeam"
        assert kwargs["sasl_plain_password"] == "from-a-file"
        assert kwargs["ssl_cafile"] == "/etc/ssl/ca.pem"
    env_config = _kafka_options("sasl.password=env:KAFKA_USER_PASSWORD").source_config()
    assert env_config.client.client_kwargs()["sasl_plain_password"] == "from-the-env"


def test_credentials_are_redacted_everywhere_they_could_be_shown(monkeypatch) -> None:
    monkeypatch.setenv("KAFKA_USER_PASSWORD", "hunter2-secret")
    argv = ["--topic", "articles", "--kafka-property", "sasl.password=env:KAFKA_USER_PASSWORD"]
    options = PipelineOptions(argv)
    config = options.view_as(KafkaOptions).source_config()
    shown = [repr(config), str(config), config.model_dump_json(), repr(config.client.describe()),
             repr(options.get_all_options()), repr(options.display_data())]
    assert not [text for text in shown if "hunter2-secret" in text]
    assert "env:KAFKA_USER_PASSWORD" in repr(options.get_all_options())  # the reference only


def test_literal_secrets_on_the_command_line_are_refused() -> None:
    for prop in ("sasl.password=hunter2", "ssl.key.password=hunter2",
                 "sasl.oauthbearer.token=x"):
        with pytest.raises(ValueError, match="env:|unknown"):
            _kafka_options(prop).source_config()


def test_a_missing_secret_reference_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NEWSBEAM_NOT_SET"):
        _kafka_options("sasl.password=env:NEWSBEAM_NOT_SET").source_config()
    with pytest.raises(ValueError, match="does not exist"):
        _kafka_options(f"sasl.password=file:{tmp_path / 'nope'}").source_config()


def test_the_serialised_pipeline_does_not_carry_the_credentials(monkeypatch) -> None:
    """The source config is pickled into the DoFns, and the pickled graph is what a runner
    stages and stores (Dataflow uploads it; Flink keeps it in the job graph). A secret
    resolved when the pipeline is built travels inside it, in clear. The reference
    (``env:VAR``/``file:PATH``) should travel instead and be resolved in ``setup()`` on
    the worker."""
    monkeypatch.setenv("KAFKA_USER_PASSWORD", "hunter2-secret")
    config = _kafka_options("sasl.password=env:KAFKA_USER_PASSWORD").source_config()
    assert b"hunter2-secret" not in pickle.dumps(config)


# Calls that would run or unpickle data: forbidden in the code that handles messages.
_FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
_FORBIDDEN_ATTRIBUTES = {("pickle", "loads"), ("pickle", "load"), ("marshal", "loads"),
                         ("marshal", "load"), ("dill", "loads"), ("cloudpickle", "loads"),
                         ("yaml", "unsafe_load"), ("yaml", "full_load"), ("shelve", "open")}


def test_no_eval_or_unpickling_in_the_code_that_handles_messages() -> None:
    found = []
    for path in sorted([*(REPO / "pipeline").rglob("*.py"), *(REPO / "connectors").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        safe_loaders = {"SafeLoader", "CSafeLoader"} | {
            node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
            and any("SafeLoader" in ast.unparse(base) for base in node.bases)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            if isinstance(func, ast.Name) and func.id in _FORBIDDEN_CALLS:
                found.append(f"{where} {func.id}()")
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                if (func.value.id, func.attr) in _FORBIDDEN_ATTRIBUTES:
                    found.append(f"{where} {func.value.id}.{func.attr}()")
                loader = next((ast.unparse(k.value) for k in node.keywords if k.arg == "Loader"),
                              ast.unparse(node.args[1]) if len(node.args) > 1 else "")
                if (func.value.id == "yaml" and func.attr == "load"
                        and loader.rsplit(".", 1)[-1] not in safe_loaders):
                    found.append(f"{where} yaml.load() without a safe loader")
    assert not found, found


def test_dependencies_are_pinned_to_compatible_ranges() -> None:
    """Every requirement has an upper bound (``<``, ``~=`` or ``==``): a new major version
    of a dependency must be a deliberate upgrade, not something a fresh install picks up."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"],
                    *(r for extra in project.get("optional-dependencies", {}).values()
                      for r in extra)]
    unbounded = [text for text in requirements if not any(
        spec.operator in ("<", "<=", "~=", "==", "===")
        for spec in Requirement(text).specifier)]
    assert not unbounded, f"no upper bound: {unbounded}"
