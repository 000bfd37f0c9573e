"""Beam's DaskRunner (2.77), with the fixes a newsbeam replay needs; and a local cluster.

``apache_beam.runners.dask`` translates a pipeline into Dask bags. Four of its gaps
break our graph, so ``ReplayDaskRunner`` subclasses it and replaces the pieces involved
(found by tests/integration/test_replay.py; all upstream, none newsbeam-specific):

1. *Tagged outputs are not separated*: every consumer of any output of a multi-output
   ``ParDo`` receives all of its outputs (dead letters flowed into ``CleanArticles``).
   Here a ``ParDo`` bag holds ``(tag, value)`` pairs and each consumer filters its tag.
2. *``finish_bundle`` outputs are dropped* (results were collected before it ran). Here
   they are kept. And each partition re-ran every DoFn's ``setup`` (the language model
   alone takes ~3 s); here a worker thread sets a DoFn up once and reuses it.
3. *Side inputs were computed from inside the consuming task*, which ran everything
   upstream of them a second time. Here they are task dependencies.
4. *Only the last transform's bag is computed*: a branch that ends elsewhere (e.g. the
   Avro sink's stale-shard removal) silently never runs. Here every leaf is computed, as
   one collection (computed as several, shared upstream tasks ran once per leaf).

Still unsupported on Dask, and handled by the replay graph instead: user state and
timers (``newsbeam.replay`` runs stateful stages per key, in order, after a
GroupByKey), splittable DoFns (``connectors.kafka.splits.ReadSplits`` is a plain DoFn),
metrics (the replay keeps its own counts), and ``Reshuffle`` (a no-op: the splits are
spread by creating one bag partition per split).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import threading
import uuid
from typing import Any

from apache_beam import DoFn, pvalue
from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, _OutputHandler
from apache_beam.runners.dask.dask_runner import DaskOptions, DaskRunner, DaskRunnerResult
from apache_beam.runners.dask.overrides import _GroupByKeyOnly, dask_overrides
from apache_beam.runners.dask.transform_evaluator import (
    TRANSLATIONS,
    DaskBagOp,
    Flatten,
    GroupByKey,
    NoOp,
    OneReceiver,
    get_windowed_value,
)
from apache_beam.transforms.sideinputs import SideInputMap

__all__ = ["ReplayDaskRunner", "local_cluster"]

_log = logging.getLogger(__name__)


# DoFn instances already set up, per worker thread: (ParDo token) -> DoFn. Beam's SDK
# harness likewise keeps set-up DoFns across bundles; without this every bag partition
# paid every stage's setup (language model ~3 s) again.
_SET_UP = threading.local()


def _fn_for(token: str, fn: DoFn) -> tuple[DoFn, bool]:
    cache = getattr(_SET_UP, "fns", None)
    if cache is None:
        cache = _SET_UP.fns = {}
    if token in cache:
        return cache[token], False
    cache[token] = fn
    return fn, True


def _run_partition(items, token, fn, label, window_fn, views, args, kwargs,
                   *side_values) -> list:
    """One bag partition = one bundle; fresh receivers; ``(tag, value)`` out."""
    fn, fresh = _fn_for(token, fn)
    side_inputs = [
        SideInputMap(view_type, options, [get_windowed_value(v, mapping) for v in values])
        for (view_type, options, mapping), values in zip(views, side_values, strict=True)]
    receivers = OneReceiver()
    handler = _OutputHandler(
        window_fn=window_fn, main_receivers=receivers[None], tagged_receivers=receivers,
        per_element_output_counter=None, output_batch_converter=None,
        process_yields_batches=False, process_batch_yields_elements=False)
    invoker = DoFnInvoker.create_invoker(
        DoFnSignature(fn), handler, context=DoFnContext(label, state=None),
        side_inputs=side_inputs or None, input_args=args, input_kwargs=kwargs,
        user_state_context=None, bundle_finalizer_param=DoFn.BundleFinalizerParam())
    if fresh:
        invoker.invoke_setup()  # teardown is best effort in Beam: never, here
    invoker.invoke_start_bundle()
    for item in items:
        invoker.invoke_process(item)
    invoker.invoke_finish_bundle()
    out = []
    for value in receivers.values:
        if isinstance(value, pvalue.TaggedOutput):
            out.append((value.tag, value.value.value))
        else:
            out.append((None, value.value))
    return out


class _TaggedParDo(DaskBagOp):
    def apply(self, input_bag, side_inputs=None):
        """``side_inputs``: ``[(AsSideInput, Item of all its values)]``, dependencies of
        each partition's task (upstream, a side input was computed from inside a task:
        a second execution of everything before it, Kafka reads included)."""
        transform = self.transform
        args, kwargs = transform.raw_side_inputs
        main_input = next(iter(self.applied.main_inputs.values()))
        window_fn = getattr(getattr(main_input, "windowing", None), "windowfn", None)
        token = f"{uuid.uuid4().hex}:{transform.label}"
        views = [(type(si), si._view_options(), si._window_mapping_fn)
                 for si, _ in side_inputs or ()]
        # not optimized: an optimized copy would rename (and so re-run) everything upstream
        values = [item.to_delayed(optimize_graph=False) for _, item in side_inputs or ()]
        return input_bag.map(get_windowed_value, window_fn).map_partitions(
            _run_partition, token, transform.fn, transform.label, window_fn, views,
            list(args), kwargs, *values, token=_task_name(self.applied.full_label))


class _GroupByKey(GroupByKey):
    """Shuffles at most ``--dask_npartitions`` partitions: a task shuffle costs about
    partitions x branches tasks, and Flattens add up their inputs' partitions."""

    def apply(self, input_bag, side_inputs=None):
        target = self.bag_kwargs.get("npartitions") or input_bag.npartitions
        if input_bag.npartitions > target:
            input_bag = input_bag.repartition(target)
        return super().apply(input_bag, side_inputs)


