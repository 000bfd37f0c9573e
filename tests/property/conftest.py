"""Hypothesis settings for the property tests: enough examples to find edge cases, no
per-example deadline (the first call of a stage loads its rules), bounded total time."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "newsbeam", max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("newsbeam")
