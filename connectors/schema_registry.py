"""A small Confluent Schema Registry client (REST API v1), stdlib only.

Used by the Kafka sink for the Confluent wire format (value subject ``<topic>-value``) and
by ``newsbeam inspect`` to decode it. Ids are cached both ways (subject+schema -> id and
id -> schema), so a running sink asks the registry once per topic and schema.

Credentials never travel in pipeline options: basic auth comes from the environment
(``NEWSBEAM_SCHEMA_REGISTRY_USER_INFO=user:password``) or a file named by
``NEWSBEAM_SCHEMA_REGISTRY_USER_INFO_FILE`` (one ``user:password`` line).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

__all__ = [
    "SchemaRegistryClient",
    "SchemaRegistryError",
    "value_subject",
]

_log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
USER_INFO_ENV = "NEWSBEAM_SCHEMA_REGISTRY_USER_INFO"
USER_INFO_FILE_ENV = "NEWSBEAM_SCHEMA_REGISTRY_USER_INFO_FILE"
# Registry error codes (HTTP 404 bodies) meaning "not there", as opposed to a failure.
_SUBJECT_NOT_FOUND = 40401
_SCHEMA_NOT_FOUND = 40403


def value_subject(topic: str) -> str:
    """TopicNameStrategy: the subject of a topic's values."""
    return f"{topic}-value"


class SchemaRegistryError(RuntimeError):
    """The registry refused a request or could not be reached (after retries)."""

    def __init__(self, message: str, status: int | None = None,
                 error_code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


def _user_info_from_env() -> str | None:
    info = os.environ.get(USER_INFO_ENV)
    if info:
        return info
    path = os.environ.get(USER_INFO_FILE_ENV)
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return None


def _canonical(schema: dict[str, Any] | str) -> str:
    doc = json.loads(schema) if isinstance(schema, str) else schema
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


class SchemaRegistryClient:
    """``register``/``lookup``/``schema_by_id`` against one registry, cached, thread-safe.

    ``user_info`` (``user:password``) defaults to the environment (see module doc).
    Transient failures (connection errors, HTTP 5xx, 429) are retried ``retries`` times
    with exponential backoff; then ``SchemaRegistryError`` is raised, which fails the
    bundle so the runner retries it (records are not dead-lettered for a registry outage).
    """

    def __init__(self, url: str, *, user_info: str | None = None, timeout: float = 10.0,
                 retries: int = 3, backoff_seconds: float = 0.2) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"schema registry URL {url!r} must start with http:// or https://")
        self.url = url.rstrip("/")
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff_seconds
        info = user_info if user_info is not None else _user_info_from_env()
        self._auth = ("Basic " + base64.b64encode(info.encode()).decode()) if info else None
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the credentials
        return f"SchemaRegistryClient({self.url!r}, auth={'yes' if self._auth else 'no'})"

    # ------------------------------------------------------------------ HTTP

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": CONTENT_TYPE}
        if data is not None:
            headers["Content-Type"] = CONTENT_TYPE
        if self._auth:
            headers["Authorization"] = self._auth
        attempt = 0
        while True:
            request = urllib.request.Request(self.url + path, data=data, headers=headers,
                                             method=method)
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as response:
                    return json.loads(response.read() or b"null")
            except urllib.error.HTTPError as exc:
                payload = _error_body(exc)
                retryable = exc.code >= 500 or exc.code == 429
                if not retryable or attempt >= self._retries:
                    raise SchemaRegistryError(
                        f"schema registry {method} {path}: HTTP {exc.code} "
                        f"{payload.get('message', exc.reason)}",
                        status=exc.code, error_code=payload.get("error_code")) from exc
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt >= self._retries:
                    raise SchemaRegistryError(
                        f"schema registry {self.url} unreachable: {exc}") from exc
            attempt += 1
            delay = self._backoff * 2 ** (attempt - 1)
            _log.warning("schema registry request failed, retrying", extra={
                "method": method, "path": path, "attempt": attempt, "retry_in_s": delay})
            time.sleep(delay)

    # ------------------------------------------------------------------ API

    def register(self, subject: str, schema: dict[str, Any] | str) -> int:
        """Register ``schema`` under ``subject`` (idempotent: an existing one keeps its id)."""
        key = (subject, _canonical(schema))
        with self._lock:
            if key in self._ids:
                return self._ids[key]
        reply = self._request("POST", f"/subjects/{_quote(subject)}/versions",
                              {"schema": key[1]})
        return self._remember(key, int(reply["id"]))

    def lookup(self, subject: str, schema: dict[str, Any] | str) -> int | None:
        """The id of ``schema`` under ``subject``, or None when it is not registered there."""
        key = (subject, _canonical(schema))
        with self._lock:
            if key in self._ids:
                return self._ids[key]
        try:
            reply = self._request("POST", f"/subjects/{_quote(subject)}", {"schema": key[1]})
        except SchemaRegistryError as exc:
            if exc.status == 404 and exc.error_code in (_SUBJECT_NOT_FOUND, _SCHEMA_NOT_FOUND):
                return None
            raise
        return self._remember(key, int(reply["id"]))

    def id_for(self, subject: str, schema: dict[str, Any] | str, *,
               auto_register: bool = True) -> int:
        """Lookup, else (with ``auto_register``) register: what a producer needs per record."""
        found = self.lookup(subject, schema)
        if found is not None:
            return found
        if not auto_register:
            raise SchemaRegistryError(f"schema not registered under {subject!r} and "
                                      "auto-registration is off")
        return self.register(subject, schema)

    def schema_by_id(self, schema_id: int) -> dict[str, Any]:
        """The schema registered with ``schema_id`` (as a JSON document), cached."""
        with self._lock:
            if schema_id in self._schemas:
                return self._schemas[schema_id]
        reply = self._request("GET", f"/schemas/ids/{int(schema_id)}")
        schema = json.loads(reply["schema"])
        with self._lock:
            self._schemas[schema_id] = schema
        return schema

    def _remember(self, key: tuple[str, str], schema_id: int) -> int:
        with self._lock:
            self._ids[key] = schema_id
            self._schemas.setdefault(schema_id, json.loads(key[1]))
        return schema_id


def _quote(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")


def _error_body(exc: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
