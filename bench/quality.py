"""Quality of the three text stages: dev figures, held-out-fold figures, the anchor library.

For each stage, on the same items of ``../shared/eval`` (read at run time, never copied):

- **tagging**: per-tag F1 with the shipped thresholds (dev: the thresholds were chosen on
  these items), with thresholds tuned on 4/5 and counted on the held-out 1/5 (5 folds,
  pooled), and the keyword-list anchor (a tag whenever one of its listed terms occurs:
  the same term lists, no weights, no threshold). The weakest language x tag cells of
  the folds are printed too (cells with at least 3 positives).
- **dedup**: pair precision/recall/F1 with the shipped config, with the body threshold
  chosen on 4/5 of the pairs (F1, then the middle of the best range) and counted on the
  held-out 1/5, and datasketch ``MinHashLSH`` at the same threshold and banding.
- **extraction**: full-text token F1 and snippet F1 against trafilatura. It has no
  threshold fitted to the set, so its folds are its two sources: the Scrapinghub pages
  and the trafilatura-benchmark pages, reported apart.

Run: ``python -m bench.quality`` (part of ``make bench``). The term lists themselves were
written with the dev items in view: no fold can undo that, which is why held-out data
the project never sees scores lower (issue 18).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from schemas.routes import TAGS

__all__ = ["main"]

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
FOLDS = 5
SEED = 13


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def tagging(path: Path) -> list[str]:
    from bench.topic_evaluation import (
        cross_validate,
        cross_validate_by,
        evaluate,
        load_items,
        score_items,
    )
    from pipeline.language import LanguageDetector
    from pipeline.taxonomy import TopicTagger

    items = load_items(path)
    tagger, detector = TopicTagger(), LanguageDetector()
    scores = score_items(tagger, items, lambda i: detector.detect(f"{i.title}\n{i.text}")[0])
    shipped = {t: s.threshold for t, s in tagger.taxonomy.tags.items()}
    dev = evaluate(items, scores, shipped)["all"]
    keyword = evaluate(items, scores, {tag: 1e-9 for tag in TAGS})["all"]
    folds = cross_validate(items, scores, FOLDS, SEED)
    by_language = cross_validate_by(items, scores, lambda i: i.lang, FOLDS, SEED)
    lines = [f"tagging ({len(items)} items): per-tag F1",
             f"  {'tag':<16}{'dev':>8}{'held-out folds':>16}{'keyword list':>14}"]
    for tag in TAGS:
        lines.append(f"  {tag:<16}{dev[tag].f1:8.3f}{folds[tag].f1:16.3f}"
                     f"{keyword[tag].f1:14.3f}")
    macro = [sum(x) / len(TAGS) for x in zip(*[(dev[t].f1, folds[t].f1, keyword[t].f1)
                                               for t in TAGS], strict=True)]
    lines.append(f"  {'macro':<16}{macro[0]:8.3f}{macro[1]:16.3f}{macro[2]:14.3f}")
    cells = sorted((c.f1, lang, tag) for lang, per_tag in by_language.items()
                   for tag, c in per_tag.items() if c.tp + c.fn >= 3)
    lines.append("  weakest language x tag cells of the folds: " + ", ".join(
        f"{lang} {tag} {f1:.2f}" for f1, lang, tag in cells[:4]))
    return lines


def dedup(eval_dir: Path) -> list[str]:
    from bench.bench_dedup import run_datasketch
    from bench.eval_dedup import load, resolve_all
    from pipeline.similarity import DedupConfig

    docs, pairs = load(eval_dir)

    def counts(roots: dict[str, str], chosen: list[dict]) -> tuple[int, int, int]:
        tp = fp = fn = 0
        for pair in chosen:
            same = roots.get(pair["a"], pair["a"]) == roots.get(pair["b"], pair["b"])
            gold = bool(pair["gold"]["duplicate"])
            tp, fp, fn = tp + (same and gold), fp + (same and not gold), fn + (gold and not same)
        return tp, fp, fn

    def datasketch_roots(config: DedupConfig) -> dict[str, str]:
        parent, _ = run_datasketch(docs, config)

        def root(i: str) -> str:
            while parent[i] != i:
                i = parent[i]
            return i
        return {i: root(i) for i in parent}

    grid = [round(0.20 + 0.05 * k, 2) for k in range(13)]  # 0.20 .. 0.80
    roots_at = {t: resolve_all(docs, DedupConfig(threshold=t)) for t in grid}
    shuffled = pairs[:]
    random.Random(SEED).shuffle(shuffled)
    held_counts = [0, 0, 0]
    chosen_thresholds = []
    for fold in range(FOLDS):
        held = shuffled[fold::FOLDS]
        train = [p for k, p in enumerate(shuffled) if k % FOLDS != fold]
        ranked = [(round(_f1(*counts(roots_at[t], train)), 6), t) for t in grid]
        top = max(f for f, _ in ranked)
        winners = [t for f, t in ranked if f == top]
        threshold = winners[len(winners) // 2]
        chosen_thresholds.append(threshold)
        for k, v in enumerate(counts(roots_at[threshold], held)):
            held_counts[k] += v
    shipped = DedupConfig()
    dev = counts(resolve_all(docs, shipped), pairs)
    anchor = counts(datasketch_roots(shipped), pairs)
    lines = [f"dedup ({len(docs)} docs, {len(pairs)} labelled pairs): pair F1 "
             f"(false duplicates)",
             f"  {'dev':>8}{'held-out folds':>16}{'datasketch MinHashLSH':>24}",
             f"  {_f1(*dev):8.3f}{_f1(*held_counts):16.3f}{_f1(*anchor):24.3f}",
             f"  false duplicates {dev[1]} / {held_counts[1]} / {anchor[1]}; body threshold "
             f"shipped {shipped.threshold}, chosen per fold {chosen_thresholds}"]
    return lines


def extraction(path: Path) -> list[str]:
    from bench.eval_extraction import evaluate, load_items, ours, trafilatura_baseline

    items = load_items(path)
    results = evaluate(items, {"newsbeam": ours, "trafilatura": trafilatura_baseline})
    (full, snip, _), (t_full, t_snip, _) = results["newsbeam"], results["trafilatura"]
    return [f"extraction ({len(items)} pages; no threshold fitted to them: a fold per source)",
            f"  {'':<34}{'newsbeam':>10}{'trafilatura':>13}",
            f"  {'Scrapinghub pages, full-text F1':<34}{full.f1:10.3f}{t_full.f1:13.3f}",
            f"  {'trafilatura pages, snippet F1':<34}{snip.f1:10.3f}{t_snip.f1:13.3f}",
            f"  {'snippet precision (kept chrome)':<34}{snip.precision:10.3f}"
            f"{t_snip.precision:13.3f}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=EVAL)
    args = parser.parse_args(argv)
    if not (args.eval / "topics_dev.jsonl").exists():
        print(f"no development sets at {args.eval}: nothing to measure")
        return 0
    for section in (tagging(args.eval / "topics_dev.jsonl"), dedup(args.eval),
                    extraction(args.eval / "extraction_dev.jsonl")):
        print("\n".join(section))
        print()
    return 0


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
