"""The Prism runner's binary: given, cached, or built with Go.

Beam's ``PrismRunner`` runs a Go binary (``prism``) as its job service. Without
``--prism_location`` Beam downloads a release zip from GitHub, which is not reachable from
every machine (nor from this project's CI). newsbeam therefore resolves the binary itself
and always hands Beam a ``--prism_location``:

1. ``--prism_location`` when given (a path or URL; Beam checks it);
2. a binary cached under ``$XDG_CACHE_HOME/newsbeam/prism/v<beam version>/prism``
   (``~/.cache/...`` when ``XDG_CACHE_HOME`` is unset);
3. with ``go`` on ``PATH``: ``go install github.com/apache/beam/sdks/v2/go/cmd/prism@v<beam
   version>`` into that folder (a few minutes the first time; Go's module proxy must be
   reachable), then 2.;
4. otherwise a ``PrismUnavailable`` (a ``ValueError``: one line from the CLI) saying how to
   get one.

``make prism`` (``python -m newsbeam.prism``) builds the binary ahead and prints its path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

__all__ = ["PRISM_PACKAGE", "PrismUnavailable", "build_prism", "cached_prism", "prism_cache_dir",
           "resolve_prism"]

_log = logging.getLogger("newsbeam.prism")  # also when run as __main__

PRISM_PACKAGE = "github.com/apache/beam/sdks/v2/go/cmd/prism"
_BUILD_TIMEOUT_SECONDS = 1800.0


class PrismUnavailable(ValueError):
    """No Prism binary, and none can be built here."""


def _beam_version() -> str:
    from apache_beam.version import __version__

    return __version__


def prism_cache_dir(beam_version: str | None = None) -> Path:
    """``$XDG_CACHE_HOME/newsbeam/prism/v<beam version>`` (``~/.cache`` by default)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "newsbeam" / "prism" / f"v{beam_version or _beam_version()}"


def cached_prism(beam_version: str | None = None) -> Path | None:
    """The cached binary for ``beam_version`` (default: the installed Beam), if any."""
    binary = prism_cache_dir(beam_version) / "prism"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


def build_prism(beam_version: str | None = None, go: str | None = None) -> Path:
    """``go install PRISM_PACKAGE@v<beam_version>`` into the cache folder; the binary.

    Built into a fresh folder beside the final one and renamed into place, so a reader
    never sees half a binary and two concurrent builds both end with a whole one.
    """
    version = beam_version or _beam_version()
    go = go or shutil.which("go")
    if go is None:
        raise PrismUnavailable(_how_to_get(version, "Go is not installed"))
    target = prism_cache_dir(version)
    target.mkdir(parents=True, exist_ok=True)
    module = f"{PRISM_PACKAGE}@v{version}"
    started = time.monotonic()
    _log.warning("building the Prism runner with Go; a few minutes the first time", extra={
        "go_module": module, "go": go, "into": str(target)})
    with tempfile.TemporaryDirectory(prefix="build-", dir=target) as gobin:
        tail = _run_go([go, "install", "-v", module], {**os.environ, "GOBIN": gobin})
        built = Path(gobin) / "prism"
        if tail is None and built.is_file():
            os.replace(built, target / "prism")
    if not (target / "prism").is_file():
        with contextlib.suppress(OSError):
            target.rmdir()  # leave no empty version folder behind
        raise PrismUnavailable(_how_to_get(
            version, f"`go install {module}` failed: {' | '.join(tail or ['no binary'])}",
            go_installed=True))
    _log.info("Prism runner built", extra={
        "binary": str(target / "prism"), "seconds": round(time.monotonic() - started, 1)})
    return target / "prism"


def _run_go(command: list[str], env: dict[str, str]) -> list[str] | None:
    """Run ``command``, logging its output lines (packages as they compile) at DEBUG;
    None on success, else the last lines of its output. Killed after
    ``_BUILD_TIMEOUT_SECONDS`` (a module proxy that stops answering)."""
    tail: deque[str] = deque(maxlen=8)
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True) as process:
        watchdog = threading.Timer(_BUILD_TIMEOUT_SECONDS, process.kill)
        watchdog.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if line.strip():
                    tail.append(line.strip())
                _log.debug("go install", extra={"line": line.rstrip()})
            code = process.wait()
        finally:
            watchdog.cancel()
    if code == 0:
        return None
    if code < 0:
        tail.append(f"killed (signal {-code}; timeout {_BUILD_TIMEOUT_SECONDS:.0f} s)")
    return list(tail)


def _how_to_get(version: str, why: str, *, go_installed: bool = False) -> str:
    fix = ("check that Go's module proxy is reachable (GOPROXY) and run `make prism` again"
           if go_installed else
           "install Go (https://go.dev/doc/install) and run `make prism` (or let newsbeam "
           f"build it on first use into {prism_cache_dir(version)})")
    return (f"no Prism runner binary for Beam {version}: {why}. To fix: {fix}; or pass "
            "--prism_location PATH_TO_PRISM")


def resolve_prism(location: str | None = None, *, build: bool = True,
                  beam_version: str | None = None) -> str:
    """The ``--prism_location`` to give Beam: ``location`` when set, else the cached
    binary, else (``build`` and Go on PATH) a fresh build; else ``PrismUnavailable``."""
    if location:
        return location
    version = beam_version or _beam_version()
    cached = cached_prism(version)
    if cached is not None:
        _log.info("using the cached Prism runner", extra={"binary": str(cached)})
        return str(cached)
    if not build:
        raise PrismUnavailable(_how_to_get(version, f"none cached in {prism_cache_dir(version)}"))
    return str(build_prism(version))


def main(argv: list[str] | None = None) -> int:
    """``python -m newsbeam.prism`` (``make prism``): build or find it, print its path."""
    from newsbeam.logs import configure_logging

    logging.getLogger().setLevel(logging.ERROR)  # importing Beam warns about GCP clients
    _beam_version()
    configure_logging("INFO")
    args = sys.argv[1:] if argv is None else argv
    try:
        print(resolve_prism(args[0] if args else None))
    except PrismUnavailable as exc:
        print(f"newsbeam prism: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
