"""Extraction quality on ../shared/eval/extraction_dev.jsonl: ours vs trafilatura, side by side.

Scoring as the eval README says:
- ``sh-*`` (full_text gold): token-level precision/recall/F1 of the extracted text
  against ``gold_text`` (multiset of lower-cased word tokens), averaged over pages;
- ``traf-*`` (snippets gold): each ``must_include`` segment found in the output is a TP
  (else FN), each ``must_exclude`` segment found is an FP (else TN); P/R/F1 over the set.

Run: ``python -m bench.eval_extraction [--all]`` (or ``python bench/eval_extraction.py``).
``--all`` adds jusText and ``newsbeam-text`` (our line classifier alone on the whole
page's text, i.e. how scraped text with all its site chrome comes out).
The eval files are third-party and licence-restricted: read at run time, never copied.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_EVAL",
    "Scores",
    "evaluate",
    "load_items",
    "justext_baseline",
    "ours",
    "ours_text_only",
    "score_full_text",
    "score_snippets",
    "trafilatura_baseline",
]

DEFAULT_EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "extraction_dev.jsonl"
_WORD = re.compile(r"\w+", re.UNICODE)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float

    def __str__(self) -> str:
        return f"P={self.precision:.3f} R={self.recall:.3f} F1={self.f1:.3f}"


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def load_items(path: Path = DEFAULT_EVAL) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _tokens(text: str) -> Counter[str]:
    return Counter(_WORD.findall(text.lower()))


def page_scores(extracted: str, gold: str) -> Scores:
    got, want = _tokens(extracted), _tokens(gold)
    common = sum((got & want).values())
    p = common / sum(got.values()) if got else 0.0
    r = common / sum(want.values()) if want else 0.0
    return Scores(p, r, _f1(p, r))


def score_full_text(pairs: Iterable[tuple[str, str]]) -> Scores:
    """Macro average over pages of token-level P/R/F1 (F1 averaged per page too)."""
    pages = [page_scores(extracted, gold) for extracted, gold in pairs]
    if not pages:
        return Scores(0.0, 0.0, 0.0)
    n = len(pages)
    return Scores(sum(s.precision for s in pages) / n, sum(s.recall for s in pages) / n,
                  sum(s.f1 for s in pages) / n)


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text.replace("\u00a0", " ")).strip().lower()


def snippet_counts(extracted: str, gold: dict) -> Counter[str]:
    text = _norm(extracted)
    counts: Counter[str] = Counter()
    for segment in gold.get("must_include", []):
        counts["tp" if _norm(segment) in text else "fn"] += 1
    for segment in gold.get("must_exclude", []):
        counts["fp" if _norm(segment) in text else "tn"] += 1
    return counts


def score_snippets(pairs: Iterable[tuple[str, dict]]) -> tuple[Scores, Counter[str]]:
    total: Counter[str] = Counter()
    for extracted, gold in pairs:
        total.update(snippet_counts(extracted, gold))
    p = total["tp"] / (total["tp"] + total["fp"]) if total["tp"] + total["fp"] else 0.0
    r = total["tp"] / (total["tp"] + total["fn"]) if total["tp"] + total["fn"] else 0.0
    return Scores(p, r, _f1(p, r)), total


def ours(item: dict) -> str:
    """The cleaning stage's body for one page (HTML mode)."""
    from pipeline.boilerplate import clean_document

    return clean_document(None, item["html"], url=item.get("url")).body


def trafilatura_baseline(item: dict) -> str:
    """trafilatura as a user calls it for article text (comments excluded)."""
    import trafilatura

    return trafilatura.extract(item["html"], url=item.get("url"), include_comments=False) or ""


_JUSTEXT_LANG = {"en": "English", "de": "German", "es": "Spanish", "fr": "French",
                 "pt": "Portuguese", "it": "Italian", "pl": "Polish", "ru": "Russian",
                 "fi": "Finnish", "tr": "Turkish", "ar": "Arabic", "nl": "Dutch",
                 "nb": "Norwegian_Bokmal", "nn": "Norwegian_Nynorsk", "vi": "Vietnamese"}


def ours_text_only(item: dict) -> str:
    """The line classifier alone on the whole page's text (no main-content extractor)."""
    from pipeline.boilerplate import clean_text
    from pipeline.boilerplate.html import page_text

    return clean_text(page_text(item["html"])).body


def justext_baseline(item: dict) -> str:
    """jusText with the page's language stoplist (given by the eval set; English if unknown)."""
    import justext

    stoplist = justext.get_stoplist(_JUSTEXT_LANG.get(item.get("lang", ""), "English"))
    paragraphs = justext.justext(item["html"].encode("utf-8"), stoplist)
    return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)


def evaluate(items: list[dict], systems: dict[str, Callable[[dict], str]],
             ) -> dict[str, tuple[Scores, Scores, Counter[str]]]:
    """Per system: (full-text scores, snippet scores, snippet counts)."""
    results = {}
    for name, extract in systems.items():
        outputs = {item["id"]: extract(item) for item in items}
        full = score_full_text((outputs[i["id"]], i["gold_text"]) for i in items
                               if i["gold"]["kind"] == "full_text")
        snip, counts = score_snippets((outputs[i["id"]], i["gold"]) for i in items
                                      if i["gold"]["kind"] == "snippets")
        results[name] = (full, snip, counts)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--per-page", action="store_true", help="print per-page F1 (sh-*)")
    parser.add_argument("--all", action="store_true",
                        help="also score jusText and our line classifier without an extractor")
    args = parser.parse_args(argv)
    if not args.eval.exists():
        print(f"eval set not found at {args.eval}: nothing to measure", file=sys.stderr)
        return 2
    items = load_items(args.eval)
    systems = {"newsbeam": ours, "trafilatura": trafilatura_baseline}
    if args.all:
        systems |= {"jusText": justext_baseline, "newsbeam-text": ours_text_only}
    results = evaluate(items, systems)
    n_full = sum(1 for i in items if i["gold"]["kind"] == "full_text")
    n_snip = len(items) - n_full
    print(f"{'system':<14} {'full_text (' + str(n_full) + ' pages, macro)':<40} "
          f"snippets ({n_snip} pages, micro)")
    for name, (full, snip, counts) in results.items():
        print(f"{name:<14} {full!s:<40} {snip!s}  "
              f"TP={counts['tp']} FN={counts['fn']} FP={counts['fp']} TN={counts['tn']}")
    if args.per_page:
        for item in items:
            if item["gold"]["kind"] != "full_text":
                continue
            row = [page_scores(systems[s](item), item["gold_text"]) for s in systems]
            print(item["id"], " ".join(f"{s.precision:.2f}/{s.recall:.2f}" for s in row))
    return 0


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
