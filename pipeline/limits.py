"""Limits on the work one record may cost: size checks first, a time limit as the backstop.

newsbeam reads the open web, so one message can be a 7 MB page of a million tags, a
single 5 MB line, or text built to make a regular expression backtrack for hours. Two
mechanisms keep one such record from stalling a streaming job:

- **Bounded work** (``ArticleLimits``, ``check_article``, ``EnforceLimits``): cheap checks
  (lengths, a count of ``<``) that run before any stage and send a record over a limit to
  the dead-letter route with the reason (``BodyTooLong``, ``HtmlTooLarge``,
  ``TooManyTags``, ``FieldTooLong``) and the record itself, so nothing is dropped. The
  defaults are far above real articles (the largest long-reads are ~200k characters and
  ~10k tags) and well below what makes a stage slow (measured: cleaning ~65 µs per tag).
- **A time limit** (``TimeLimitedCall``) for a pure function that may still be slow on
  some input: the call runs in a child process and is killed past ``seconds``; the caller
  gets ``StageError("StageTimeout")``, which ``guard_stage`` turns into a dead letter.
  A thread cannot do this: CPython's ``re`` holds the GIL for a whole match, and
  ``signal.alarm`` only works in the main thread, where Beam's workers never run DoFns.
  Arguments and results cross the process boundary as JSON (never pickle).

Wiring: ``pipeline/graph.py`` applies ``EnforceLimits`` between parsing and cleaning with
the ``ArticleLimits`` of its ``StageSettings``; the app (``newsbeam.options``) declares
the flags (``--max-body-chars``, ``--max-html-chars``, ``--max-html-tags``,
``--max-field-chars``) and builds the limits from them. The cleaning stage
(``pipeline.clean``) runs its HTML extraction through a ``TimeLimitedCall`` when
``StageSettings.html_time_limit_seconds`` (``--html-time-limit-seconds``) is above 0; the
default, 0, leaves it off.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from pipeline.stage import StageFn, apply_stage
from pipeline.time_limit_child import resolve, serve
from schemas.failures import Stage, StageError
from schemas.models import Article

__all__ = [
    "DEFAULT_LIMITS",
    "ArticleLimits",
    "EnforceLimits",
    "TimeLimitedCall",
    "check_article",
]

_STARTUP_SECONDS = 120.0  # a child imports its modules before the first timed call


@dataclass(frozen=True)
class ArticleLimits:
    """How much of one article the stages agree to process (0 disables a check)."""

    max_body_chars: int = 1_000_000
    max_html_chars: int = 5_000_000
    max_html_tags: int = 50_000
    max_field_chars: int = 10_000  # url, title, id, source, language

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 0:
                raise ValueError(f"ArticleLimits.{name} must be >= 0 (0 disables it), got {value}")


DEFAULT_LIMITS = ArticleLimits()

def check_article(article: Article, limits: ArticleLimits = DEFAULT_LIMITS) -> Article:
    """``article`` unchanged, or ``StageError`` naming the limit it exceeds. Linear time."""
    for name in ("url", "title", "id", "source", "language"):
        value = getattr(article, name) or ""
        if limits.max_field_chars and len(value) > limits.max_field_chars:
            raise StageError("FieldTooLong", f"{name} has {len(value)} characters, over the "
                             f"limit of {limits.max_field_chars}")
    if limits.max_body_chars and len(article.body) > limits.max_body_chars:
        raise StageError("BodyTooLong", f"body has {len(article.body)} characters, over the "
                         f"limit of {limits.max_body_chars}")
    html = article.html or ""
    if limits.max_html_chars and len(html) > limits.max_html_chars:
        raise StageError("HtmlTooLarge", f"html has {len(html)} characters, over the limit "
                         f"of {limits.max_html_chars}")
    if limits.max_html_tags:
        tags = html.count("<")  # an upper bound of the tag count, in one pass
        if tags > limits.max_html_tags:
            raise StageError("TooManyTags", f"html has about {tags} tags, over the limit "
                             f"of {limits.max_html_tags}")
    return article


class _EnforceLimitsFn(StageFn):
    stage = Stage.LIMITS

    def __init__(self, limits: ArticleLimits) -> None:
        self._limits = limits

    def apply(self, article: Article) -> Article:
        return check_article(article, self._limits)


@beam.typehints.with_input_types(Article)
@beam.typehints.with_output_types(Article)
class EnforceLimits(beam.PTransform):
    """Articles within the limits (``ARTICLES``) and the rest as dead letters."""

    def __init__(self, limits: ArticleLimits = DEFAULT_LIMITS) -> None:
        super().__init__()
        self._limits = limits

    def expand(self, articles: beam.PCollection) -> pvalue.DoOutputsTuple:
        return apply_stage(articles, _EnforceLimitsFn(self._limits), Stage.LIMITS.label)


# ---------------------------------------------------------------------------- time limit

class TimeLimitedCall:
    """Call ``target`` (``"package.module:function"``, JSON in and out) with a time limit.

    The function runs in a long-lived child process (spawned on first use, so it works in
    any thread of a Beam worker); past ``seconds`` the child is killed, a new one starts on
    the next call, and ``StageError("StageTimeout")`` is raised. An exception in the
    function comes back as ``StageError`` with the original class name. Create one per
    DoFn in ``setup()`` and ``close()`` it in ``teardown()``; calls are serialised.
    """

    def __init__(self, target: str, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError("the time limit must be positive")
        resolve(target)  # fail where it is configured, not on the first record
        self.target = target
        self.seconds = seconds
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._connection: Any = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        self._process = self._context.Process(target=serve, args=(self.target, child),
                                              daemon=True, name="newsbeam-time-limited")
        self._process.start()
        child.close()
        self._connection = parent
        try:
            ready = parent.poll(_STARTUP_SECONDS) and parent.recv_bytes() == b"ready"
        except EOFError:  # the child died while starting (e.g. its target failed to import)
            ready = False
        if not ready:
            self._kill()
            raise StageError("StageCrashed", f"the process for {self.target} did not start")

    def __call__(self, *args: Any) -> Any:
        request = json.dumps(list(args)).encode()
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start()
            self._connection.send_bytes(request)
            if not self._connection.poll(self.seconds):
                self._kill()
                raise StageError("StageTimeout", f"{self.target} took longer than "
                                 f"{self.seconds:g} s; the record was set aside")
            try:
                reply = json.loads(self._connection.recv_bytes())
            except EOFError:
                self._kill()
                raise StageError("StageCrashed", f"{self.target} ended its process") from None
        if "error" in reply:
            raise StageError(reply["error"], reply["message"])
        return reply["ok"]

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=5)
        if self._connection is not None:
            self._connection.close()
        self._process = self._connection = None

    def close(self) -> None:
        with self._lock:
            self._kill()

    def __getstate__(self) -> dict[str, Any]:  # DoFns are pickled: ship the config only
        return {"target": self.target, "seconds": self.seconds}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["target"], state["seconds"])
