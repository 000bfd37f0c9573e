"""Kafka source and sink settings, and the one place Kafka clients are made.

Consumer/producer properties and the source and sink configs (start and stop positions
and the timestamp policy are ``connectors.kafka.positions``). Every kafka-python client of
newsbeam (consumer, producer, admin) is created here, from a ``KafkaClientSettings``
(``consumer()``, ``producer()``, ``admin()``; ``new_consumer`` and ``new_producer`` for the
source and sink configs), so every command reaches a secured cluster the same way. Properties use
Kafka's dotted names (``security.protocol``, ``sasl.password``, ``fetch.max.bytes``) and are
translated to kafka-python keyword arguments; an unknown key is refused with the list of
known ones. On the command line a secret is given by reference only
(``sasl.password=env:KAFKA_PASSWORD`` or ``=file:/run/secrets/kafka``); a properties file
may hold it literally. Either way only the reference (``SecretRef``: variable name, file
path, or properties file and key) is kept and resolved when a client is created, on the
worker: the secret never becomes a ``PipelineOptions`` value, a byte of the pickled
pipeline, or a log line. The workers need the variable or file (container env, mounted
secret).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    SaslAuthenticationFailedError,
)
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.kafka.positions import StartPosition, StopPosition, TimestampPolicy

__all__ = [
    "KafkaClientSettings",
    "KafkaSinkConfig",
    "KafkaSourceConfig",
    "SecretRef",
    "load_properties_file",
    "new_consumer",
    "new_producer",
    "resolve_property_value",
]

# Dotted Kafka names whose kafka-python name is not simply dots -> underscores.
_ALIASES = {
    "sasl.username": "sasl_plain_username",
    "sasl.password": "sasl_plain_password",
    "sasl.plain.username": "sasl_plain_username",
    "sasl.plain.password": "sasl_plain_password",
    "ssl.ca.location": "ssl_cafile",
    "ssl.certificate.location": "ssl_certfile",
    "ssl.key.location": "ssl_keyfile",
    "ssl.key.password": "ssl_password",
    "ssl.endpoint.identification.algorithm": "ssl_check_hostname",
}
_RECONNECT_BACKOFF_MAX_MS = 1000  # Kafka's Java default
_SECRET_WORDS = ("password", "secret", "token", "jaas", "credential")
# Settings newsbeam owns: passing them as properties would break offsets or delivery.
_RESERVED = frozenset({
    "group_id", "enable_auto_commit", "auto_offset_reset", "key_deserializer",
    "value_deserializer", "key_serializer", "value_serializer", "bootstrap_servers",
})


def _is_secret(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_WORDS)


def _kafka_python_name(key: str, known: Iterable[str]) -> str:
    key = key.strip()
    name = _ALIASES.get(key.lower(), key.lower().replace(".", "_").replace("-", "_"))
    known = set(known)
    if name in _RESERVED:
        raise ValueError(f"Kafka property {key!r} is set by newsbeam itself; use the matching "
                         "flag (--bootstrap-servers, --group-id, --start) instead")
    if name not in known:
        raise ValueError(f"unknown Kafka property {key!r} (kafka-python name {name!r}); "
                         f"known: {', '.join(sorted(known))}")
    return name


def resolve_property_value(key: str, value: str, *, allow_literal_secret: bool) -> str:
    """Resolve ``env:VAR`` and ``file:PATH`` references; refuse literal secrets on flags."""
    if value.startswith(("env:", "file:")):
        return _reference(key, value).resolve()
    if _is_secret(key) and not allow_literal_secret:
        raise ValueError(f"Kafka property {key!r} is a secret: give it as {key}=env:VARIABLE "
                         f"or {key}=file:/path, or put it in --kafka-property-file")
    return value


class SecretRef(BaseModel):
    """Where a secret is, not what it is: ``env:VAR``, ``file:PATH``, or a key of a
    properties file. Resolved when a Kafka client is created (on the worker), so the
    value never enters the pickled pipeline, its options, or a log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["env", "file", "properties"]
    location: str
    key: str | None = None

    def resolve(self) -> str:
        if self.kind == "env":
            if self.location not in os.environ:
                raise ValueError(f"Kafka property {self.key!r} refers to environment variable "
                                 f"{self.location!r}, which is not set")
            return os.environ[self.location]
        path = Path(self.location)
        if not path.is_file():
            raise ValueError(f"Kafka property {self.key!r} refers to file "
                             f"{self.location!r}, which does not exist")
        if self.kind == "file":
            return path.read_text(encoding="utf-8").strip()
        props = load_properties_file(path)
        if self.key not in props:
            raise ValueError(f"{self.location} no longer sets {self.key!r}")
        return props[self.key]

    def __str__(self) -> str:
        return f"{self.kind}:{self.location}"


