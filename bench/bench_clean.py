"""Throughput of the cleaning stage vs trafilatura and jusText, same inputs, one run.

Inputs: the HTML pages of ../shared/eval/extraction_dev.jsonl when present (read at run
time, never copied), else the repository's ``seeds/*.html``. Text mode is measured on
the ``seeds/*.txt`` scraped-text seeds. Prints documents/second per system.

Run: ``python -m bench.bench_clean [--rounds 3]`` (or ``python bench/bench_clean.py``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["load_inputs", "measure", "main"]

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval" / "extraction_dev.jsonl"


def load_inputs() -> tuple[list[tuple[str, str | None]], list[str], str]:
    """(html pages with urls, scraped texts, description of where the pages came from)."""
    if EVAL.exists():
        with EVAL.open(encoding="utf-8") as handle:
            items = [json.loads(line) for line in handle if line.strip()]
        pages = [(i["html"], i.get("url")) for i in items]
        origin = f"{EVAL} ({len(pages)} pages)"
    else:
        pages = [(p.read_text(encoding="utf-8"), None) for p in sorted(ROOT.glob("seeds/*.html"))]
        origin = f"seeds/*.html ({len(pages)} pages; eval set absent)"
    texts = [p.read_text(encoding="utf-8") for p in sorted(ROOT.glob("seeds/*.txt"))]
    return pages, texts, origin


def measure(fn: Callable[[object], object], inputs: list, rounds: int) -> float:
    """Documents per second over ``rounds`` passes (after one warm-up document)."""
    fn(inputs[0])
    start = time.perf_counter()
    for _ in range(rounds):
        for doc in inputs:
            fn(doc)
    return rounds * len(inputs) / (time.perf_counter() - start)


def measure_interleaved(systems: dict[str, Callable[[object], object]], inputs: list,
                        rounds: int) -> dict[str, float]:
    """Median documents per second per system; each round runs every system once."""
    for fn in systems.values():
        fn(inputs[0])  # warm-up: imports, lazily built models
    rates: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(rounds):
        for name, fn in systems.items():
            start = time.perf_counter()
            for doc in inputs:
                fn(doc)
            rates[name].append(len(inputs) / (time.perf_counter() - start))
    return {name: statistics.median(r) for name, r in rates.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--beam", action="store_true",
                        help="also time CleanArticles end to end on Beam's local runner")
    args = parser.parse_args(argv)

    import justext
    import trafilatura

    from pipeline.boilerplate import (
        clean_content,
        clean_document,
        clean_text,
        extract_content,
        load_rules,
    )

    rules = load_rules()
    pages, texts, origin = load_inputs()
    stoplist = justext.get_stoplist("English")

    def ours_html(page: tuple[str, str | None]) -> str:
        return clean_document(None, page[0], url=page[1], rules=rules).body

    def ours_no_meta(page: tuple[str, str | None]) -> str:
        content = extract_content(None, page[0], page[1], metadata=False)
        return clean_content(content, rules=rules).body

    def traf(page: tuple[str, str | None]) -> str:
        return trafilatura.extract(page[0], url=page[1], include_comments=False) or ""

    def traf_meta(page: tuple[str, str | None]) -> str:
        return trafilatura.extract(page[0], url=page[1], include_comments=False,
                                   with_metadata=True) or ""

    def jt(page: tuple[str, str | None]) -> str:
        paragraphs = justext.justext(page[0].encode("utf-8"), stoplist)
        return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)

    print(f"HTML inputs: {origin}; {args.rounds} rounds")
    results = measure_interleaved({
        "newsbeam clean, text only (record has its metadata)": ours_no_meta,
        "trafilatura.extract, text only": traf,
        "newsbeam clean, text + page metadata": ours_html,
        "trafilatura.extract, text + metadata": traf_meta,
        "jusText (English stoplist)": jt,
    }, pages, args.rounds)
    for name, rate in results.items():
        print(f"  {name:<55} {rate:8.1f} docs/s")
    text_only = results["newsbeam clean, text only (record has its metadata)"]
    with_meta = results["newsbeam clean, text + page metadata"]
    print(f"  ratio to trafilatura, like for like: text only "
          f"{text_only / results['trafilatura.extract, text only']:.2f}x, with metadata "
          f"{with_meta / results['trafilatura.extract, text + metadata']:.2f}x")
    if texts:
        rounds = max(args.rounds, 50)
        rate = measure(lambda t: clean_text(t, rules=rules), texts, rounds)
        print(f"Text inputs: seeds/*.txt ({len(texts)} docs); {rounds} rounds")
        print(f"  {'newsbeam clean (text: line classifier only)':<55} {rate:8.1f} docs/s")
    if args.beam:
        rate = _beam_rate(pages, texts, args.rounds)
        print(f"  {'CleanArticles on the local runner (html + text mixed)':<55} {rate:8.1f} docs/s")
    return 0


def _beam_rate(pages: list[tuple[str, str | None]], texts: list[str], rounds: int) -> float:
    """Docs/s of the Beam transform, per-site state included (runner start-up excluded)."""
    import apache_beam as beam

    from pipeline.clean import CleanArticles
    from schemas.models import Article, Provenance, ProvenanceKind

    prov = Provenance(kind=ProvenanceKind.FILE, file="bench", line=0)
    docs = [(None, html) for html, _ in pages] + [(text, None) for text in texts]
    articles = [Article(id=str(n), url=f"https://site{n % 5}.example/{n}",
                        canonical_url=f"https://site{n % 5}.example/{n}", body=body or "",
                        html=html, provenance=prov)
                for n, (body, html) in enumerate(docs * rounds)]

    def run(batch: list[Article]) -> float:
        start = time.perf_counter()
        with beam.Pipeline() as p:
            _ = p | beam.Create(batch) | CleanArticles()
        return time.perf_counter() - start

    overhead = run(articles[:2])
    return len(articles) / max(run(articles) - overhead, 1e-9)


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
