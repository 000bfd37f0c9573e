"""Finding the Prism binary (``newsbeam/prism.py``) and what ``--runner`` resolves to
(``newsbeam/runners.py``), without building anything: the cache is a temporary
``XDG_CACHE_HOME`` whose expected layout is written out here by hand, and "no Go" is a
``PATH`` without ``go`` on it. The real build and a real run are in
``tests/integration/test_prism.py``."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, PrismRunnerOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.portability.prism_runner import PrismRunner
from apache_beam.version import __version__ as BEAM_VERSION

from newsbeam.cli import main
from newsbeam.prism import PrismUnavailable, resolve_prism
from newsbeam.runners import resolve_runner


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty XDG cache and a PATH holding no ``go``."""
    root = tmp_path / "xdg-cache"
    root.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(root))
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    return root


def _place_binary(cache: Path) -> Path:
    """A stand-in binary where the docs say the cached one lives."""
    binary = cache / "newsbeam" / "prism" / f"v{BEAM_VERSION}" / "prism"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


def test_the_cached_binary_is_found_under_xdg_cache_home(cache: Path) -> None:
    binary = _place_binary(cache)
    assert resolve_prism() == str(binary)


def test_an_explicit_location_wins_over_the_cache(cache: Path) -> None:
    _place_binary(cache)
    assert resolve_prism("/opt/prism/bin/prism") == "/opt/prism/bin/prism"
    options = PipelineOptions(["--runner", "PrismRunner", "--prism_location", "/opt/p"])
    resolve_runner(options)
    assert options.view_as(PrismRunnerOptions).prism_location == "/opt/p"


def test_a_cached_binary_that_is_not_executable_is_not_used(cache: Path) -> None:
    binary = _place_binary(cache)
    binary.chmod(0o644)
    with pytest.raises(PrismUnavailable):
        resolve_prism()


def test_without_go_and_without_a_cached_binary_the_error_says_how_to_get_one(
        cache: Path) -> None:
    with pytest.raises(PrismUnavailable) as error:
        resolve_prism()
    message = str(error.value)
    assert "Go is not installed" in message
    assert "https://go.dev/doc/install" in message and "--prism_location" in message
    assert "make prism" in message
    assert str(cache / "newsbeam" / "prism" / f"v{BEAM_VERSION}") in message
    assert isinstance(error.value, ValueError)  # the CLI prints it as one line


def test_newsbeam_run_on_prism_without_go_ends_in_one_line(cache: Path, capsys) -> None:
    # The runner is resolved before any broker is contacted: no broker needed.
    code = main(["run", "--bootstrap-servers", "127.0.0.1:9", "--topic", "t",
                 "--runner", "PrismRunner"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("newsbeam run: error: no Prism runner")
    assert "--prism_location" in err


def test_prism_runner_gets_the_cached_binary_as_prism_location(cache: Path) -> None:
    binary = _place_binary(cache)
    options = PipelineOptions(["--runner", "PrismRunner"])
    assert isinstance(resolve_runner(options), PrismRunner)
    assert options.view_as(PrismRunnerOptions).prism_location == str(binary)


def test_no_runner_and_fnapirunner_mean_the_in_process_fnapirunner_without_go(
        cache: Path) -> None:
    for argv in ([], ["--runner", "FnApiRunner"]):
        options = PipelineOptions(argv)
        assert isinstance(resolve_runner(options), FnApiRunner)
        assert options.view_as(PrismRunnerOptions).prism_location is None


def test_direct_runner_is_beams_and_gets_a_cached_prism(cache: Path) -> None:
    binary = _place_binary(cache)
    options = PipelineOptions(["--runner", "DirectRunner"])
    assert resolve_runner(options) == "DirectRunner"
    assert options.view_as(PrismRunnerOptions).prism_location == str(binary)


def test_direct_runner_without_any_prism_runs_in_process_with_its_defaults(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Go, no cached binary, and Beam's GitHub download fails (a Beam version with no
    release: a 404 there, a DNS error here): Beam's DirectRunner would fall back to the
    FnApiRunner, so newsbeam picks it and the runner-dependent defaults are its own. With
    Prism's (commit after the sinks), the FnApiRunner would never commit an offset."""
    from apache_beam.runners.portability.prism_runner import PrismJobServer

    from connectors.kafka.options import KafkaOptions
    from newsbeam.options import stage_settings
    from pipeline.dedup import DedupOrder

    monkeypatch.setattr(PrismJobServer, "BIN_CACHE", str(cache / "beam-prism"))
    options = PipelineOptions(["--runner", "DirectRunner", "--prism_beam_version_override",
                               "v0.0.0-no-such-release", "--topic", "t", "--group-id", "g"])
    assert isinstance(resolve_runner(options), FnApiRunner)
    assert options.view_as(PrismRunnerOptions).prism_location is None
    config = options.view_as(KafkaOptions).source_config()
    assert config.commit_after == "read"
    assert config.one_reader is False
    assert stage_settings(options).dedup_order is DedupOrder.ARRIVAL
