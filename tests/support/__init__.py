"""Helpers shared by the tests (never tests themselves): the TCP proxy, the embedded broker
behind it and topic helpers, the Schema Registry stand-in, Java peers, the synthetic stories
of the dedup tests, the deployment manifests, the route files a run writes and the
source offsets they hold, and input produced with librdkafka (its acknowledged offsets)."""

from pathlib import Path

__all__ = ["REPO"]

REPO = Path(__file__).resolve().parents[2]
