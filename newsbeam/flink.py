"""Beam's Flink job server for ``--runner FlinkRunner``: given, cached, or assembled with Maven.

Beam's ``FlinkRunner`` (portable) starts ``java -jar <job server jar> --flink-master [local]
...``, an embedded Flink mini-cluster, and runs the SDK worker in this process (``LOOPBACK``).
Without ``--flink_job_server_jar`` Beam downloads ``beam-runners-flink-<flink>-job-server``
at the SDK's own version (2.77.0) from Maven Central, which does not serve it. newsbeam
therefore resolves a job server itself and always hands Beam a ``--flink_job_server_jar``:

1. ``--flink_job_server_jar`` when given (a path or URL; Beam checks it);
2. one cached under ``$XDG_CACHE_HOME/newsbeam/flink/beam-<v>-flink-<f>/job-server.jar``
   (``~/.cache/...`` when ``XDG_CACHE_HOME`` is unset);
3. with ``mvn`` on ``PATH``: assembled there (below), then 2.;
4. otherwise a ``FlinkUnavailable`` (a ``ValueError``: one line from the CLI) saying how.

Which job server, and why (checked 2026-12 against the Maven Central this project reaches):

- No ``org.apache.beam:beam-runners-flink-{1.17,1.18,1.19,1.20,2.0}-job-server`` artifact
  at any version (2.62 ... 2.76) is served: ``mvn dependency:copy
  -Dartifact=org.apache.beam:beam-runners-flink-1.19-job-server:2.75.0`` fails with "Could
  not find artifact ... in central", and so do the 1.18/1.20 names and 2.74/2.73/2.70.
- The runner itself, ``org.apache.beam:beam-runners-flink-1.19``, is served at 2.62.0 and
  2.70.0 only (none for 1.18/1.20/2.0). 2.70.0 does not resolve as published: its
  ``beam-runners-java-job-service:2.70.0`` is missing (that artifact stops at 2.65.0).
  2.62.0 resolves whole (162 jars, ~152 MB, Flink 1.19.0).
- So the job server is ``beam-runners-flink-1.19:2.62.0`` with its runtime dependencies
  (``mvn dependency:copy-dependencies`` into ``lib/``) plus ``slf4j-simple`` matching its
  ``slf4j-api`` 1.7.30, and a small launcher jar whose manifest names
  ``org.apache.beam.runners.flink.FlinkJobServerDriver`` as ``Main-Class`` and the ``lib/``
  jars as ``Class-Path`` (what the published shadow jar's main is; Beam builds its
  ``make_classpath_jar`` the same way), so ``java -jar`` works as Beam calls it.
  The launcher also carries ``simplelogger.properties`` (WARN), so Flink's INFO chatter
  does not flood the log through Beam's job-server logger.
- The Python SDK (2.77.0) talks to that 2.62.0 job server over the portable Job/Fn APIs:
  batch (``beam.Create`` + ``Map``) and newsbeam's Kafka source in streaming mode (the SDF
  with self-checkpointing and bundle finalization) and newsbeam's whole streaming job
  run on it (``tests/integration/test_flink.py``), with ``--finish_bundle_before_checkpointing``
  (set by ``newsbeam.runners``: without it every record was dropped as late at the first
  stateful stage). The job server logs
  "Dropped unknown InstructionResponse finalize_bundle" (WARN) after each finalization: a
  known harmless Beam Flink runner message, the commits do happen.
  Also ``--flink_version`` stays the SDK's default: it only names a jar to download.

Running ``newsbeam run`` on it (see ``newsbeam.runners``): ``--streaming`` (portable Flink
runs an unbounded read only in streaming mode) and ``--checkpointing_interval MS`` (the
runner finalizes bundles, so commits Kafka offsets, when a checkpoint completes: without
checkpoints nothing is committed). With checkpointing on, Flink keeps the Impulse source
alive for later checkpoints, so a job with a bounded ``--stop`` (``drained:N`` ...) never
ends unless ``--shutdown_sources_after_idle_ms MS`` is given; and once that source has shut
down no checkpoint completes any more, so no bundle is finalized: the Python SDK then never
releases the bundle processors awaiting finalization and makes a new one (a new DoFn
instance, a new Kafka consumer) for every bundle, and the read stops making progress.
The idle time must therefore exceed the time the read takes (the tests use 15000 ms).

``make flink`` (``python -m newsbeam.flink``) assembles it ahead and prints its path. The
first fetch takes about 50 s with an empty ``~/.m2`` (4 s with it filled): 162 jars, 152 MB
in the cache folder (and 185 MB in ``~/.m2``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

__all__ = ["BEAM_FLINK_RUNNER_VERSION", "FLINK_VERSION", "FlinkUnavailable", "build_job_server",
           "cached_job_server", "flink_cache_dir", "resolve_flink_job_server"]

_log = logging.getLogger("newsbeam.flink")  # also when run as __main__

# The nearest Beam release whose Flink runner resolves from Maven Central (module doc).
BEAM_FLINK_RUNNER_VERSION = "2.62.0"
FLINK_VERSION = "1.19"
_SLF4J_VERSION = "1.7.30"  # the slf4j-api that beam-runners-flink-1.19:2.62.0 brings
_MAIN_CLASS = "org.apache.beam.runners.flink.FlinkJobServerDriver"
_FETCH_TIMEOUT_SECONDS = 1200.0

_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.newsbeam.local</groupId>
  <artifactId>flink-job-server</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.beam</groupId>
      <artifactId>beam-runners-flink-{flink}</artifactId><version>{beam}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId>
      <version>{slf4j}</version></dependency>
  </dependencies>
</project>
"""

