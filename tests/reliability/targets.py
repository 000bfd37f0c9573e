"""Small JSON-in, JSON-out functions that ``TimeLimitedCall`` runs in its child process."""

from __future__ import annotations

import re
import time

from pipeline.boilerplate import load_rules
from schemas.failures import StageError

__all__ = ["chrome_reason", "echo", "fail", "regex_bomb", "sleep"]


def echo(value: object) -> object:
    return value


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def fail(kind: str) -> None:
    if kind == "stage":
        raise StageError("EmptyAfterCleaning", "nothing left")
    raise KeyError(kind)


def regex_bomb(n: int) -> bool:
    """(a+)+$ on "a"*n + "!": exponential in n, inside one C call that holds the GIL."""
    return re.match(r"(a+)+$", "a" * n + "!") is not None


def chrome_reason(line: str) -> str | None:
    return load_rules().chrome_reason(line)