def _reference(key: str, value: str) -> SecretRef:
    kind, _, location = value.partition(":")
    if kind == "file":
        location = str(Path(location).expanduser().absolute())
    return SecretRef(kind=kind, location=location, key=key)


def load_properties_file(path: str | Path) -> dict[str, str]:
    """Read a Java-style ``.properties`` file: ``key=value`` lines, ``#``/``!`` comments."""
    props: dict[str, str] = {}
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"([^=:\s]+)\s*[=:]\s*(.*)", line)
        if not match:
            raise ValueError(f"{path}:{number}: expected key=value")
        props[match.group(1)] = match.group(2).strip()
    return props


class KafkaClientSettings(BaseSettings):
    """Connection settings shared by source and sink.

    ``properties`` holds non-secret kafka-python arguments, ``secrets`` the secret ones.
    Also read from the environment: ``NEWSBEAM_KAFKA_BOOTSTRAP_SERVERS``.
    """

    model_config = SettingsConfigDict(env_prefix="NEWSBEAM_KAFKA_", frozen=True,
                                      extra="forbid")

    bootstrap_servers: str = "127.0.0.1:9092"
    properties: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, SecretStr | SecretRef] = Field(default_factory=dict)

    @classmethod
    def from_properties(cls, bootstrap_servers: str, raw: Mapping[str, str], *,
                        known: Iterable[str], file_props: Mapping[str, str] | None = None,
                        file_path: str | Path | None = None, other_client: Iterable[str] = (),
                        ) -> KafkaClientSettings:
        """Build from dotted properties: flags (``raw``) override the file's
        (``file_path``, or already-read ``file_props``).

        Secrets are kept as references (``SecretRef``) and checked to resolve now; a
        literal secret is allowed in the properties file only (referenced by file and key).
        Keys only ``other_client`` knows (a consumer's fetch sizes, for the producer) are
        skipped, so source and sink can share one property list.
        """
        known = list(known)
        skip = set(other_client) - set(known)
        if file_path is not None:
            file_path = Path(file_path).expanduser().absolute()
            file_props = load_properties_file(file_path)
        properties: dict[str, Any] = {}
        secrets: dict[str, SecretStr | SecretRef] = {}
        for source, from_file in ((file_props or {}, True), (raw, False)):
            for key, value in source.items():
                try:
                    name = _kafka_python_name(key, known)
                except ValueError:
                    if _kafka_python_name(key, [*known, *skip]) in skip:
                        continue
                    raise
                if not _is_secret(name):
                    properties[name] = _coerce(name, resolve_property_value(
                        key, value, allow_literal_secret=True))
                    secrets.pop(name, None)
                    continue
                if value.startswith(("env:", "file:")):
                    secret: SecretStr | SecretRef = _reference(key, value)
                elif not from_file:
                    resolve_property_value(key, value, allow_literal_secret=False)  # raises
                    raise AssertionError("unreachable")
                elif file_path is not None:
                    secret = SecretRef(kind="properties", location=str(file_path), key=key)
                else:
                    secret = SecretStr(value)
                if isinstance(secret, SecretRef):
                    secret.resolve()  # fail now, where the flags are, if it cannot resolve
                secrets[name] = secret
                properties.pop(name, None)
        return cls(bootstrap_servers=bootstrap_servers, properties=properties, secrets=secrets)

    def client_kwargs(self) -> dict[str, Any]:
        """kafka-python keyword arguments, secrets resolved and revealed: call it where the
        client is created (on the worker), never log the result."""
        kwargs = dict(self.properties)
        kwargs.update({k: v.get_secret_value() if isinstance(v, SecretStr) else v.resolve()
                       for k, v in self.secrets.items()})
        kwargs["bootstrap_servers"] = self.bootstrap_servers.split(",")
        return kwargs

    def kwargs_for(self, client: type, **overrides: Any) -> dict[str, Any]:
        """``client_kwargs()`` limited to what ``client`` (a kafka-python client class)
        accepts, then ``overrides``: one property list serves consumer, producer and admin
        (an admin client has no use for ``fetch.max.bytes`` or ``linger.ms``)."""
        kwargs = {k: v for k, v in self.client_kwargs().items() if k in client.DEFAULT_CONFIG}
        # Java clients wait at most 1 s between reconnects (reconnect.backoff.max.ms);
        # kafka-python's 30 s left a job reading ~23 s after a restarted broker was back.
        kwargs.setdefault("reconnect_backoff_max_ms", _RECONNECT_BACKOFF_MAX_MS)
        kwargs.update(overrides)
        return kwargs

    def consumer(self, **overrides: Any) -> KafkaConsumer:
        """A ``KafkaConsumer`` with these settings (secrets resolved now) and ``overrides``."""
        return _connect(KafkaConsumer, self.kwargs_for(KafkaConsumer, **overrides))

    def producer(self, **overrides: Any) -> KafkaProducer:
        """A ``KafkaProducer`` with these settings (secrets resolved now) and ``overrides``."""
        return _connect(KafkaProducer, self.kwargs_for(KafkaProducer, **overrides))

    def admin(self, **overrides: Any) -> KafkaAdminClient:
        """A ``KafkaAdminClient`` with these settings (secrets resolved now)."""
        return _connect(KafkaAdminClient, self.kwargs_for(KafkaAdminClient, **overrides))

    def describe(self) -> dict[str, Any]:
        """For logs: properties plus secret names, secret values redacted."""
        return {"bootstrap_servers": self.bootstrap_servers, **self.properties,
                **{k: "**********" for k in self.secrets}}


