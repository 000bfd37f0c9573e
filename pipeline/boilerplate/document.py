"""One document through the cleaning core: pick the input, extract, clean, harvest.

Split in two steps so the per-site learner can see a document's lines between them:
``extract_content`` turns raw HTML (or scraped text) into lines, ``clean_content``
decides each line, knowing which lines the site repeats everywhere.

``extract_content_json`` (``EXTRACT_CONTENT_TARGET``) is ``extract_content`` with JSON in
and out, for the cleaning stage to run in a child process under a time limit
(``--html-time-limit-seconds``); ``Content.from_json`` turns its result back into the
same ``Content``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.boilerplate.html import HtmlExtraction, extract_html, page_text
from pipeline.boilerplate.rules import Rules
from pipeline.boilerplate.text import Mode, TextCleaning, clean_text
from schemas.models import BoilerplateStats

__all__ = ["EXTRACT_CONTENT_TARGET", "CleanedDocument", "Content", "clean_content",
           "clean_document", "extract_content", "extract_content_json"]


@dataclass(frozen=True)
class Content:
    """Text to clean, how it was obtained, and the page's metadata (HTML only)."""

    text: str
    mode: Mode
    page: HtmlExtraction | None = None

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def to_json(self) -> dict[str, Any]:
        """A JSON object that ``from_json`` turns back into an equal ``Content``."""
        return {"text": self.text, "mode": self.mode,
                "page": self.page.to_json() if self.page else None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Content:
        page = data["page"]
        return cls(text=data["text"], mode=data["mode"],
                   page=HtmlExtraction.from_json(page) if page else None)


@dataclass(frozen=True)
class CleanedDocument:
    body: str
    captions: tuple[str, ...]
    source_url: str | None
    stats: BoilerplateStats
    headline: str | None
    title: str | None
    author: str | None
    published_at: datetime | None
    canonical_url: str | None
    cleaning: TextCleaning


_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def extract_content(body: str | None, html: str | None, url: str | None = None, *,
                    metadata: bool = True) -> Content:
    """The text to clean: the page's main content if there is HTML, else the body.

    When a page yields no main content, the message's body is used if it has one (a
    broken page never loses text a scraper already extracted), else the whole page's
    text, cleaned line by line.
    """
    if html and html.strip():
        # Control characters are not text; HTML parsers turn NUL into U+FFFD, which
        # would add a character the page never showed.
        html = _CONTROL_CHARS.sub("", html)
        page = extract_html(html, url=url, metadata=metadata)
        if page.text.strip():
            return Content(text=page.text, mode="text" if page.whole_page else "extracted",
                           page=page)
        if body and body.strip():
            return Content(text=body, mode="text", page=page)
        # No main content found: let the line classifier read the whole page.
        return Content(text=page_text(html), mode="text", page=page)
    return Content(text=body or "", mode="text")


EXTRACT_CONTENT_TARGET = "pipeline.boilerplate.document:extract_content_json"


def extract_content_json(body: str | None, html: str | None, url: str | None,
                         metadata: bool) -> dict[str, Any]:
    """``extract_content`` with JSON arguments and result (``Content.to_json``).

    What ``pipeline.limits.TimeLimitedCall`` runs in its child process when the cleaning
    stage has an HTML time limit: positional arguments, importable by that child.
    """
    return extract_content(body, html, url, metadata=metadata).to_json()


def clean_content(content: Content, *, title: str | None = None,
                  site_chrome: Collection[int] = (), rules: Rules | None = None,
                  ) -> CleanedDocument:
    """Clean ``content``'s lines and merge what the page and the text yield."""
    page = content.page
    known_title = title or (page.title if page else None)
    cleaning = clean_text(content.text, title=known_title, site_chrome=site_chrome,
                          rules=rules, mode=content.mode)
    captions = list(page.captions if page else ())
    for caption in cleaning.captions:
        if caption not in captions:
            captions.append(caption)
    return CleanedDocument(
        body=cleaning.body,
        captions=tuple(captions),
        source_url=cleaning.source_url,
        stats=cleaning.stats(),
        headline=cleaning.headline,
        title=page.title if page else None,
        author=page.author if page else None,
        published_at=page.published_at if page else None,
        canonical_url=page.canonical_url if page else None,
        cleaning=cleaning,
    )


def clean_document(body: str | None = None, html: str | None = None, *,
                   url: str | None = None, title: str | None = None,
                   site_chrome: Collection[int] = (), rules: Rules | None = None,
                   ) -> CleanedDocument:
    """``extract_content`` then ``clean_content``: one call for callers without a learner."""
    return clean_content(extract_content(body, html, url), title=title,
                         site_chrome=site_chrome, rules=rules)
