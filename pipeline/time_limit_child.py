"""The child side of ``pipeline.limits.TimeLimitedCall``, kept free of Beam.

The child process imports this module, its target's and the parent's main module (the
``spawn`` start method re-imports it). Under newsbeam's own commands that main module
does not import Beam either, so the child of the cleaning stage's HTML extraction holds
~65 MB (measured RSS) instead of ~145 MB and prints no Beam import-time warnings; on a
Beam worker process, whose main module imports Beam, it is ~145 MB.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

from schemas.failures import StageError

__all__ = ["resolve", "serve"]


def resolve(target: str) -> Callable[..., Any]:
    """The function named by ``"package.module:function"``."""
    module, _, name = target.partition(":")
    if not module or not name:
        raise ValueError(f"target {target!r} must be 'package.module:function'")
    return getattr(importlib.import_module(module), name)


def serve(target: str, connection: Any) -> None:
    """Child process: JSON arguments in, JSON result (or the error's class and text) out."""
    function = resolve(target)
    connection.send_bytes(b"ready")
    while True:
        try:
            request = connection.recv_bytes()
        except EOFError:
            return
        args = json.loads(request)
        try:
            reply = {"ok": function(*args)}
        except StageError as exc:
            reply = {"error": exc.error_class, "message": str(exc)}
        except Exception as exc:  # noqa: BLE001 - reported to the caller, who dead-letters it
            reply = {"error": type(exc).__name__, "message": str(exc)}
        connection.send_bytes(json.dumps(reply).encode())