class _ConnectionRefusals(logging.Filter):
    """Remembers why kafka-python's connections were refused while it bootstrapped.

    kafka-python retries a refused login or TLS handshake until its bootstrap timeout and
    then raises only ``KafkaTimeoutError('Unable to bootstrap ...')``; the reason is in log
    records of ``kafka.net.manager`` ("Connection failed: SaslAuthenticationFailedError
    ...", "Bootstrap connection ... failed: KafkaConnectionError: [SSL: ...] ..."). This
    filter on that logger keeps the recent ones (time, kind, reason) so ``_connect`` can
    say what went wrong, and lets a record through only as far as the ``kafka`` logger's
    level allows (``newsbeam.logs`` keeps kafka-python quiet unless debugging).
    """

    def __init__(self) -> None:
        super().__init__()
        self.seen: deque[tuple[float, str, str]] = deque(maxlen=16)
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        for arg in record.args if isinstance(record.args, tuple) else ():
            kind = ("sasl" if isinstance(arg, SaslAuthenticationFailedError)
                    else "tls" if isinstance(arg, KafkaConnectionError) and "[SSL" in str(arg)
                    else None)
            if kind:
                with self._lock:
                    self.seen.append((time.monotonic(), kind, str(arg)))
                break
        return logging.getLogger("kafka").isEnabledFor(record.levelno)

    def since(self, start: float) -> list[tuple[str, str]]:
        with self._lock:
            return [(kind, reason) for at, kind, reason in self.seen if at >= start]


_REFUSALS = _ConnectionRefusals()
_manager_log = logging.getLogger("kafka.net.manager")
_manager_log.addFilter(_REFUSALS)
_manager_log.setLevel(logging.WARNING)  # so a refusal is recorded; the filter decides output


