"""Beam's Prism runner for the tests: its binary through ``newsbeam.prism`` (cached, else
built with Go: minutes the first time). Without Go and without a cached binary a test that
needs it is skipped, unless ``NEWSBEAM_REQUIRE_GO=1`` (set by ``.ci/run``) makes that a
failure."""

from __future__ import annotations

import os
import shutil

import pytest

from newsbeam.prism import cached_prism, resolve_prism

__all__ = ["prism_binary_or_skip", "require_go"]


def require_go() -> str:
    """The ``go`` executable, else skip (or fail under ``NEWSBEAM_REQUIRE_GO=1``)."""
    go = shutil.which("go")
    if go:
        return go
    reason = "the Prism runner is built with Go, and go is not on PATH"
    if os.environ.get("NEWSBEAM_REQUIRE_GO") == "1":
        pytest.fail(f"{reason} (NEWSBEAM_REQUIRE_GO=1)")
    pytest.skip(reason)


def prism_binary_or_skip() -> str:
    """The Prism binary for the installed Beam."""
    if cached_prism() is None:
        require_go()
    return resolve_prism()