def _task_name(label: str) -> str:
    """Dask key prefix per step (dashboard, and per-step duration estimates for stealing)."""
    return "beam-" + re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_")[-60:]


def _concat(lists) -> list:
    return [value for part in lists for value in part]


def _has_tag(pair, tag) -> bool:
    return pair[0] == tag


def _value(pair):
    return pair[1]


def _discard(partition) -> list:
    return []


@dataclasses.dataclass
class _Visitor:
    """``DaskRunner.to_dask_bag_visitor`` with per-tag inputs and leaf tracking."""

    bag_kwargs: dict
    bags: dict = dataclasses.field(default_factory=dict)
    tagged: set = dataclasses.field(default_factory=set)
    consumed: set = dataclasses.field(default_factory=set)

    def _bag_of(self, pcoll):
        producer = pcoll.producer
        self.consumed.add(producer)
        bag = self.bags[producer]
        if producer in self.tagged:
            bag = bag.filter(functools.partial(_has_tag, tag=pcoll.tag)).map(_value)
        return bag

    def enter_composite_transform(self, node) -> None:
        return None

    def leave_composite_transform(self, node) -> None:
        return None

    def visit_value(self, value, producer_node) -> None:
        return None

    def visit_transform(self, node) -> None:
        import apache_beam as beam

        is_pardo = node.transform.__class__ is beam.ParDo
        kind = node.transform.__class__
        op_class = (_TaggedParDo if is_pardo else _GroupByKey if kind is _GroupByKeyOnly
                    else TRANSLATIONS.get(kind, NoOp))
        op = op_class(node, bag_kwargs=self.bag_kwargs)
        kwargs: dict[str, Any] = {"input_bag": None, "side_inputs": None}
        inputs = [i for i in node.inputs if not isinstance(i, pvalue.PBegin)]
        if inputs:
            bags = [self._bag_of(i) for i in inputs]
            kwargs["input_bag"] = bags if isinstance(op, Flatten) or len(bags) > 1 else bags[0]
        if node.side_inputs:
            if not is_pardo:
                raise NotImplementedError(f"side inputs of {node.full_label} on Dask")
            kwargs["side_inputs"] = [
                (si, self._bag_of(si.pvalue).reduction(list, _concat)) for si in node.side_inputs]
        self.bags[node] = op.apply(**kwargs)
        if is_pardo:
            self.tagged.add(node)


class ReplayDaskRunner(DaskRunner):
    """``DaskRunner`` with the fixes listed in the module doc."""

    def run_pipeline(self, pipeline, options):
        import dask.bag as db
        import dask.distributed as ddist

        dask_options = options.view_as(DaskOptions).get_all_options(
            drop_default=True, current_only=True)
        bag_kwargs = DaskOptions._extract_bag_kwargs(dask_options)
        client = ddist.Client(**dask_options)
        try:
            pipeline.replace_all(dask_overrides())
            visitor = _Visitor(bag_kwargs)
            pipeline.visit(visitor)
            leaves = [bag for node, bag in visitor.bags.items() if node not in visitor.consumed]
            # One collection: computing several (or optimizing them apart) re-ran shared
            # upstream tasks once per leaf, reading Kafka twice.
            done = db.concat([leaf.map_partitions(_discard) for leaf in leaves])
            futures = [client.compute(done, optimize_graph=False)]
        except Exception:
            client.close()
            raise
        return DaskRunnerResult(client, futures)


def local_cluster(workers: int):
    """A ``distributed.LocalCluster`` of ``workers`` processes, one thread each (the
    stages hold the GIL); the caller closes it."""
    from distributed import LocalCluster

    # distributed sets its own loggers to INFO on import: keep them at our level or above
    level = max(logging.WARNING, logging.getLogger().level)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("distributed"):
            logging.getLogger(name).setLevel(level)
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                        dashboard_address=None, silence_logs=level)
