"""The layering is checked by a tool, not by reviewers: import-linter's contracts in pyproject.toml.

newsbeam (the app) -> pipeline (stages) | connectors (I/O) -> schemas (the record kernel);
pipeline and connectors never import each other, and nothing below newsbeam imports it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

__all__: list[str] = []

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("newsbeam", "pipeline", "connectors", "schemas")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """Runs the venv's `lint-imports` on cwd's pyproject.toml, with cwd first on the import path."""
    executable = Path(sys.executable).with_name("lint-imports")
    assert executable.exists(), f"{executable} is missing: install the dev extras (make install)"
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(executable), "--no-cache", "--no-logo", str(cwd / "pyproject.toml")],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_the_project_keeps_its_layering_contracts() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, f"import-linter:\n{result.stdout}{result.stderr}"
    assert "0 broken" in result.stdout, result.stdout


def _fake_project(tmp_path: Path, importer: str | None = None, imported: str | None = None) -> Path:
    """The real contracts over four empty packages, one of which may import another."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for package in LAYERS:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "core.py").write_text("")
    if importer is not None:
        (tmp_path / importer / "core.py").write_text(f"import {imported}.core\n")
    return tmp_path


def test_the_contracts_pass_a_project_that_keeps_them(tmp_path: Path) -> None:
    project = _fake_project(tmp_path, "newsbeam", "pipeline")
    (project / "pipeline" / "__init__.py").write_text("import schemas.core\n")
    (project / "connectors" / "__init__.py").write_text("import schemas.core\n")
    result = _lint_imports(project)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("pipeline", "connectors"),
        ("connectors", "pipeline"),
        ("connectors", "newsbeam"),
        ("pipeline", "newsbeam"),
        ("schemas", "newsbeam"),
        ("schemas", "pipeline"),
        ("schemas", "connectors"),
    ],
)
def test_the_contracts_catch_an_import_against_the_flow(
    tmp_path: Path, importer: str, imported: str
) -> None:
    result = _lint_imports(_fake_project(tmp_path, importer, imported))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{importer}.core -> {imported}.core" in result.stdout, result.stdout
