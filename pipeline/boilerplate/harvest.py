"""Harvest before deleting: a chrome line can still carry data users want.

``Kilde: <url>`` / ``Source: <url>`` / ``Nguồn: <url>`` names the article's origin (useful
to dedup and to readers), and photo captions describe the story. Both are taken out of
the body, then kept on the record as ``source_url`` and ``captions``.
"""

from __future__ import annotations

import re

from pipeline.boilerplate.rules import Rules

__all__ = ["clean_caption", "source_url_of"]

_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_BARE_DOMAIN = re.compile(r"^(?:www\.)?[\w-]+(?:\.[\w-]+)+(?:/\S*)?$", re.IGNORECASE)


def source_url_of(line: str, rules: Rules) -> tuple[bool, str | None]:
    """Whether ``line`` is a source line, and the URL it names (if any).

    A source line starts with a known prefix (``Kilde:``, ``Source:`` …) and is short;
    ``Via:`` counts only with a URL, since "via" also opens ordinary sentences.
    """
    match = rules.source_prefix.match(line)
    if match is None or len(line) > 300:
        return False, None
    rest = match.group(1).strip()
    url = _URL.search(rest)
    if url:
        return True, url.group(0).rstrip(".,;")
    if line.lower().startswith("via"):
        return False, None
    if _BARE_DOMAIN.match(rest):
        return True, "https://" + rest.rstrip(".,;")
    # "Source: Reuters" is an attribution line: chrome, but no URL to keep.
    return len(rest.split()) <= 6, None


def clean_caption(line: str) -> str:
    """A caption as users should read it: no table-cell pipes, no image markup."""
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", line)
    return text.strip().strip("|").strip()
