"""The stage functions applied in a plain Python loop, without Beam: the cost of the work.

The same pure cores the DoFns call (parse, clean + per-site chrome, language, dedup index,
tagger, routing, Avro encoding), in the same order, with the same glue. Each Kafka record
becomes the message the source emits (``connectors.kafka.reader.raw_message``: topic,
partition, offset, Kafka timestamp, key, headers), so the dedup index runs on the same
clock (``article_event_time``: Kafka time, else published) as ``newsbeam run``.
"""

from __future__ import annotations

import io
import time
from collections import Counter

import fastavro

import schemas
from connectors.kafka.reader import raw_message
from pipeline.boilerplate import SiteChromeLearner
from pipeline.clean import clean_article, site_of
from pipeline.dedup.streaming import apply_decision, article_event_time
from pipeline.language import LanguageDetector, with_language
from pipeline.parse import parse_message
from pipeline.similarity import DedupConfig, DedupIndex
from pipeline.taxonomy import TopicTagger
from schemas.failures import StageError
from schemas.routes import route_article

__all__ = ["run_plain_loop"]


def run_plain_loop(records: list) -> dict:
    """Process kafka-python ``ConsumerRecord``s in list order; return records, seconds,
    records/second and records per route."""
    # Built before the clock starts, as a DoFn builds them once per worker in setup().
    detector, tagger, index = LanguageDetector(), TopicTagger(), DedupIndex(DedupConfig())
    learners: dict[str, SiteChromeLearner] = {}
    schema = schemas.parsed_schema("article")
    routes: Counter[str] = Counter()
    started = time.perf_counter()
    for record in records:
        try:
            article = parse_message(raw_message(record))
            article = clean_article(article, learners.setdefault(site_of(article),
                                                                 SiteChromeLearner()))
        except StageError:
            routes["dead_letter"] += 1
            continue
        article = with_language(article, detector)
        article = apply_decision(article, index.observe(article, article_event_time(article)).decision)
        article = article.model_copy(update={"topics": tagger.tag(article.title, article.body,
                                                                  article.language)})
        for routed in route_article(article):
            fastavro.schemaless_writer(io.BytesIO(), schema, routed.record)
            routes[routed.route] += 1
    seconds = time.perf_counter() - started
    return {"records": len(records), "seconds": seconds, "rate": len(records) / seconds,
            "routes": dict(routes)}
