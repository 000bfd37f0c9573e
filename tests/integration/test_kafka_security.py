"""newsbeam against Apache Kafka secured as production clusters are: SASL/SCRAM-SHA-512
over TLS, and ACLs that deny what they do not allow (``tests/support/secure_kafka.py``).

The judge is the broker: it authenticates, authorises and counts. Every command takes the
same connection flags; passwords are given by reference (``env:``) and never appear in
what newsbeam prints or writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    NewTopic,
    ResourcePattern,
    ResourceType,
)

from connectors.kafka.settings import KafkaClientSettings
from newsbeam.cli import main
from schemas.routes import ROUTES as ROUTE_NAMES
from tests.support import REPO
from tests.support.jvm import require_java
from tests.support.routes import read_routes
from tests.support.secure_kafka import SecuredKafkaBroker

TOPIC = "secure-articles"
ROUTES = "secure-routes"  # alice may read and write topics with this prefix
SEEDS = REPO / "seeds"


@pytest.fixture(scope="module")
def secured(tmp_path_factory) -> Iterator[SecuredKafkaBroker]:
    require_java()
    users = {name: f"{name}-{uuid.uuid4().hex}" for name in ("admin", "alice", "bob")}
    with SecuredKafkaBroker(tmp_path_factory.mktemp("secure-kafka"), users) as broker:
        admin = KafkaClientSettings(bootstrap_servers=broker.bootstrap_servers,
                                    properties=broker.client_properties("admin")).admin()
        try:
            admin.create_topics([NewTopic(TOPIC, 2, 1),
                                 *(NewTopic(f"{ROUTES}.{route}", 1, 1) for route in ROUTE_NAMES)])
            allow = [(ResourceType.TOPIC, TOPIC, ACLResourcePatternType.LITERAL, op)
                     for op in (ACLOperation.READ, ACLOperation.DESCRIBE)]
            allow += [(ResourceType.TOPIC, f"{ROUTES}.", ACLResourcePatternType.PREFIXED, op)
                      for op in (ACLOperation.READ, ACLOperation.WRITE, ACLOperation.DESCRIBE)]
            allow.append((ResourceType.GROUP, "alice-", ACLResourcePatternType.PREFIXED,
                          ACLOperation.READ))
            grants = [("User:alice", *rule) for rule in allow]
            # carol authenticates with a client certificate (mutual TLS), no password
            carol = f"User:CN={SecuredKafkaBroker.mtls_user}"
            grants += [(carol, ResourceType.TOPIC, TOPIC, ACLResourcePatternType.LITERAL, op)
                       for op in (ACLOperation.READ, ACLOperation.DESCRIBE)]
            grants.append((carol, ResourceType.GROUP, "carol-", ACLResourcePatternType.PREFIXED,
                           ACLOperation.READ))
            result = admin.create_acls([
                ACL(principal, "*", operation, ACLPermissionType.ALLOW,
                    ResourcePattern(kind, name, pattern))
                for principal, kind, name, pattern, operation in grants])
            assert not result["failed"], result["failed"]
        finally:
            admin.close()
        yield broker


@pytest.fixture()
def passwords(secured: SecuredKafkaBroker, monkeypatch) -> dict[str, str]:
    for name, password in secured.users.items():
        monkeypatch.setenv(f"NB_TEST_{name.upper()}_PASSWORD", password)
    return secured.users


def _as(secured: SecuredKafkaBroker, user: str) -> list[str]:
    return secured.flags(user, f"NB_TEST_{user.upper()}_PASSWORD")


def _librdkafka(secured: SecuredKafkaBroker, user: str) -> dict[str, str]:
    return {"bootstrap.servers": secured.bootstrap_servers, "security.protocol": "SASL_SSL",
            "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": user,
            "sasl.password": secured.users[user], "ssl.ca.location": str(secured.cert)}


def _leaks(passwords: dict[str, str], *texts: str, files: list[Path] = ()) -> list[str]:
    found = [name for name, secret in passwords.items() for text in texts if secret in text]
    found += [str(p) for p in files if p.is_file()
              and any(s.encode() in p.read_bytes() for s in passwords.values())]
    return found


@pytest.mark.timeout(300)
def test_produce_run_and_inspect_over_sasl_ssl_with_acls(
        secured: SecuredKafkaBroker, passwords: dict[str, str], tmp_path: Path, capsys) -> None:
    # admin publishes the seeds; alice, allowed to read the topic and her groups and to
    # write the route topics, runs with a file sink and a Kafka sink
    assert main(["produce", *_as(secured, "admin"), "--topic", TOPIC, str(SEEDS)]) == 0
    out = tmp_path / "out"
    assert main(["run", *_as(secured, "alice"), "--topic", TOPIC, "--group-id", "alice-run",
                 "--start", "earliest", "--stop", "drained:2", "--sink", f"avro:{out}",
                 "--sink", f"kafka:{ROUTES}.{{route}}"]) == 0
    routes = read_routes(out)
    offsets = {(r["provenance"]["partition"], r["provenance"]["offset"])
               for records in routes.values() for r in records}

    # librdkafka, as admin, is the judge: every offset up to the log end was read, and the
    # group's committed offsets are the log ends (no lag)
    peer = Consumer({**_librdkafka(secured, "admin"), "group.id": "alice-run",
                     "enable.auto.commit": False})
    try:
        partitions = [TopicPartition(TOPIC, p) for p in (0, 1)]
        ends = {tp.partition: peer.get_watermark_offsets(tp, timeout=30)[1] for tp in partitions}
        committed = {tp.partition: tp.offset for tp in peer.committed(partitions, timeout=30)}
    finally:
        peer.close()
    assert offsets == {(p, o) for p, end in ends.items() for o in range(end)}
    assert committed == ends

    capsys.readouterr()
    assert main(["inspect", *_as(secured, "alice"), f"kafka:{ROUTES}.dead_letter"]) == 0
    printed = capsys.readouterr()
    assert len(printed.out.splitlines()) == len(routes["dead_letter"])
    assert not _leaks(passwords, printed.out, printed.err, files=list(out.rglob("*")))


@pytest.mark.timeout(180)
def test_a_user_without_acls_and_a_wrong_password_get_clear_errors(
        secured: SecuredKafkaBroker, passwords: dict[str, str], tmp_path: Path, capsys,
        monkeypatch) -> None:
    capsys.readouterr()
    code = main(["run", *_as(secured, "bob"), "--topic", TOPIC, "--group-id", "bob-run",
                 "--start", "earliest", "--stop", "drained:2",
                 "--output-dir", str(tmp_path / "bob")])
    denied = capsys.readouterr()
    assert code != 0, denied.err[-3000:] + denied.out[-2000:]
    assert "authoriz" in denied.err.lower(), denied.err[-2000:]

    monkeypatch.setenv("NB_TEST_ALICE_PASSWORD", "not-the-password")
    code = main(["inspect", *_as(secured, "alice"), f"kafka:{ROUTES}.energy"])
    refused = capsys.readouterr()
    assert code != 0
    assert "authentication" in refused.err.lower(), refused.err[-2000:]
    assert not _leaks(passwords, denied.out, denied.err, refused.out, refused.err)


def _log_ends(secured: SecuredKafkaBroker) -> dict[int, int]:
    peer = Consumer({**_librdkafka(secured, "admin"), "group.id": "judge"})
    try:
        return {p: peer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=30)[1]
                for p in (0, 1)}
    finally:
        peer.close()


@pytest.mark.timeout(240)
def test_mutual_tls_with_a_client_certificate_and_without_one(
        secured: SecuredKafkaBroker, passwords: dict[str, str], tmp_path: Path,
        capsys) -> None:
    """The MTLS listener requires a client certificate; the principal is its subject
    (``User:CN=carol``), whose ACLs allow reading the topic and her groups."""
    if not any(_log_ends(secured).values()):
        assert main(["produce", *_as(secured, "admin"), "--topic", TOPIC, str(SEEDS)]) == 0
    ends = _log_ends(secured)
    out = tmp_path / "carol"
    assert main(["run", *secured.mtls_flags(), "--topic", TOPIC, "--group-id", "carol-run",
                 "--start", "earliest", "--stop", "drained:2", "--output-dir", str(out)]) == 0
    offsets = {(r["provenance"]["partition"], r["provenance"]["offset"])
               for records in read_routes(out).values() for r in records}
    assert offsets == {(p, o) for p, end in ends.items() for o in range(end)}

    capsys.readouterr()
    code = main(["inspect", *secured.mtls_flags(with_certificate=False), f"kafka:{TOPIC}"])
    refused = capsys.readouterr()
    assert code != 0
    assert refused.err.startswith("newsbeam inspect: error:"), refused.err[-2000:]
    assert len(refused.err.strip().splitlines()) == 1, refused.err[-2000:]
    assert "TLS handshake" in refused.err and "client certificate: none" in refused.err
