"""The stage chain, assembled once: the same stages for streaming and bounded runs.

``ProcessArticles`` is parse -> limits -> clean -> language -> dedup -> tag -> route, built
once and reused by every entry point, so a replay runs exactly the code a streaming run
ran. It takes typed ``StageSettings``, never ``PipelineOptions``. Step labels are the
``Stage`` labels and never change: Dataflow and Flink match steps by name when a job is
updated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import apache_beam as beam

from pipeline.clean import CleanArticles
from pipeline.dedup import DedupConfig, DeduplicateArticles, DedupOrder
from pipeline.language import DetectLanguage
from pipeline.limits import DEFAULT_LIMITS, ArticleLimits, EnforceLimits
from pipeline.parse import DEFAULT_MAX_MESSAGE_BYTES, ParseArticles
from pipeline.routing import RouteArticles
from pipeline.stage import ARTICLES, DEAD_LETTER
from pipeline.tagging import TagTopics
from schemas.failures import Stage

__all__ = ["ProcessArticles", "StageSettings"]


@dataclass(frozen=True)
class StageSettings:
    """Everything the stages are configured with, typed (the app builds it from flags)."""

    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    limits: ArticleLimits = DEFAULT_LIMITS
    dedup: DedupConfig = field(default_factory=DedupConfig)
    # Cleaning: extract each HTML page in a child process, a dead letter (StageTimeout)
    # past this many seconds; 0: off, extraction in the DoFn (see pipeline.clean).
    html_time_limit_seconds: float = 0.0
    # Streaming dedup: decide on arrival (a fused graph, the in-process runner) or in
    # event-time order once the watermark passes (runners that shuffle); see DedupOrder.
    dedup_order: DedupOrder = DedupOrder.ARRIVAL


class ProcessArticles(beam.PTransform):
    """``RawMessage``s -> routed records: ``{"articles": ..., "<Stage>": dead letters}``.

    parse -> enforce limits -> clean -> detect language -> deduplicate -> tag -> route.
    ``bounded``: a run over a fixed input (files, replays), where deduplication is split
    by story across workers with the same decisions as the streaming step would make
    over the input in replay order.
    """

    def __init__(self, settings: StageSettings | None = None, *, bounded: bool = False) -> None:
        super().__init__()
        self._settings = settings or StageSettings()
        self._bounded = bounded

    def expand(self, messages: beam.PCollection) -> dict[str, beam.PCollection]:
        settings = self._settings
        parsed = messages | Stage.PARSE.label >> ParseArticles(settings.max_message_bytes)
        limited = parsed[ARTICLES] | Stage.LIMITS.label >> EnforceLimits(settings.limits)
        cleaned = limited[ARTICLES] | Stage.CLEAN.label >> CleanArticles(
            html_time_limit_seconds=settings.html_time_limit_seconds)
        detected = cleaned[ARTICLES] | Stage.LANGUAGE.label >> DetectLanguage()
        deduplicated = detected[ARTICLES] | Stage.DEDUP.label >> DeduplicateArticles(
            settings.dedup, bounded=self._bounded, streaming_order=settings.dedup_order)
        tagged = deduplicated[ARTICLES] | Stage.TAG.label >> TagTopics()
        stages = {Stage.PARSE: parsed, Stage.LIMITS: limited, Stage.CLEAN: cleaned,
                  Stage.LANGUAGE: detected, Stage.DEDUP: deduplicated, Stage.TAG: tagged}
        routes = {"articles": tagged[ARTICLES]}
        routes.update({stage.label: outputs[DEAD_LETTER] for stage, outputs in stages.items()})
        return routes | Stage.ROUTE.label >> RouteArticles()
