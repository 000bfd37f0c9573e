"""Hypothesis settings for the property tests.

``newsbeam`` (the default, used by ``make test``): derandomized, so CI runs the same
examples every time and a failure reproduces; no per-example deadline (the first call of a
stage loads its rules). ``HYPOTHESIS_PROFILE=thorough`` explores ten times more, randomly.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("newsbeam", max_examples=150, deadline=None, derandomize=True,
                          suppress_health_check=_SUPPRESS)
settings.register_profile("thorough", max_examples=1500, deadline=None,
                          suppress_health_check=_SUPPRESS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "newsbeam"))
