"""HTML mode: main-content extraction with trafilatura, plus the page's metadata.

Why trafilatura: it is the best-kept open extractor (F1 ~0.91 on its own benchmark,
~0.96 on Scrapinghub's) and reads title, author, date and canonical URL from the page.
Its output still carries some chrome (share rows, "read more" lists, captions), which
``clean_text(mode="extracted")`` removes afterwards. Captions are read from
``<figcaption>`` before trafilatura prunes the tree.

Speed: trafilatura's cascade compares its own extraction with readability's on every
page (and jusText's on some), which costs about a third of its time and changes the
result on few pages. Here its main extractor runs alone (``fast=True``), and the
result's share of the page's visible text says when it needs more:
- little (below ``ESCALATE_BELOW``, and shorter than ``ESCALATE_MAX_CHARS``): the main
  extractor may have found a fragment (a teaser, a caption), and trafilatura's whole
  cascade runs on the page. Both limits are trafilatura's own for its recall retry
  (``ESCALATION_PAGE_SHARE``, ``ESCALATION_MAX_LENGTH``), not tuned here;
- nearly all of it (above ``WHOLE_PAGE``): it took the page whole, navigation and all,
  so the result is cleaned as scraped text (``whole_page``), by the stricter text-mode
  line classifier. On the dev pages this beat the cascade's pick (readability's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import htmldate
import lxml.html
import trafilatura
from lxml import etree

from pipeline.boilerplate.features import normalise_line

__all__ = ["HtmlExtraction", "extract_html", "page_text"]

_MAX_CAPTION = 400
_DATE_PARAMS = {"original_date": True, "extensive_search": False}
_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
    "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul", "title",
    "button", "option", "select", "summary", "details"})
_INVISIBLE = "//script | //style | //noscript | //template | //head | //svg | //iframe"
_HIDDEN_TAGS = ("script", "style", "noscript", "template")
# Shares of the page's visible text (non-space characters): see the module docstring.
ESCALATE_BELOW = 0.2
ESCALATE_MAX_CHARS = 3000
WHOLE_PAGE = 0.95


@dataclass(frozen=True)
class HtmlExtraction:
    """What the page yields: main text (one paragraph per line) and metadata."""

    text: str
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    canonical_url: str | None = None
    captions: tuple[str, ...] = ()
    # the extractor kept nearly all of the page's text: chrome and all, like scraped text
    whole_page: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON object that ``from_json`` turns back into an equal extraction."""
        return {"text": self.text, "title": self.title, "author": self.author,
                "published_at": self.published_at.isoformat() if self.published_at else None,
                "canonical_url": self.canonical_url, "captions": list(self.captions),
                "whole_page": self.whole_page}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HtmlExtraction:
        published = data["published_at"]
        return cls(text=data["text"], title=data["title"], author=data["author"],
                   published_at=datetime.fromisoformat(published) if published else None,
                   canonical_url=data["canonical_url"], captions=tuple(data["captions"]),
                   whole_page=data["whole_page"])


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _canonical(tree: lxml.html.HtmlElement) -> str | None:
    for xpath in ('//link[@rel="canonical"]/@href', '//meta[@property="og:url"]/@content'):
        found = [v.strip() for v in tree.xpath(xpath) if v and v.strip().startswith("http")]
        if found:
            return found[0]
    return None


def _meta_published(tree: lxml.html.HtmlElement) -> datetime | None:
    """The page's full publication timestamp (trafilatura keeps only the day)."""
    for value in tree.xpath('//meta[@property="article:published_time"]/@content'
                            ' | //meta[@itemprop="datePublished"]/@content'):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _figcaptions(tree: lxml.html.HtmlElement) -> tuple[str, ...]:
    captions: list[str] = []
    for node in tree.xpath("//figure//figcaption | //*[contains(@class, 'caption')]"):
        text = normalise_line(node.text_content())
        if 3 <= len(text) <= _MAX_CAPTION and text not in captions:
            captions.append(text)
    return tuple(captions)


_NOT_NAMES = re.compile(
    r"\b(publicado|published|posted|veröffentlicht|publié|publicerad|publisert|redaktion|"
    r"newsroom|news|nachrichten|noticias|notícias|actualités|nyheter|staff|admin)\b", re.I)


def _plausible_author(author: str | None, site_name: str | None) -> str | None:
    """The page's author, unless it is the site's own name or a template fragment.

    A wrong author is worse than none: downstream users group and search by it.
    """
    if not author:
        return None
    name = normalise_line(author).rstrip(".,;:")
    if (len(name.split()) > 8 or any(c.isdigit() for c in name) or _NOT_NAMES.search(name)
            or (site_name and name.casefold() == normalise_line(site_name).casefold())):
        return None
    return name or None


