"""Structured logs: one JSON object per line, with secrets redacted.

Records carry their ``extra=`` fields as JSON keys; any key that names a credential is
replaced by ``"***"`` so a careless ``extra={"sasl_plain_password": ...}`` never leaks.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

__all__ = ["JsonFormatter", "configure_logging", "redact"]

_SECRET_MARKERS = ("password", "secret", "token", "credential", "sasl_plain", "api_key",
                   "apikey", "private_key", "ssl_key")
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def redact(key: str, value: object) -> object:
    return "***" if any(marker in key.lower() for marker in _SECRET_MARKERS) else value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = redact(key, value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apache_beam", "urllib3", "trafilatura", "htmldate", "distributed"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # kafka-python logs every reconnect attempt at ERROR during a broker outage; the
    # source logs the outage and the recovery itself, once each, with structure.
    logging.getLogger("kafka").setLevel(logging.DEBUG if root.level <= logging.DEBUG
                                        else logging.CRITICAL)
    # connectors.kafka.settings reads kafka-python's connection failures (a refused SASL
    # login or TLS handshake) from this logger, so it logs at WARNING at least; its filter
    # drops the records the "kafka" level above does not allow.
    logging.getLogger("kafka.net.manager").setLevel(min(logging.WARNING, root.level))
