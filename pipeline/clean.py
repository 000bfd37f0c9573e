"""The cleaning stage: strip boilerplate from each article (issue 4).

A thin Beam wrapper around ``pipeline.boilerplate``. Articles are keyed by site and go
through one stateful DoFn, which keeps each site's recurring-line learner in bounded
per-key state (a window of recent articles, evicted lazily as new ones arrive: no
timers, so it runs on runners without processing-time timers). A keyed ``Map``
followed by a stateful ``ParDo`` fuses into one stage: no GroupByKey, so it streams.

Output: ``ParDo(...).with_outputs(DEAD_LETTER, main=ARTICLES)``. Main: the cleaned
``Article`` (body = kept paragraphs joined by a blank line, ``captions``,
``source_url``, ``boilerplate`` stats; title, author, published_at and canonical_url
filled from the page when missing; ``html`` dropped).

Learned chrome never empties an article nor removes most of its text: the cleaner
then keeps those lines and sets ``boilerplate.learned_chrome_overruled`` (counted as
``clean/learned_chrome_overruled``); and the learner counts a line once per distinct
story, so a republished story reaches dedup with the first copy's body (issue 20).

An article with nothing left after cleaning goes to the dead-letter output with
``error_class="EmptyAfterCleaning"``: an empty body would only pollute language
detection, dedup and tagging downstream, while the dead letter keeps the raw input
for anyone to inspect, fix the rules, and re-publish it. Nothing is dropped.

HTML time limit (``html_time_limit_seconds``, flag ``--html-time-limit-seconds``; 0, the
default, is off): each DoFn instance starts one ``pipeline.limits.TimeLimitedCall`` in
``setup()`` and extracts every article with ``html`` in its child process
(``extract_content_json``); a page still being extracted after that many seconds is a
``StageTimeout`` dead letter (a crashed child: ``StageCrashed``; an exception in the
extraction: its class, as without the limit). The child costs memory and 4-9 % of
cleaning throughput (docs/RELIABILITY.md); with 0 no child is started and extraction
runs in the DoFn as before.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.coders import BytesCoder
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from pipeline.boilerplate import (
    EXTRACT_CONTENT_TARGET,
    CleanedDocument,
    Content,
    Rules,
    SiteChromeLearner,
    clean_content,
    extract_content,
    load_rules,
)
from pipeline.limits import TimeLimitedCall
from pipeline.stage import ARTICLES, DEAD_LETTER, guard_stage
from schemas.failures import Stage, StageError
from schemas.models import Article

__all__ = ["CleanArticles", "apply_cleaning", "clean_article", "site_of"]

_TOKEN_BYTES = 16
_CACHE_SITES = 512

Extract = Callable[..., Content]  # extract_content's signature


def site_of(article: Article) -> str:
    """The key per-site chrome is learned under: the source, else the URL's host."""
    if article.source and article.source.strip():
        return article.source.strip().lower()
    host = (urlsplit(article.url).hostname or "").lower()
    return host.removeprefix("www.") or "unknown"


def apply_cleaning(article: Article, doc: CleanedDocument) -> Article:
    """The cleaned record: ``doc``'s results merged into ``article`` (a new copy).

    The headline found in the text replaces a missing title, or one that the cleaner
    removed as chrome (a site banner the producer mistook for the headline).
    """
    if not doc.body.strip():
        raise StageError("EmptyAfterCleaning",
                         f"no article text left after removing {doc.stats.lines_removed} "
                         f"boilerplate lines ({doc.stats.reasons})")
    title = article.title or doc.title or doc.headline or ""
    removed_as_chrome = {d.text.casefold() for d in doc.cleaning.removed if d.reason != "title"}
    if doc.headline and title.casefold() in removed_as_chrome:
        title = doc.headline
    return article.model_copy(update={
        "body": doc.body,
        "title": title,
        "captions": list(doc.captions),
        "source_url": article.source_url or doc.source_url,
        "author": article.author or doc.author,
        "published_at": article.published_at or doc.published_at,
        "canonical_url": _canonical(article, doc),
        "boilerplate": doc.stats,
        "html": None,
    })


def _needs_metadata(article: Article) -> bool:
    """Whether the page's metadata could fill anything the record lacks."""
    return not (article.title and article.author and article.published_at
                and article.canonical_url and article.canonical_url != article.url)


def _canonical(article: Article, doc: CleanedDocument) -> str:
    if doc.canonical_url and (not article.canonical_url or article.canonical_url == article.url):
        return doc.canonical_url
    return article.canonical_url or article.url


def clean_article(article: Article, learner: SiteChromeLearner,
                  rules: Rules | None = None, *, extract: Extract = extract_content) -> Article:
    """The cleaned article; ``learner`` (its site's) sees the article's lines first.

    The DoFn and the benchmark's plain loop both call this, so they do the same work.
    ``extract``: ``extract_content``, or the DoFn's time-limited call of it.
    """
    content = extract(article.body, article.html, article.url,
                      metadata=_needs_metadata(article))
    chrome = learner.observe(content.lines, at=article.processed_at.timestamp())
    doc = clean_content(content, title=article.title or None, site_chrome=chrome, rules=rules)
    return apply_cleaning(article, doc)