_SIMPLELOGGER = """org.slf4j.simpleLogger.defaultLogLevel=warn
org.slf4j.simpleLogger.showThreadName=false
org.slf4j.simpleLogger.log.org.apache.beam.runners.jobsubmission=info
"""


class FlinkUnavailable(ValueError):
    """No Flink job server, and none can be assembled here."""


def flink_cache_dir(beam_version: str = BEAM_FLINK_RUNNER_VERSION,
                    flink_version: str = FLINK_VERSION) -> Path:
    """``$XDG_CACHE_HOME/newsbeam/flink/beam-<v>-flink-<f>`` (``~/.cache`` by default)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "newsbeam" / "flink" / f"beam-{beam_version}-flink-{flink_version}"


def cached_job_server(beam_version: str = BEAM_FLINK_RUNNER_VERSION,
                      flink_version: str = FLINK_VERSION) -> Path | None:
    """The cached launcher jar, if it and every jar its manifest names are there."""
    home = flink_cache_dir(beam_version, flink_version)
    jar, listing = home / "job-server.jar", home / "lib.txt"
    if not (jar.is_file() and listing.is_file()):
        return None
    names = listing.read_text().split()
    if not names or not all((home / "lib" / name).is_file() for name in names):
        return None
    return jar


def _write_launcher(path: Path, jars: list[str]) -> None:
    """A jar holding only a manifest (``Main-Class``, ``Class-Path: lib/...``) and the
    logging settings. Manifest lines stay under 72 bytes: one jar per continuation line."""
    lines = ["Manifest-Version: 1.0", f"Main-Class: {_MAIN_CLASS}", f"Class-Path: lib/{jars[0]}"]
    lines += [f"  lib/{name}" for name in jars[1:]]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as launcher:
        launcher.writestr("META-INF/MANIFEST.MF", "\r\n".join(lines) + "\r\n\r\n")
        launcher.writestr("simplelogger.properties", _SIMPLELOGGER)


def build_job_server(beam_version: str = BEAM_FLINK_RUNNER_VERSION,
                     flink_version: str = FLINK_VERSION, mvn: str | None = None) -> Path:
    """Resolve the Flink runner and its runtime dependencies with Maven into the cache
    folder and write the launcher jar; its path.

    Fetched into a fresh folder beside the final one and renamed into place, so a reader
    never sees half a job server and two concurrent fetches both end with a whole one.
    """
    mvn = mvn or shutil.which("mvn")
    if mvn is None:
        raise FlinkUnavailable(_how_to_get(beam_version, flink_version, "mvn is not on PATH"))
    if shutil.which("java") is None:
        raise FlinkUnavailable(_how_to_get(beam_version, flink_version, "java is not on PATH"))
    home = flink_cache_dir(beam_version, flink_version)
    home.parent.mkdir(parents=True, exist_ok=True)
    artifact = f"org.apache.beam:beam-runners-flink-{flink_version}:{beam_version}"
    started = time.monotonic()
    _log.warning("fetching Beam's Flink runner with Maven; about a minute the first time",
                 extra={"artifact": artifact, "into": str(home)})
    with tempfile.TemporaryDirectory(prefix=f"{home.name}.fetch-", dir=home.parent) as work:
        staging = Path(work) / "job-server"
        staging.mkdir()
        pom = staging / "pom.xml"
        pom.write_text(_POM.format(flink=flink_version, beam=beam_version, slf4j=_SLF4J_VERSION))
        try:
            done = subprocess.run(
                [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                 f"-DoutputDirectory={staging / 'lib'}", "-DincludeScope=runtime"],
                capture_output=True, text=True, timeout=_FETCH_TIMEOUT_SECONDS,
                stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise FlinkUnavailable(_how_to_get(
                beam_version, flink_version,
                f"Maven took over {_FETCH_TIMEOUT_SECONDS:.0f} s", maven=True)) from None
        jars = sorted(p.name for p in (staging / "lib").glob("*.jar"))
        if done.returncode != 0 or not jars:
            tail = [line.strip() for line in (done.stdout + done.stderr).splitlines()
                    if line.strip()][-6:]
            raise FlinkUnavailable(_how_to_get(
                beam_version, flink_version,
                f"`mvn dependency:copy-dependencies` of {artifact} failed: "
                f"{' | '.join(tail) or 'no jars'}", maven=True))
        (staging / "lib.txt").write_text("\n".join(jars) + "\n")
        _write_launcher(staging / "job-server.jar", jars)
        if cached_job_server(beam_version, flink_version) is None:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(home)  # an incomplete earlier fetch
            with contextlib.suppress(OSError):  # a concurrent fetch won: keep its folder
                os.replace(staging, home)
    jar = cached_job_server(beam_version, flink_version)
    if jar is None:
        raise FlinkUnavailable(_how_to_get(beam_version, flink_version,
                                           f"no complete job server in {home}", maven=True))
    _log.info("Flink job server ready", extra={
        "jar": str(jar), "jars": len(jars), "seconds": round(time.monotonic() - started, 1)})
    return jar


def _how_to_get(beam_version: str, flink_version: str, why: str, *, maven: bool = False) -> str:
    fix = ("check that Maven Central is reachable and run `make flink` again" if maven else
           "install Java 17+ and Maven and run `make flink` (or let newsbeam fetch it on "
           f"first use into {flink_cache_dir(beam_version, flink_version)})")
    return (f"no Flink job server (Beam's Flink {flink_version} runner {beam_version}): {why}. "
            f"To fix: {fix}; or pass --flink_job_server_jar PATH_TO_JAR")


def resolve_flink_job_server(jar: str | None = None, *, fetch: bool = True) -> str:
    """The ``--flink_job_server_jar`` to give Beam: ``jar`` when set, else the cached one,
    else (``fetch`` and Maven on PATH) a fresh one; else ``FlinkUnavailable``."""
    if jar:
        return jar
    cached = cached_job_server()
    if cached is not None:
        _log.info("using the cached Flink job server", extra={"jar": str(cached)})
        return str(cached)
    if not fetch:
        raise FlinkUnavailable(_how_to_get(BEAM_FLINK_RUNNER_VERSION, FLINK_VERSION,
                                           f"none cached in {flink_cache_dir()}"))
    return str(build_job_server())


def main(argv: list[str] | None = None) -> int:
    """``python -m newsbeam.flink`` (``make flink``): fetch or find it, print its path."""
    from newsbeam.logs import configure_logging

    configure_logging("INFO")
    args = sys.argv[1:] if argv is None else argv
    try:
        print(resolve_flink_job_server(args[0] if args else None))
    except FlinkUnavailable as exc:
        print(f"newsbeam flink: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