def _connect(client: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """``client(**kwargs)``; a bootstrap that timed out because the broker refused the
    SASL login or the TLS handshake raises an error with the reason and the user (never
    the password) instead of a bare timeout."""
    started = time.monotonic()
    try:
        return client(**kwargs)
    except KafkaTimeoutError as exc:
        refused = _REFUSALS.since(started)
        if not refused:
            raise
        kind, reason = refused[-1]
        servers = ",".join(kwargs["bootstrap_servers"])
        if kind == "sasl":
            user = kwargs.get("sasl_plain_username") or "(no sasl.username)"
            raise SaslAuthenticationFailedError(
                f"authentication failed: {servers} refused the SASL "
                f"{kwargs.get('sasl_mechanism', '')} login of user {user!r} ({reason}); "
                "check sasl.username and the password it references") from exc
        certificate = kwargs.get("ssl_certfile") or "none"
        raise KafkaConnectionError(
            f"TLS handshake with {servers} failed ({reason}); client certificate: "
            f"{certificate}. The broker may require a client certificate it trusts "
            "(ssl.certificate.location, ssl.key.location) or present one this client does "
            "not trust (ssl.ca.location)") from exc


def _coerce(name: str, value: str) -> Any:
    if name == "ssl_check_hostname":  # from ssl.endpoint.identification.algorithm
        return value.lower() not in ("", "none", "false")
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


class KafkaSourceConfig(BaseModel):
    """Everything ``ReadFromKafka`` needs. Pickled into the DoFns; secrets stay SecretStr."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client: KafkaClientSettings = Field(default_factory=KafkaClientSettings)
    topics: tuple[str, ...] = ()
    topic_pattern: str | None = None
    group_id: str = "newsbeam"
    start: StartPosition = Field(default_factory=StartPosition)
    stop: StopPosition = Field(default_factory=StopPosition)
    timestamp_policy: TimestampPolicy = TimestampPolicy.CREATE_TIME
    # CreateTime watermark: max(event time seen) - this (records may arrive out of order).
    max_delay_seconds: float = 0.0
    commit_offsets: bool = True
    # When offsets are committed: "read" in the reading bundle's finalization (right
    # where the runner fuses the read with the writes, Beam's in-process runner); "sinks"
    # once every sink has written the records up to them (``connectors.kafka.commits``),
    # for runners whose stages run apart and hold in-flight records in memory (Prism).
    commit_after: Literal["read", "sinks"] = "read"
    discovery_interval_seconds: float = 30.0
    # Streaming: read every partition in one element of the reading SDF (the partition
    # watch) instead of one element per partition, so the one restriction reports the
    # minimum of all partitions' watermarks. For runners that do not take the minimum
    # over an SDF's restrictions themselves: Prism (Beam 2.77) sets the stage's output
    # watermark to the estimate of the last bundle that returned a residual
    # (engine/elementmanager.go, ``stage.estimatedOutput``), so one partition's progress
    # would pass the watermark over records another partition has not read yet.
    one_reader: bool = False
    poll_timeout_ms: int = 200
    max_poll_records: int = 500
    # How long one process() call reads before checkpointing its restriction.
    bundle_seconds: float = 1.0
    # Idle partition: once caught up this long, the watermark moves to now - max_delay.
    idle_watermark_seconds: float = 2.0
    # Broker liveness: how often an idle or stalled partition asks for its log end, and
    # how long such a request (and an offset commit) may take.
    liveness_seconds: float = 5.0
    probe_timeout_ms: int = 5000
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 10.0

    @field_validator("topic_pattern")
    @classmethod
    def _valid_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"--topic-pattern {value!r} is not a regular expression: "
                                 f"{exc}") from exc
        return value

    @model_validator(mode="after")
    def _has_topics(self) -> KafkaSourceConfig:
        if not self.topics and not self.topic_pattern:
            raise ValueError("the Kafka source needs --topic (repeatable) or --topic-pattern")
        if self.bundle_seconds <= 0 or self.poll_timeout_ms <= 0:
            raise ValueError("bundle_seconds and poll_timeout_ms must be positive")
        return self

    def matches(self, topic: str) -> bool:
        if topic in self.topics:
            return True
        return bool(self.topic_pattern and re.fullmatch(self.topic_pattern, topic))


class KafkaSinkConfig(BaseModel):
    """Producer settings: durable by default (acks=all, retries, idempotence)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client: KafkaClientSettings = Field(default_factory=KafkaClientSettings)
    acks: str = "all"
    retries: int = 5
    enable_idempotence: bool = True
    linger_ms: int = 5
    delivery_timeout_ms: int = 120000
    flush_timeout_seconds: float = 60.0

    def producer_kwargs(self) -> dict[str, Any]:
        kwargs = self.client.kwargs_for(KafkaProducer)
        kwargs.setdefault("delivery_timeout_ms", self.delivery_timeout_ms)
        kwargs.update(acks=_acks(self.acks), retries=self.retries,
                      enable_idempotence=self.enable_idempotence, linger_ms=self.linger_ms)
        return kwargs


def _acks(value: str) -> str | int:
    return value if value == "all" else int(value)


def new_consumer(config: KafkaSourceConfig, *, with_group: bool) -> KafkaConsumer:
    """A source consumer for ``assign()`` use: no auto-commit, no group membership;
    ``with_group`` gives it the group id, to read and commit the group's offsets."""
    # Creating a consumer waits for the broker: during an outage that must fail fast (and
    # be retried with backoff), not stall a bundle or its finalization for 30 s.
    timeout = config.client.properties.get("bootstrap_timeout_ms", config.probe_timeout_ms)
    # Transactions: records of aborted or still open transactions are never read by
    # default; --kafka-property isolation.level=read_uncommitted opts out.
    isolation = config.client.properties.get("isolation_level", "read_committed")
    return config.client.consumer(
        bootstrap_timeout_ms=timeout, enable_auto_commit=False, isolation_level=isolation,
        auto_offset_reset="earliest", group_id=config.group_id if with_group else None)


def new_producer(config: KafkaSinkConfig) -> KafkaProducer:
    """The sink's producer: durable settings of ``config`` (acks, retries, idempotence)."""
    return KafkaProducer(**config.producer_kwargs())
