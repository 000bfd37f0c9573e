"""Topic tagging stage: sets ``article.topics`` from the taxonomy in ``pipeline/taxonomy``.

Thin Beam wrapper around ``pipeline.taxonomy.TopicTagger``; the tagger (taxonomy files
and Aho–Corasick automata) is built once per worker in ``setup()``.
"""

from __future__ import annotations

import apache_beam as beam

from pipeline.dead_letters import ARTICLES, DEAD_LETTER, guard_stage
from pipeline.models import Article
from pipeline.taxonomy import TopicTagger

__all__ = ["TagTopics"]


class _TagTopicsFn(beam.DoFn):
    STAGE = "TagTopics"

    def setup(self) -> None:
        self._tagger = TopicTagger()
        self._tagged = beam.metrics.Metrics.counter(self.STAGE, "tagged")
        self._untagged = beam.metrics.Metrics.counter(self.STAGE, "untagged")

    def process(self, article: Article):
        yield from guard_stage(self.STAGE, article, self._tag)

    def _tag(self, article: Article) -> Article:
        topics = self._tagger.tag(article.title, article.body, article.language)
        (self._tagged if topics else self._untagged).inc()
        return article.model_copy(update={"topics": topics})


@beam.typehints.with_input_types(Article)
@beam.typehints.with_output_types(Article)
class TagTopics(beam.PTransform):
    """PCollection[Article] -> tagged outputs ``articles`` (topics set) and ``dead_letter``."""

    def expand(self, pcoll):
        return pcoll | "TagTopics" >> beam.ParDo(_TagTopicsFn()).with_outputs(
            DEAD_LETTER, main=ARTICLES)
