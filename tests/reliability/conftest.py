"""The reliability suite's broker: one embedded Kafka-protocol broker per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from newsbeam.broker import EmbeddedBroker


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running
