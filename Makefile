# newsbeam: `make demo` and `make test` are all a new user needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Reproducible installs: the venv gets exactly requirements/lock.txt (every package pinned, with
# hashes, for CPython 3.11 on Linux x86_64), then the project itself with --no-deps; the images
# (deploy/) install requirements/lock-runtime.txt the same way. Both locks are generated from
# pyproject.toml (and requirements/runtime.in) by `make lock`: to add or change a dependency, edit
# pyproject.toml, run `make lock`, commit them together; tests/test_lock.py fails until they agree.
# `make lock` keeps every other pin; `make lock LOCK_ARGS=--upgrade` moves all to the newest allowed.
LOCK := requirements/lock.txt
RUNTIME_LOCK := requirements/lock-runtime.txt
LOCK_ARGS ?=
UV_COMPILE := $(BIN)/python -m uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-unknown-linux-gnu --custom-compile-command 'make lock' $(LOCK_ARGS)

define LOCK_HEADER
# Do not edit: generated from pyproject.toml by `make lock` (uv pip compile --generate-hashes,
# for CPython 3.11 on Linux x86_64). Installed with `pip install --require-hashes -r`, then the
# project with --no-deps (Makefile, deploy/Dockerfile, deploy/flink/Dockerfile).
# To add or change a dependency (a compression codec for kafka-python such as lz4, cramjam,
# python-snappy or zstandard, say): edit pyproject.toml, run `make lock`, commit both files;
# tests/test_lock.py fails until they agree.
endef
export LOCK_HEADER

.PHONY: demo test lint bench install lock clean prism flink

$(STAMP): pyproject.toml $(LOCK) requirements/broker.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/broker.txt
	touch $(STAMP)

install: $(STAMP)

# Regenerates both locks from pyproject.toml: all that adding or changing a dependency needs.
lock: $(STAMP)
	$(UV_COMPILE) pyproject.toml --extra dev -o $(LOCK)
	{ printf '%s\n' "$$LOCK_HEADER"; cat $(LOCK); } > $(LOCK).tmp && mv $(LOCK).tmp $(LOCK)
	$(UV_COMPILE) pyproject.toml requirements/runtime.in -c $(LOCK) -o $(RUNTIME_LOCK)
	{ printf '%s\n' "$$LOCK_HEADER"; cat $(RUNTIME_LOCK); } > $(RUNTIME_LOCK).tmp \
		&& mv $(RUNTIME_LOCK).tmp $(RUNTIME_LOCK)

demo: $(STAMP)
	$(BIN)/newsbeam demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check newsbeam pipeline connectors schemas tests bench
	$(BIN)/lint-imports --no-cache

# Beam's Prism runner for --runner PrismRunner: built with Go into ~/.cache/newsbeam/prism/.
prism: $(STAMP)
	$(BIN)/python -m newsbeam.prism

# Beam's Flink job server for --runner FlinkRunner: assembled with Maven into ~/.cache/newsbeam/flink/.
flink: $(STAMP)
	$(BIN)/python -m newsbeam.flink

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache .ruff_cache
