"""Articles from files: JSON Lines (optionally gzipped), plain text/markdown and HTML pages.

Used by ``newsbeam produce`` (publish files to a topic) and ``newsbeam process`` (run the
stages over files in batch). JSON Lines are passed through byte for byte, so a bad line
reaches the dead-letter route exactly as it was; text and HTML files become one JSON
article each.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from schemas.models import Provenance, ProvenanceKind, RawMessage

__all__ = [
    "ReadArticleFiles",
    "article_from_html",
    "article_from_text",
    "expand_paths",
    "iter_file_values",
]

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".json", ".jsonl.gzip")

_IMAGE_MARKUP = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_SITE_BANNER = re.compile(r"^(?P<site>[\w-]+(?:\.[\w-]+)*\.[a-z]{2,})\s+[-–|:]\s+\S", re.IGNORECASE)
_MENU_SEPARATORS = re.compile(r"\s(?:[|›»>/•·]|&gt;)\s")
_CANONICAL = re.compile(
    r"""<link\b[^>]*\brel=["']?canonical["']?[^>]*\bhref=["']([^"'>]+)["']"""
    r"""|<meta\b[^>]*\bproperty=["']og:url["'][^>]*\bcontent=["']([^"'>]+)["']""",
    re.IGNORECASE)


def _title_candidate(line: str) -> str:
    return _IMAGE_MARKUP.sub("", line).strip().strip("|").strip()


def _looks_like_headline(line: str, candidate: str) -> bool:
    return (len(candidate) <= 200 and len(candidate.split()) <= 25
            and not candidate.endswith((".", "!", ";", ","))
            and not line.rstrip().endswith("|"))


def article_from_text(text: str, name: str) -> dict[str, object]:
    """A scraped text file -> article: first meaningful line is the title, the rest the body.

    A first line that is a site banner (``example.com - tagline``) names the source and is
    not taken as the title, nor is a menu or breadcrumb line. A first line that reads like
    body text (long, or ending in a full stop, or an image-table caption ending in ``|``)
    means the file has no title. The body is always the whole text: the cleaning stage
    cuts the headline (and corrects a title taken from chrome) with its line classifier.
    """
    lines = text.splitlines()
    source = None
    title = ""
    for line in lines:
        candidate = _title_candidate(line)
        if not any(ch.isalpha() for ch in candidate):
            continue
        banner = _SITE_BANNER.match(candidate)
        if banner and source is None:
            source = banner.group("site").lower()
            continue
        if len(_MENU_SEPARATORS.findall(candidate)) >= 2:
            continue
        if _looks_like_headline(line, candidate):
            title = candidate
        break
    article: dict[str, object] = {
        "url": f"file:{name}",
        "title": title or None,
        "body": text.strip("\n"),
    }
    if source:
        article["source"] = source
    return article


def article_from_html(html: str, name: str) -> dict[str, object]:
    """An HTML page -> article; its canonical link (or og:url) becomes the URL when present."""
    match = _CANONICAL.search(html)
    url = next((g for g in match.groups() if g), None) if match else None
    return {"url": url or f"file:{name}", "html": html}


def _read_bytes(path: str) -> bytes:
    """The file's bytes; Beam decompresses ``.gz`` itself, ``.gzip`` is done here."""
    with FileSystems.open(path) as handle:
        data = handle.read()
    if path.lower().endswith((".gz", ".gzip")) and data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def iter_file_values(path: str) -> Iterator[tuple[int, bytes]]:
    """``(record number, message value)`` pairs from one input file."""
    lowered = path.lower()
    data = _read_bytes(path)
    name = Path(path).name
    if lowered.endswith(JSONL_SUFFIXES):
        for number, line in enumerate(data.split(b"\n"), start=1):
            if line.strip():
                yield number, line.rstrip(b"\r")
    elif lowered.endswith(TEXT_SUFFIXES):
        text = data.decode("utf-8", errors="replace")
        yield 1, json.dumps(article_from_text(text, name), ensure_ascii=False).encode()
    elif lowered.endswith(HTML_SUFFIXES):
        html = data.decode("utf-8", errors="replace")
        yield 1, json.dumps(article_from_html(html, name), ensure_ascii=False).encode()
    else:
        raise ValueError(f"{path}: unsupported input file type; expected one of "
                         f"{JSONL_SUFFIXES + TEXT_SUFFIXES + HTML_SUFFIXES}")


def expand_paths(inputs: list[str]) -> list[str]:
    """Files and directories (searched one level deep, sorted) -> input files."""
    supported = JSONL_SUFFIXES + TEXT_SUFFIXES + HTML_SUFFIXES
    paths: list[str] = []
    for item in inputs:
        local = Path(item)
        if local.is_dir():
            paths.extend(str(p) for p in sorted(local.iterdir())
                         if p.is_file() and p.name.lower().endswith(supported))
        else:
            paths.append(item)
    return paths


def _read_file(path: str) -> Iterator[RawMessage]:
    for number, value in iter_file_values(path):
        yield RawMessage(value=value, provenance=Provenance(
            kind=ProvenanceKind.FILE, file=path, line=number))


class ReadArticleFiles(beam.PTransform):
    """Input files -> ``RawMessage``s with file/line provenance, spread over workers."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        if not paths:
            raise ValueError("no input files given")
        self._paths = paths

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (pbegin
                | "ListFiles" >> beam.Create(self._paths)
                | "ReadEachFile" >> beam.FlatMap(_read_file)
                | "SpreadRecords" >> beam.Reshuffle())
