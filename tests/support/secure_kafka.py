"""Apache Kafka with the security a production cluster has: SASL/SCRAM over TLS, ACLs.

One KRaft node. Clients reach it on a ``SASL_SSL`` listener (a self-signed certificate for
``127.0.0.1`` made with ``openssl``, loaded by Kafka as a PEM keystore); the SCRAM users are
written at format time (``kafka-storage format --add-scram``); the ``StandardAuthorizer``
denies whatever no ACL allows. ``admin`` is a super user; every other user starts with no
rights. A second client listener, ``MTLS`` on ``mtls_port``, is TLS with client
certificates required (mutual TLS): the principal is the certificate's subject
(``User:CN=<name>``); the broker trusts the client certificate made for ``mtls_user``.
The broker's own listeners (inter-broker, controller) are plaintext on loopback.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from newsbeam.broker import free_port
from newsbeam.kafka_broker import ApacheKafkaBroker

__all__ = ["SecuredKafkaBroker", "self_signed_certificate"]

MECHANISM = "SCRAM-SHA-512"


def self_signed_certificate(folder: Path, subject: str = "/CN=127.0.0.1") -> tuple[Path, Path]:
    """``(cert.pem, key.pem)`` for ``127.0.0.1`` (PKCS#8 key, no passphrase)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", subject,
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


class SecuredKafkaBroker(ApacheKafkaBroker):
    """``users``: name -> password (SCRAM-SHA-512); ``admin`` must be one of them."""

    mtls_user = "carol"  # the client certificate's CN: principal User:CN=carol

    def __init__(self, folder: Path, users: dict[str, str]) -> None:
        super().__init__()
        assert "admin" in users
        self.users = dict(users)
        self.internal_port = free_port()
        self.mtls_port = free_port()
        self.cert, key = self_signed_certificate(folder)
        self.keystore = folder / "keystore.pem"
        self.keystore.write_text(key.read_text() + self.cert.read_text())
        (folder / "client").mkdir()
        self.client_cert, self.client_key = self_signed_certificate(
            folder / "client", subject=f"/CN={self.mtls_user}")

    def server_properties(self) -> dict[str, str]:
        props = super().server_properties()
        admin = self.users["admin"]
        props.update({
            "listeners": f"SASL_SSL://127.0.0.1:{self.port},"
                         f"MTLS://127.0.0.1:{self.mtls_port},"
                         f"INTERNAL://127.0.0.1:{self.internal_port},"
                         f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{self.port},"
                                    f"MTLS://127.0.0.1:{self.mtls_port},"
                                    f"INTERNAL://127.0.0.1:{self.internal_port}",
            "listener.security.protocol.map":
                "SASL_SSL:SASL_SSL,MTLS:SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "listener.name.mtls.ssl.client.auth": "required",
            "listener.name.mtls.ssl.truststore.type": "PEM",
            "listener.name.mtls.ssl.truststore.location": str(self.client_cert),
            "inter.broker.listener.name": "INTERNAL",
            "sasl.enabled.mechanisms": MECHANISM,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="admin" password="{admin}";',
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # the broker's own plaintext listeners authenticate as ANONYMOUS
            "super.users": "User:admin;User:ANONYMOUS",
            "allow.everyone.if.no.acl.found": "false",
        })
        return props

    def _format_arguments(self) -> list[str]:
        args: list[str] = []
        for name, password in self.users.items():
            args += ["--add-scram", f"{MECHANISM}=[name={name},password={password}]"]
        return args

    def _client_security(self) -> dict[str, str]:
        return self.client_properties("admin")

    def client_properties(self, user: str) -> dict[str, str]:
        """kafka-python settings for ``user`` (the readiness probe, the tests' admin)."""
        return {"security_protocol": "SASL_SSL", "sasl_mechanism": MECHANISM,
                "sasl_plain_username": user, "sasl_plain_password": self.users[user],
                "ssl_cafile": str(self.cert)}

    def mtls_flags(self, *, with_certificate: bool = True) -> list[str]:
        """newsbeam's connection flags for the mutual-TLS listener, as ``mtls_user``."""
        flags = ["--bootstrap-servers", f"127.0.0.1:{self.mtls_port}",
                 "--kafka-property", "security.protocol=SSL",
                 "--kafka-property", f"ssl.ca.location={self.cert}"]
        if with_certificate:
            flags += ["--kafka-property", f"ssl.certificate.location={self.client_cert}",
                      "--kafka-property", f"ssl.key.location={self.client_key}"]
        return flags

    def flags(self, user: str, password_variable: str) -> list[str]:
        """newsbeam's connection flags for ``user``; the password by reference only."""
        return ["--bootstrap-servers", self.bootstrap_servers,
                "--kafka-property", "security.protocol=SASL_SSL",
                "--kafka-property", f"sasl.mechanism={MECHANISM}",
                "--kafka-property", f"sasl.username={user}",
                "--kafka-property", f"sasl.password=env:{password_variable}",
                "--kafka-property", f"ssl.ca.location={self.cert}"]
