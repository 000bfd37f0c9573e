"""An HTTP stand-in for the Confluent Schema Registry (the schema-registry, sink and
confluent-kafka peer tests).

No Schema Registry server can be installed in this environment (no Java, no Confluent
packages), so ``RegistryStandIn`` is a *stand-in*: a small HTTP server on 127.0.0.1 in a
thread implementing the registry endpoints newsbeam's client and confluent-kafka's
``AvroSerializer``/``AvroDeserializer`` (default settings) use, with the registry's
documented status codes and error codes: ``POST /subjects/{s}/versions`` (register),
``POST /subjects/{s}`` (lookup), ``GET /schemas/ids/{id}``, ``GET /subjects``,
40401/40403, basic auth. Query parameters (``?normalize=``, ``?deleted=``, ``?subject=``)
are accepted and ignored: no normalization, no contexts. Every other path answers 404
(error code 404), as a registry without that API does; confluent-kafka's default
``AssociatedNameStrategy`` takes that answer to ``GET /associations/resources/...`` as "no
association" and falls back to TopicNameStrategy. Schemas are told apart by their JSON
with sorted keys, not by Avro parsing. It proves the clients' requests and caching, not
compatibility with every registry release.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

__all__ = ["RegistryStandIn"]


class RegistryStandIn:
    """In-memory registry: ids are global per distinct schema, versions per subject."""

    def __init__(self, user_info: str | None = None) -> None:
        self.user_info = user_info
        self.schemas: list[str] = []  # id - 1 -> canonical schema JSON
        self.subjects: dict[str, list[int]] = {}  # subject -> schema ids by version
        self.requests: list[tuple[str, str]] = []
        self.fail_next = 0  # answer this many requests with HTTP 503
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RegistryStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if registry.user_info is None:
                    return True
                expected = "Basic " + base64.b64encode(registry.user_info.encode()).decode()
                if self.headers.get("Authorization") == expected:
                    return True
                self._reply(401, {"error_code": 401, "message": "Unauthorized"})
                return False

            def _serve(self, method: str) -> None:
                registry.requests.append((method, self.path))
                if registry.fail_next > 0:
                    registry.fail_next -= 1
                    self._reply(503, {"error_code": 50301, "message": "unavailable"})
                    return
                if not self._authorized():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                # Query parameters (?normalize=false, ?subject=, ?deleted=) select nothing here
                path = urlsplit(self.path).path
                parts = [unquote(p) for p in path.strip("/").split("/")]
                status, reply = registry.answer(method, parts, body)
                self._reply(status, reply)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler

    def answer(self, method: str, parts: list[str], body: dict) -> tuple[int, object]:
        if method == "GET" and parts == ["subjects"]:
            return 200, sorted(self.subjects)
        if method == "GET" and len(parts) == 3 and parts[:2] == ["schemas", "ids"]:
            schema_id = int(parts[2])
            if 1 <= schema_id <= len(self.schemas):
                return 200, {"schema": self.schemas[schema_id - 1]}
            return 404, {"error_code": 40403, "message": "Schema not found"}
        if method == "POST" and parts[0] == "subjects" and len(parts) in (2, 3):
            subject = parts[1]
            canonical = json.dumps(json.loads(body["schema"]), sort_keys=True,
                                   separators=(",", ":"))
            if len(parts) == 3 and parts[2] == "versions":  # register
                if canonical not in self.schemas:
                    self.schemas.append(canonical)
                schema_id = self.schemas.index(canonical) + 1
                versions = self.subjects.setdefault(subject, [])
                if schema_id not in versions:
                    versions.append(schema_id)
                return 200, {"id": schema_id}
            if len(parts) == 2:  # lookup
                if subject not in self.subjects:
                    return 404, {"error_code": 40401, "message": f"Subject '{subject}' not found."}
                for version, schema_id in enumerate(self.subjects[subject], 1):
                    if self.schemas[schema_id - 1] == canonical:
                        return 200, {"subject": subject, "id": schema_id, "version": version,
                                     "schema": canonical}
                return 404, {"error_code": 40403, "message": "Schema not found"}
        return 404, {"error_code": 404, "message": "no such endpoint"}
