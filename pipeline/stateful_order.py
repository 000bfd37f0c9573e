"""Stateful stages in a bounded replay: each key's records through the stage's own DoFn,
in a fixed order, after a GroupByKey.

Cleaning (per-site chrome) is a stateful DoFn whose decisions depend on the order it
sees records in (dedup has its own bounded form, ``pipeline.dedup.bounded``, split by
story; the override still serves ``DeduplicateArticles`` put in a bounded graph). ``RunStatefulInOrderOverride`` (a Beam
``PTransformOverride``, applied to a built graph) replaces every stateful ``ParDo`` with
``RunStatefulInOrder``: GroupByKey on the stage's own key, sort each key's records in
``replay_order`` (Kafka time, then topic, partition, offset), call the stage's DoFn on
them with in-memory state (fresh per key: a replay starts from empty state). Same code,
same decisions as a streaming run that saw the records in that order, on every runner,
including runners without user state (Dask). The cost: all records of one key (a site)
sit in one worker at once.
"""

from __future__ import annotations

import inspect
from typing import Any

import apache_beam as beam
from apache_beam.pipeline import PTransformOverride
from apache_beam.transforms import userstate
from apache_beam.transforms.core import _DoFnParam, _StateDoFnParam

__all__ = ["InMemoryBag", "InMemoryValue", "RunStatefulInOrder", "RunStatefulInOrderOverride",
           "replay_order"]


def replay_order(article: Any) -> tuple:
    """The order a replay feeds a stateful stage: Kafka time, topic, partition, offset
    (file and line for file inputs); within one partition that is offset order. A value
    that carries an article with data computed ahead (dedup's ``(article, fingerprint)``)
    is ordered by its article."""
    if isinstance(article, tuple) and article:
        article = article[0]
    p = getattr(article, "provenance", None)
    if p is None:  # not a record of ours (a sink's state): keep the arrival order
        return (float("inf"), "", -1, -1, "", -1)
    ts = p.timestamp.timestamp() if p.timestamp is not None else float("-inf")
    return (ts, p.topic or "", -1 if p.partition is None else p.partition,
            -1 if p.offset is None else p.offset, p.file or "", -1 if p.line is None else p.line)


class InMemoryValue:
    """A ``ReadModifyWriteState`` held in memory: what a stateful DoFn run outside a
    runner's state backend (a replay key, a test) reads and writes."""

    def __init__(self) -> None:
        self.value = None

    def read(self):
        return self.value

    def write(self, value) -> None:
        self.value = value

    def clear(self) -> None:
        self.value = None


class InMemoryBag:
    """A ``BagState`` held in memory (see ``InMemoryValue``)."""

    def __init__(self) -> None:
        self.items: list = []

    def read(self):
        return list(self.items)

    def add(self, value) -> None:
        self.items.append(value)

    def clear(self) -> None:
        self.items = []


def _state_params(fn: beam.DoFn) -> dict[str, userstate.StateSpec]:
    specs = {}
    for name, param in inspect.signature(fn.process).parameters.items():
        if isinstance(param.default, _StateDoFnParam):
            specs[name] = param.default.state_spec
        elif isinstance(param.default, _DoFnParam):
            raise ValueError(f"{type(fn).__name__}.process parameter {name!r} cannot be "
                             "replayed in order (only state parameters are supported)")
    for spec in specs.values():
        if not isinstance(spec, userstate.ReadModifyWriteStateSpec | userstate.BagStateSpec):
            raise ValueError(f"{type(fn).__name__}: state {spec.name!r} of type "
                             f"{type(spec).__name__} is not supported by RunStatefulInOrder")
    return specs


class _InOrderFn(beam.DoFn):
    """``(key, [values])`` -> the wrapped stateful DoFn over the values in ``order``,
    with fresh in-memory state per key (a replay starts from empty state)."""

    def __init__(self, fn: beam.DoFn, order) -> None:
        self._fn = fn
        self._order = order

    def setup(self) -> None:
        self._specs = _state_params(self._fn)
        self._fn.setup()

    def start_bundle(self) -> None:
        self._fn.start_bundle()

    def process(self, group):
        key, values = group
        state = {name: (InMemoryBag() if isinstance(spec, userstate.BagStateSpec)
                        else InMemoryValue()) for name, spec in self._specs.items()}
        for value in sorted(values, key=self._order):
            yield from self._fn.process((key, value), **state) or ()

    def finish_bundle(self):
        yield from self._fn.finish_bundle() or ()

    def teardown(self) -> None:
        self._fn.teardown()


class RunStatefulInOrder(beam.PTransform):
    """A stateful ``ParDo`` run as GroupByKey + its own DoFn over each key's records in
    ``order``; same output tags."""

    def __init__(self, pardo: beam.ParDo, order=replay_order) -> None:
        super().__init__()
        self._fn = pardo.fn
        self._tags = sorted(pardo.output_tags)
        self._order = order
        _state_params(self._fn)  # refuse timers and unknown state kinds when built

    def expand(self, keyed: beam.PCollection):
        run = beam.ParDo(_InOrderFn(self._fn, self._order))
        grouped = keyed | "GroupByStateKey" >> beam.GroupByKey()
        if self._tags:
            return grouped | "ProcessInOrder" >> run.with_outputs(*self._tags, main="main")
        return grouped | "ProcessInOrder" >> run


class RunStatefulInOrderOverride(PTransformOverride):
    """Replaces every stateful ``ParDo`` of a graph with ``RunStatefulInOrder``."""

    def __init__(self, order=replay_order) -> None:
        self._order = order

    def matches(self, applied) -> bool:
        transform = applied.transform
        return (isinstance(transform, beam.ParDo)
                and userstate.is_stateful_dofn(transform.fn))

    def get_replacement_transform_for_applied_ptransform(self, applied):
        return RunStatefulInOrder(applied.transform, self._order)