# As trafilatura parses: comments and processing instructions are never text, and
# dropping them at parse time spares every later pass over the tree. Every element is
# a plain ``HtmlElement``: lxml.html's default lookup picks a class per tag in Python
# each time an element is touched (about 2,000 calls per page in trafilatura), and the
# form and input classes it picks add nothing for text extraction.
_PARSER = lxml.html.HTMLParser(collect_ids=False, default_doctype=False, remove_comments=True,
                               remove_pis=True)
_PARSER.set_element_class_lookup(etree.ElementDefaultClassLookup(element=lxml.html.HtmlElement))


def _load(html: str) -> lxml.html.HtmlElement | None:
    # lxml refuses str input carrying an XML encoding declaration.
    cleaned = re.sub(r"^\s*<\?xml[^>]*\?>", "", html)
    try:
        return lxml.html.document_fromstring(cleaned, parser=_PARSER)
    except (etree.ParserError, ValueError):
        return None


def _non_space(text: str) -> int:
    return len("".join(text.split()))


def _visible_chars(tree: lxml.html.HtmlElement) -> int:
    """Non-space characters of the page's text outside scripts and styles (cheap: C-level
    ``text_content``, hidden elements subtracted)."""
    body = tree.find("body")
    root = body if body is not None else tree
    hidden = sum(_non_space(node.text_content()) for node in root.iter(*_HIDDEN_TAGS))
    return _non_space(root.text_content()) - hidden


def _trafilatura(tree: lxml.html.HtmlElement, url: str | None, metadata: bool, *,
                 fast: bool) -> Any:
    # Dates: the page's markup first; htmldate's extensive free-text search (dateparser)
    # costs about as much as the extraction, so it runs only for pages without one.
    return trafilatura.bare_extraction(
        tree, url=url, with_metadata=metadata, include_comments=False, include_tables=True,
        deduplicate=False, date_extraction_params=_DATE_PARAMS, fast=fast)


def extract_html(html: str, url: str | None = None, *, metadata: bool = True,
                 ) -> HtmlExtraction:
    """Main text and (if ``metadata``) the page's metadata; empty text if no article.

    Metadata costs about a third of the extraction time: callers whose record already
    has title, author, date and canonical URL pass ``metadata=False``.
    """
    tree = _load(html)
    if tree is None:
        return HtmlExtraction(text="")
    captions = _figcaptions(tree)
    canonical = _canonical(tree) if metadata else None
    published = _meta_published(tree) if metadata else None
    visible = _visible_chars(tree)
    doc = _trafilatura(tree, url, metadata, fast=True)
    fast_text = doc.text or "" if doc else ""
    if (_non_space(fast_text) < ESCALATE_BELOW * visible
            and len(fast_text) < ESCALATE_MAX_CHARS):
        # trafilatura prunes the tree it is given: the full cascade reads a fresh parse
        fresh = _load(html)
        doc = _trafilatura(fresh, url, metadata, fast=False) if fresh is not None else doc
    if doc is None:
        return HtmlExtraction(text="", canonical_url=canonical, captions=captions)
    text = doc.text or ""
    if metadata and published is None and not doc.date:
        found = htmldate.find_date(html, extensive_search=True, original_date=True, url=url)
        published = _parse_date(found)
    return HtmlExtraction(
        text=text,
        title=normalise_line(doc.title) if metadata and doc.title else None,
        author=_plausible_author(doc.author, doc.sitename) if metadata else None,
        published_at=published or (_parse_date(doc.date) if metadata else None),
        canonical_url=canonical or (doc.url if metadata and doc.url and doc.url != url
                                    else None),
        captions=captions,
        whole_page=_non_space(text) > WHOLE_PAGE * visible,
    )


def page_text(html: str) -> str:
    """Every visible text of the page, one block element per line: text-mode input.

    Used when trafilatura finds no main content: the line classifier then reads the
    whole page the way it reads scraped text.
    """
    tree = _load(html)
    if tree is None:
        return ""
    for node in tree.xpath(_INVISIBLE):
        node.drop_tree()
    parts: list[str] = []

    def walk(node: lxml.html.HtmlElement) -> None:
        block = isinstance(node.tag, str) and node.tag in _BLOCK_TAGS
        if block:
            parts.append("\n")
        if isinstance(node.tag, str) and node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if block:
            parts.append("\n")

    walk(tree)
    return "\n".join(normalise_line(line) for line in "".join(parts).splitlines()
                     if line.strip())

