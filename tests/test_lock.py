"""The locks (requirements/lock.txt, requirements/lock-runtime.txt) match pyproject.toml.

Every requirement of pyproject.toml (dependencies and the dev extras) is pinned in the lock at a
version its specifier allows, and every pin carries hashes (pip installs with --require-hashes).
When this fails: `make lock`, then commit pyproject.toml and requirements/ together.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support import manifests

__all__ = ["lock_problems", "read_lock"]

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"
LOCK = REQUIREMENTS / "lock.txt"
RUNTIME_LOCK = REQUIREMENTS / "lock-runtime.txt"
RUNTIME_IN = REQUIREMENTS / "runtime.in"
# The lock is for the machines we run on: CI, developers, the images.
TARGET = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
          "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
          "implementation_name": "cpython", "platform_python_implementation": "CPython"}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(\S+)(.*)$")


def read_lock(text: str) -> dict[str, tuple[Version, list[str]]]:
    """``{name: (version, hashes)}`` of a pip requirements file, continuation lines joined."""
    pins: dict[str, tuple[Version, list[str]]] = {}
    for entry in text.replace("\\\n", " ").splitlines():
        entry = entry.split(" #", 1)[0].strip()
        if not entry or entry.startswith("#"):
            continue
        match = _PIN.match(entry)
        assert match, f"not a pinned requirement: {entry!r}"
        name, _, version, rest = match.groups()
        hashes = re.findall(r"--hash=(sha256:[0-9a-f]{64})", rest)
        pins[canonicalize_name(name)] = (Version(version), hashes)
    return pins


def _requirements(pyproject_text: str, extras: tuple[str, ...] = ("dev",)) -> list[Requirement]:
    project = tomllib.loads(pyproject_text)["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def lock_problems(requirements: list[Requirement], lock_text: str) -> list[str]:
    """What is wrong with the lock for these requirements; empty when it matches."""
    pins = read_lock(lock_text)
    problems = [f"{name}=={version}: no --hash" for name, (version, hashes) in pins.items()
                if not hashes]
    for requirement in requirements:
        if requirement.marker is not None and not requirement.marker.evaluate(TARGET):
            continue
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement}: not in the lock")
        elif not requirement.specifier.contains(pins[name][0], prereleases=True):
            problems.append(f"{requirement}: the lock pins {pins[name][0]}")
    return problems


def _runtime_requirements() -> list[Requirement]:
    lines = [line.split("#", 1)[0].strip() for line in RUNTIME_IN.read_text().splitlines()]
    return [Requirement(line) for line in lines if line]


# --- the checked-in locks ------------------------------------------------------------------

def test_the_lock_pins_every_requirement_of_pyproject_with_hashes() -> None:
    problems = lock_problems(_requirements((ROOT / "pyproject.toml").read_text()), LOCK.read_text())
    assert not problems, "requirements/lock.txt is stale; run `make lock`:\n" + "\n".join(problems)


def test_the_runtime_lock_pins_the_project_and_the_images_extras_with_hashes() -> None:
    requirements = _requirements((ROOT / "pyproject.toml").read_text(), extras=())
    problems = lock_problems(requirements + _runtime_requirements(), RUNTIME_LOCK.read_text())
    assert not problems, "requirements/lock-runtime.txt is stale; run `make lock`:\n" + "\n".join(
        problems)


def test_the_runtime_lock_agrees_with_the_lock_the_tests_run_on() -> None:
    dev, runtime = read_lock(LOCK.read_text()), read_lock(RUNTIME_LOCK.read_text())
    differ = {name: (dev[name][0], version) for name, (version, _) in runtime.items()
              if name in dev and dev[name][0] != version}
    assert not differ, f"(tested, shipped) versions differ; run `make lock`: {differ}"


@pytest.mark.parametrize("lock", [LOCK, RUNTIME_LOCK], ids=lambda p: p.name)
def test_the_lock_says_how_it_was_generated(lock: Path) -> None:
    header = [line for line in lock.read_text().splitlines() if line.startswith("#")][:8]
    assert any("make lock" in line for line in header), header
    assert any("pyproject.toml" in line for line in header), header


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "flink/Dockerfile"])
def test_images_install_the_runtime_lock_of_their_beam(dockerfile: str) -> None:
    path = ROOT / "deploy" / dockerfile
    beam = Version(manifests.dockerfile_args(path)["BEAM_VERSION"])
    assert read_lock(RUNTIME_LOCK.read_text())["apache-beam"][0] == beam
    runs = [rest for op, rest in manifests.dockerfile(path) if op == "RUN"]
    assert any("--require-hashes -r requirements/lock-runtime.txt" in run for run in runs), runs
    assert any("--no-deps ." in run for run in runs), runs


def test_make_installs_the_lock_with_hashes_then_the_project_without_deps() -> None:
    makefile = (ROOT / "Makefile").read_text()
    lock_install = makefile.index("pip install --quiet --require-hashes -r $(LOCK)")
    assert lock_install < makefile.index("pip install --quiet --no-deps -e .")


# --- the check itself can fail --------------------------------------------------------------

def _pyproject_with(tmp_path: Path, old: str, new: str) -> str:
    text = (ROOT / "pyproject.toml").read_text()
    assert old in text
    copy = tmp_path / "pyproject.toml"
    copy.write_text(text.replace(old, new, 1))
    return copy.read_text()


def test_a_requirement_missing_from_the_lock_is_reported(tmp_path: Path) -> None:
    pyproject = _pyproject_with(tmp_path, 'dependencies = [\n',
                                'dependencies = [\n  "no-such-package-newsbeam>=1",\n')
    problems = lock_problems(_requirements(pyproject), LOCK.read_text())
    assert problems == ["no-such-package-newsbeam>=1: not in the lock"]


def test_a_pin_outside_the_specifier_is_reported(tmp_path: Path) -> None:
    pyproject = _pyproject_with(tmp_path, '"apache-beam>=2.77,<3"', '"apache-beam>=3,<4"')
    problems = lock_problems(_requirements(pyproject), LOCK.read_text())
    assert len(problems) == 1 and problems[0].startswith("apache-beam<4,>=3: the lock pins 2.")


def test_a_pin_without_hashes_is_reported() -> None:
    lock = re.sub(r"(?m)^(kafka-python==\S+) \\\n(\s+--hash=\S+ \\\n)*\s+--hash=\S+\n",
                  r"\1\n", LOCK.read_text())
    problems = lock_problems(_requirements((ROOT / "pyproject.toml").read_text()), lock)
    assert len(problems) == 1 and problems[0].startswith("kafka-python==") and "no --hash" in problems[0]
