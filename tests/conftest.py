"""Fixtures shared by every test folder; the helpers behind them are in ``tests/support/``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from newsbeam.broker import EmbeddedBroker


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    """One embedded Kafka-protocol broker (Tansu) per test module."""
    with EmbeddedBroker() as running:
        yield running
