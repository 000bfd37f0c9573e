"""Throughput of language detection + topic tagging, against a naive regex-per-term tagger.

    .venv/bin/python bench/bench_tagging.py              # dev-set articles, 3 rounds
    .venv/bin/python bench/bench_tagging.py --languages  # + py3langid vs lingua accuracy

Both contenders detect the language with the same detector, then tag: ours with one
Aho–Corasick pass per field (``TopicTagger``), the baseline with one compiled regular
expression per taxonomy term of that language, run over the text one after another
(the obvious implementation). Articles come from ``../shared/eval`` when present (read,
never copied), else from ``seeds/``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

from pipeline.language import LanguageDetector
from pipeline.taxonomy import TopicTagger
from pipeline.taxonomy.schema import LanguageTerms

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"


def _articles() -> list[tuple[str, str, str]]:
    """(title, body, labelled language) triples."""
    out = []
    for name in ("topics_dev.jsonl", "dedup_dev_docs.jsonl"):
        path = EVAL / name
        if path.exists():
            for line in path.open(encoding="utf-8"):
                row = json.loads(line)
                out.append((row.get("title") or "", row["text"], row.get("lang") or ""))
    if not out:
        out = [("", p.read_text(encoding="utf-8"), "") for p in sorted(ROOT.glob("seeds/*.txt"))]
    return out


class RegexTagger:
    """The naive baseline: one regex per term, each run over the whole text."""

    def __init__(self, tagger: TopicTagger) -> None:
        self._tagger = tagger
        self._patterns: dict[str, list[tuple[re.Pattern[str], str, float]]] = {}
        for code, lang in tagger.taxonomy.languages.items():
            self._patterns[code] = self._compile(lang)

    @staticmethod
    def _compile(lang: LanguageTerms) -> list[tuple[re.Pattern[str], str, float]]:
        out = []
        for tag, terms in lang.tags.items():
            for term, weight in {**terms.terms, **terms.context}.items():
                core = re.escape(term.strip("*"))
                left = r"\w*" if term.startswith("*") else r"(?<!\w)"
                right = r"\w*" if term.endswith("*") else r"(?!\w)"
                out.append((re.compile(left + core + right, re.IGNORECASE), tag, weight))
        return out

    def tag(self, title: str, body: str, language: str) -> dict[str, float]:
        patterns = self._patterns.get(language) or self._patterns["en"]
        scores: Counter[str] = Counter()
        for text, factor in ((title, 3.0), (body, 1.0)):
            for pattern, tag, weight in patterns:
                for _ in pattern.finditer(text):
                    scores[tag] += weight * factor
        return dict(scores)


def _rate(fn, articles, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for title, body, _ in articles:
            fn(title, body)
        best = min(best, time.perf_counter() - start)
    return len(articles) / best


def _compare_detectors(articles: list[tuple[str, str, str]]) -> None:
    labelled = [(f"{t}\n{b}", lang) for t, b, lang in articles if lang]
    ours = LanguageDetector()
    contenders = {"py3langid (shipped)": lambda text: ours.detect(text)[0]}
    try:
        from lingua import LanguageDetectorBuilder

        start = time.perf_counter()
        lingua = LanguageDetectorBuilder.from_all_languages().build()

        def lingua_code(text: str) -> str:
            found = lingua.detect_language_of(text[:4000])
            return found.iso_code_639_1.name.lower() if found else "und"

        lingua_code("warm up the lazily loaded models")
        print(f"lingua built and warmed in {time.perf_counter() - start:.1f}s")
        contenders["lingua (all languages)"] = lingua_code
    except ImportError:
        print("lingua-language-detector not installed: comparing py3langid only")
    for cut in (None, 200, 60):
        for name, fn in contenders.items():
            start = time.perf_counter()
            right = sum(fn(text if cut is None else text[:cut]) == lang for text, lang in labelled)
            rate = len(labelled) / (time.perf_counter() - start)
            print(f"  {name:<24} {'full' if cut is None else f'{cut} chars':>9}: "
                  f"{right}/{len(labelled)} right, {rate:,.0f} texts/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--languages", action="store_true",
                        help="also compare language detectors (accuracy and speed)")
    args = parser.parse_args(argv)
    articles = _articles()
    chars = sum(len(t) + len(b) for t, b, _ in articles)
    print(f"{len(articles)} articles, {chars / len(articles):,.0f} characters on average")

    detector, tagger = LanguageDetector(), TopicTagger()
    baseline = RegexTagger(tagger)
    terms = sum(len(p) for p in baseline._patterns.values())
    print(f"{len(tagger.taxonomy.languages)} languages, {terms} terms in all")

    def ours(title: str, body: str) -> object:
        language, _ = detector.detect(body)
        return tagger.tag(title, body, language)

    def naive(title: str, body: str) -> object:
        language, _ = detector.detect(body)
        return baseline.tag(title, body, language)

    def detect_only(title: str, body: str) -> object:
        return detector.detect(body)

    languages = [detector.detect(body)[0] for _, body, _ in articles]
    lang_of = {id(body): lang for (_, body, _), lang in zip(articles, languages, strict=True)}

    def tag_only(title: str, body: str) -> object:
        return tagger.tag(title, body, lang_of[id(body)])

    def regex_only(title: str, body: str) -> object:
        return baseline.tag(title, body, lang_of[id(body)])

    rates = {
        "Aho-Corasick tagging only": _rate(tag_only, articles, args.rounds),
        "regex-per-term tagging only": _rate(regex_only, articles, args.rounds),
        "language detection only": _rate(detect_only, articles, args.rounds),
        "detection + Aho-Corasick tagging": _rate(ours, articles, args.rounds),
        "detection + regex-per-term tagging": _rate(naive, articles, args.rounds),
    }
    for name, rate in rates.items():
        print(f"  {name:<36} {rate:10,.0f} articles/s")
    speedup = rates["detection + Aho-Corasick tagging"] / rates[
        "detection + regex-per-term tagging"]
    print(f"  Aho-Corasick pipeline is {speedup:.1f}x the regex baseline")
    if args.languages:
        _compare_detectors(articles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