class _CleanArticlesFn(beam.DoFn):
    """Clean one (site, article); the site's learner lives in per-key state."""

    LEARNER = ReadModifyWriteStateSpec("site_chrome", BytesCoder())

    def __init__(self, window: int, min_articles: int, min_share: float, max_lines: int,
                 max_age_s: float, html_time_limit_s: float = 0.0):
        self._config = (window, min_articles, min_share, max_lines, max_age_s)
        self._html_time_limit_s = html_time_limit_s
        self._extract_call: TimeLimitedCall | None = None
        self._rules: Rules | None = None
        self._cache: OrderedDict[str, tuple[bytes, SiteChromeLearner]] = OrderedDict()
        self._generation = 0

    def setup(self) -> None:
        self._rules = load_rules()
        self._token = os.urandom(_TOKEN_BYTES)
        self._cache = OrderedDict()
        if self._html_time_limit_s > 0:
            self._extract_call = TimeLimitedCall(EXTRACT_CONTENT_TARGET, self._html_time_limit_s)

    def teardown(self) -> None:
        if self._extract_call is not None:
            self._extract_call.close()
            self._extract_call = None

    def _extract_in_child(self, body: str | None, html: str | None, url: str | None, *,
                          metadata: bool) -> Content:
        """``extract_content`` in the time-limited child (raises ``StageError``)."""
        return Content.from_json(self._extract_call(body, html, url, metadata))

    def _learner(self, site: str, stored: bytes | None) -> SiteChromeLearner:
        # The state value is (writer token + generation) + payload: if this instance
        # wrote it, reuse the live learner instead of decoding it again.
        if stored:
            stamp, payload = stored[:_TOKEN_BYTES + 8], stored[_TOKEN_BYTES + 8:]
            cached = self._cache.get(site)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            return SiteChromeLearner.from_bytes(payload)
        return SiteChromeLearner(*self._config)

    def _store(self, site: str, learner: SiteChromeLearner, state) -> None:
        self._generation += 1
        stamp = self._token + self._generation.to_bytes(8, "little")
        state.write(stamp + learner.to_bytes())
        self._cache[site] = (stamp, learner)
        self._cache.move_to_end(site)
        while len(self._cache) > _CACHE_SITES:
            self._cache.popitem(last=False)

    def process(self, element: tuple[str, Article],
                learner_state=beam.DoFn.StateParam(LEARNER),  # noqa: B008 - Beam idiom
                ) -> Iterator[Article | pvalue.TaggedOutput]:
        site, article = element
        learned: list[SiteChromeLearner] = []

        def compute(a: Article) -> Article:
            learner = self._learner(site, learner_state.read())
            learned.append(learner)
            limited = self._extract_call is not None and bool(a.html)
            return clean_article(a, learner, self._rules,
                                 extract=self._extract_in_child if limited else extract_content)

        for out in guard_stage(Stage.CLEAN, article, compute):
            if isinstance(out, Article):
                beam.metrics.Metrics.counter(Stage.CLEAN.value, "articles").inc()
                beam.metrics.Metrics.counter(Stage.CLEAN.value, "lines_removed").inc(
                    out.boilerplate.lines_removed)
                if out.boilerplate.learned_chrome_overruled:
                    beam.metrics.Metrics.counter(
                        Stage.CLEAN.value, "learned_chrome_overruled").inc()
            yield out
        if learned:  # the article was seen (even if it ended as a dead letter)
            self._store(site, learned[0], learner_state)


@beam.typehints.with_input_types(Article)
class CleanArticles(beam.PTransform):
    """Strip boilerplate from articles; returns a DoOutputsTuple (ARTICLES, DEAD_LETTER).

    ``site_window`` recent articles per site are remembered (bounded state), none older
    than ``site_max_age_days`` (by processing time, evicted lazily); a line is learned
    chrome when it recurs in at least ``min_articles`` of them and in at least
    ``min_share`` of the window. ``html_time_limit_seconds`` > 0: extract each page in a
    child process and dead-letter it as ``StageTimeout`` past that many seconds (0: off).
    """

    def __init__(self, site_window: int = 200, min_articles: int = 3,
                 min_share: float = 0.02, max_lines_per_article: int = 300,
                 site_max_age_days: float = 30.0, label: str | None = None, *,
                 html_time_limit_seconds: float = 0.0) -> None:
        super().__init__(label)
        if site_window < 1 or max_lines_per_article < 1:
            raise ValueError("CleanArticles needs site_window >= 1 and "
                             "max_lines_per_article >= 1: per-site state must be bounded")
        if min_articles < 2 or not 0.0 <= min_share <= 1.0 or site_max_age_days <= 0:
            raise ValueError("CleanArticles needs min_articles >= 2, 0 <= min_share <= 1 "
                             "and site_max_age_days > 0")
        if not 0 <= html_time_limit_seconds < float("inf"):  # also refuses NaN
            raise ValueError("CleanArticles needs a finite html_time_limit_seconds >= 0 (0: off), "
                             f"got {html_time_limit_seconds}")
        self._args = (site_window, min_articles, min_share, max_lines_per_article,
                      site_max_age_days * 86400.0, html_time_limit_seconds)

    def expand(self, articles):
        return (
            articles
            | "KeyBySite" >> beam.Map(lambda a: (site_of(a), a)).with_output_types(
                beam.typehints.Tuple[str, Article])
            | "CleanWithSiteChrome" >> beam.ParDo(_CleanArticlesFn(*self._args)).with_outputs(
                DEAD_LETTER, main=ARTICLES)
        )
