"""Topic tagging stage: sets ``article.topics`` from the taxonomy in ``pipeline/taxonomy``.

Thin Beam wrapper around ``pipeline.taxonomy.TopicTagger``; the tagger (taxonomy files
and Aho–Corasick automata) is built once per worker in ``setup()``.
"""

from __future__ import annotations

import apache_beam as beam

from pipeline.stage import StageFn, apply_stage
from pipeline.taxonomy import TopicTagger
from schemas.failures import Stage
from schemas.models import Article

__all__ = ["TagTopics"]


class _TagTopicsFn(StageFn):
    stage = Stage.TAG

    def create(self) -> None:
        self._tagger = TopicTagger()
        self._tagged = beam.metrics.Metrics.counter(self.stage.value, "tagged")
        self._untagged = beam.metrics.Metrics.counter(self.stage.value, "untagged")

    def apply(self, article: Article) -> Article:
        topics = self._tagger.tag(article.title, article.body, article.language)
        (self._tagged if topics else self._untagged).inc()
        return article.model_copy(update={"topics": topics})


@beam.typehints.with_input_types(Article)
@beam.typehints.with_output_types(Article)
class TagTopics(beam.PTransform):
    """PCollection[Article] -> tagged outputs ``articles`` (topics set) and ``dead_letter``."""

    def expand(self, pcoll):
        return apply_stage(pcoll, _TagTopicsFn(), Stage.TAG.label)
