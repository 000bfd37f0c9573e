"""Deduplication quality on the dev pairs: precision and recall per relation.

Usage: ``python bench/eval_dedup.py [EVAL_DIR]`` (default ``../shared/eval``).

Follows ``eval/README.md``: every doc is fed to one ``DedupIndex`` in file order; a pair
is predicted duplicate when both ids resolve (through ``duplicate_of``) to the same
canonical article. The eval files are licensed: they are read at run time, never copied.
Per relation, a duplicate relation reports recall (found / labelled) and precision
among the pairs predicted duplicate; a non-duplicate relation reports false duplicates.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.similarity import DedupConfig, DedupIndex

__all__ = ["EvalDoc", "default_eval_dir", "evaluate", "load", "main", "resolve_all",
           "translation_relations"]


@dataclass(frozen=True, slots=True)
class EvalDoc:
    """A dev document as an article-shaped record (a made-up, unique URL per doc)."""

    id: str
    title: str
    body: str
    language: str
    canonical_url: str
    source_url: str | None = None


def default_eval_dir() -> Path:
    return Path(__file__).resolve().parents[1].parent / "shared" / "eval"


def load(eval_dir: Path) -> tuple[list[EvalDoc], list[dict[str, Any]]]:
    docs = []
    with (eval_dir / "dedup_dev_docs.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            docs.append(EvalDoc(id=row["id"], title=row.get("title") or "",
                                body=row.get("text") or "", language=row.get("lang") or "und",
                                canonical_url=f"https://eval.invalid/doc/{row['id']}"))
    with (eval_dir / "dedup_dev_pairs.jsonl").open(encoding="utf-8") as fh:
        pairs = [json.loads(line) for line in fh]
    return docs, pairs


def resolve_all(docs: list[EvalDoc], config: DedupConfig | None = None) -> dict[str, str]:
    """Id -> canonical id, feeding docs in the given order."""
    index = DedupIndex(config)
    parent: dict[str, str] = {}
    for doc in docs:
        decision = index.observe(doc).decision
        parent[doc.id] = decision.duplicate_of or doc.id

    def root(i: str) -> str:
        while parent.get(i, i) != i:
            i = parent[i]
        return i

    return {i: root(i) for i in parent}


def translation_relations(docs: list[EvalDoc],
                          config: DedupConfig | None = None) -> list[tuple[str, str, float]]:
    """(id, related id, confidence) of every ``probable_translation`` relation raised."""
    index = DedupIndex(config)
    found = []
    for doc in docs:
        for rel in index.observe(doc).decision.related:
            found.append((doc.id, rel.id, rel.confidence))
    return found


def evaluate(docs: list[EvalDoc], pairs: list[dict[str, Any]],
             config: DedupConfig | None = None) -> dict[str, dict[str, float]]:
    """Per relation: labelled pairs, predicted duplicates, true positives, P and R."""
    roots = resolve_all(docs, config)
    stats: dict[str, dict[str, float]] = defaultdict(lambda: {"pairs": 0, "gold_dup": 0,
                                                              "pred_dup": 0, "tp": 0})
    for pair in pairs:
        relation = pair["gold"]["relation"].split("(")[0]
        gold = bool(pair["gold"]["duplicate"])
        pred = roots.get(pair["a"], pair["a"]) == roots.get(pair["b"], pair["b"])
        for name in (relation, "ALL"):
            s = stats[name]
            s["pairs"] += 1
            s["gold_dup"] += gold
            s["pred_dup"] += pred
            s["tp"] += gold and pred
    for s in stats.values():
        s["precision"] = s["tp"] / s["pred_dup"] if s["pred_dup"] else 1.0
        s["recall"] = s["tp"] / s["gold_dup"] if s["gold_dup"] else 1.0
        s["false_duplicates"] = s["pred_dup"] - s["tp"]
    return dict(stats)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    eval_dir = Path(args[0]) if args else default_eval_dir()
    if not (eval_dir / "dedup_dev_docs.jsonl").exists():
        print(f"no dedup eval set at {eval_dir}; nothing to measure")
        return 1
    docs, pairs = load(eval_dir)
    stats = evaluate(docs, pairs)
    print(f"{'relation':<36}{'pairs':>6}{'gold':>6}{'pred':>6}{'tp':>5}"
          f"{'precision':>11}{'recall':>8}")
    for name in sorted(stats, key=lambda n: (n == "ALL", n)):
        s = stats[name]
        print(f"{name:<36}{s['pairs']:>6}{s['gold_dup']:>6}{s['pred_dup']:>6}{s['tp']:>5}"
              f"{s['precision']:>11.3f}{s['recall']:>8.3f}")
    relations = translation_relations(docs)
    print(f"probable_translation relations raised: {len(relations)} "
          f"(the dev set holds no translations){'' if not relations else ': ' + str(relations)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
