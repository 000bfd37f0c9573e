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


@pytest.fixture(scope="session")
def apache_kafka():
    """Apache Kafka 4.x (KRaft, one node, from Maven Central) for the whole session.

    Skipped without Java and Maven, unless ``NEWSBEAM_REQUIRE_JAVA=1`` (CI) makes that a
    failure."""
    from newsbeam.kafka_broker import ApacheKafkaBroker
    from tests.support.jvm import require_java

    require_java()
    with ApacheKafkaBroker() as running:
        yield running


@pytest.fixture(params=["tansu", "apache-kafka"])
def any_broker(request: pytest.FixtureRequest):
    """Each broker in turn: the embedded one, then Apache Kafka (a suite that must hold on
    both takes this fixture)."""
    name = "broker" if request.param == "tansu" else "apache_kafka"
    return request.getfixturevalue(name)


@pytest.fixture(scope="session")
def prism_binary() -> str:
    """Beam's Prism runner binary for the installed Beam (``tests/support/prism.py``)."""
    from tests.support.prism import prism_binary_or_skip

    return prism_binary_or_skip()


@pytest.fixture(scope="session")
def flink_job_server() -> str:
    """Beam's Flink job server jar (``tests/support/flink.py``)."""
    from tests.support.flink import flink_job_server_or_skip

    return flink_job_server_or_skip()
