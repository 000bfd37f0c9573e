"""Topic tagging quality on the development set: P/R/F1 per tag, macro-F1 per language.

    .venv/bin/python -m bench.eval_topics             # shipped thresholds
    .venv/bin/python -m bench.eval_topics --tune      # + best thresholds and 5-fold CV
    .venv/bin/python -m bench.eval_topics --errors    # list the misses (ids only)

The language comes from ``pipeline.language`` (as in the pipeline), unless ``--gold-lang``.
The measuring itself (counts, tuning, cross-validation) is ``bench.topic_evaluation``.
Reads ``../shared/eval/topics_dev.jsonl`` (licensed: never copy it into the repository).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.topic_evaluation import (
    Counts,
    cross_validate,
    evaluate,
    load_items,
    macro_f1_by_language,
    score_items,
    tune_thresholds,
)
from pipeline.language import LanguageDetector
from pipeline.taxonomy import TopicTagger
from schemas.routes import TAGS

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "topics_dev.jsonl"


def _table(title: str, counts: dict[str, Counts], errors: bool = False) -> None:
    print(f"\n{title}")
    print(f"  {'tag':<15}{'P':>7}{'R':>7}{'F1':>7}{'TP':>5}{'FP':>5}{'FN':>5}")
    for tag in TAGS:
        c = counts[tag]
        print(f"  {tag:<15}{c.precision:7.3f}{c.recall:7.3f}{c.f1:7.3f}{c.tp:5}{c.fp:5}{c.fn:5}")
        if errors and c.errors:
            print("      " + ", ".join(c.errors))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--tune", action="store_true", help="tune thresholds, cross-validate")
    parser.add_argument("--errors", action="store_true", help="list false positives/negatives")
    parser.add_argument("--gold-lang", action="store_true", help="use the set's language labels")
    args = parser.parse_args(argv)
    if not args.path.exists():
        print(f"no development set at {args.path}: nothing to measure", file=sys.stderr)
        return 2

    items = load_items(args.path)
    tagger = TopicTagger()
    detector = LanguageDetector()
    detected = {i.id: detector.detect(f"{i.title}\n{i.text}")[0] for i in items}
    wrong = sum(detected[i.id] != i.lang for i in items)
    print(f"{len(items)} items; language detected differs from the label on {wrong}")
    language_of = (lambda i: i.lang) if args.gold_lang else (lambda i: detected[i.id])
    scores = score_items(tagger, items, language_of)
    shipped = {t: s.threshold for t, s in tagger.taxonomy.tags.items()}

    _table(f"shipped thresholds {shipped}", evaluate(items, scores, shipped)["all"], args.errors)
    print("\nmacro-F1 per language (tags with a gold or predicted positive there):")
    for lang, (f1, n) in macro_f1_by_language(items, scores, shipped).items():
        print(f"  {lang}: {f1:.3f} over {n} tags")

    if args.tune:
        tuned = tune_thresholds(items, scores)
        _table(f"tuned on the whole set (optimistic) {tuned}",
               evaluate(items, scores, tuned)["all"])
        _table("5-fold cross-validation (tuned on 4/5, counted on the held-out 1/5)",
               cross_validate(items, scores), args.errors)
        for seed in (1, 2, 3):
            cv = cross_validate(items, scores, seed=seed)
            print(f"  CV seed {seed}: " + "  ".join(f"{t} {cv[t].f1:.3f}" for t in TAGS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
