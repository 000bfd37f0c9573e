"""Boilerplate removal, the pure core of the cleaning stage (no Beam import).

``clean_text`` cleans scraped text line by line, ``extract_html`` cuts the main content
out of a page (trafilatura) and cleans it the same way, ``SiteChromeLearner`` learns
each site's own recurring chrome. ``pipeline.clean`` wraps them for Beam.
"""

from pipeline.boilerplate.document import (
    EXTRACT_CONTENT_TARGET,
    CleanedDocument,
    Content,
    clean_content,
    clean_document,
    extract_content,
    extract_content_json,
)
from pipeline.boilerplate.html import HtmlExtraction, extract_html
from pipeline.boilerplate.rules import Rules, load_rules
from pipeline.boilerplate.site_chrome import SiteChromeLearner, line_key
from pipeline.boilerplate.text import LineDecision, TextCleaning, clean_text

__all__ = [
    "EXTRACT_CONTENT_TARGET",
    "CleanedDocument",
    "Content",
    "HtmlExtraction",
    "LineDecision",
    "Rules",
    "SiteChromeLearner",
    "TextCleaning",
    "clean_content",
    "clean_document",
    "clean_text",
    "extract_content",
    "extract_content_json",
    "extract_html",
    "line_key",
    "load_rules",
]
