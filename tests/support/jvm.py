"""Java peers for the tests: resolve ``tests/support/java/pom.xml`` with Maven, compile the
peer programs beside it once, run them.

The artifacts land in the local Maven repository (``~/.m2``) on first use and are reused
afterwards; the compiled classes are cached under ``~/.cache/newsbeam-tests/`` by the hash
of the sources and the pom. Without Java or Maven a test using a peer is skipped with the
reason, unless ``NEWSBEAM_REQUIRE_JAVA=1`` (set by ``.ci/run``) turns the skip into a
failure, so CI always runs the Java legs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

__all__ = ["java_peer", "require_java"]

JAVA_DIR = Path(__file__).parent / "java"
_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "newsbeam-tests"


def require_java() -> tuple[str, str]:
    """``(java, mvn)`` executables, or skip (fail under ``NEWSBEAM_REQUIRE_JAVA=1``)."""
    java, mvn = shutil.which("java"), shutil.which("mvn")
    if java and mvn:
        return java, mvn
    missing = " and ".join(name for name, path in (("java", java), ("mvn", mvn)) if not path)
    reason = f"Java peer tests need {missing} on PATH"
    if os.environ.get("NEWSBEAM_REQUIRE_JAVA") == "1":
        pytest.fail(f"{reason} (NEWSBEAM_REQUIRE_JAVA=1)")
    pytest.skip(reason)


@cache
def _classpath() -> tuple[str, Path]:
    java, mvn = require_java()
    sources = sorted(JAVA_DIR.glob("*.java"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in [JAVA_DIR / "pom.xml", *sources]))
    home = _CACHE / digest.hexdigest()[:16]
    cp_file, classes = home / "classpath.txt", home / "classes"
    if not cp_file.exists():
        home.mkdir(parents=True, exist_ok=True)
        resolved = subprocess.run(
            [mvn, "-q", "-B", "-f", str(JAVA_DIR / "pom.xml"), "dependency:build-classpath",
             f"-Dmdep.outputFile={cp_file}.part"], capture_output=True, text=True, timeout=600)
        if resolved.returncode != 0:
            raise RuntimeError(f"mvn could not resolve {JAVA_DIR / 'pom.xml'}:\n"
                               f"{resolved.stdout[-3000:]}{resolved.stderr[-3000:]}")
        Path(f"{cp_file}.part").rename(cp_file)
    classpath = cp_file.read_text().strip()
    if not (classes / ".done").exists():
        classes.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(Path(java).with_name("javac")), "-d", str(classes), "-cp", classpath,
                        *map(str, sources)], check=True, capture_output=True, timeout=300)
        (classes / ".done").touch()
    return f"{classes}{os.pathsep}{classpath}", Path(java)


def java_peer(main_class: str, *args: str | Path, timeout: float = 120.0) -> str:
    """Run ``main_class`` of ``tests/support/java`` with ``args``; its stdout, or raise."""
    classpath, java = _classpath()
    done = subprocess.run([str(java), "-cp", classpath, main_class, *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{main_class} {' '.join(map(str, args))} failed:\n{done.stderr}")
    return done.stdout
