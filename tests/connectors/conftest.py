"""Fixtures for the connector tests (the ``broker`` fixture is in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.registry import RegistryStandIn


@pytest.fixture
def registry() -> Iterator[RegistryStandIn]:
    """The Schema Registry stand-in, serving on a free loopback port."""
    with RegistryStandIn() as running:
        yield running
