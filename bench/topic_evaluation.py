"""Measuring the tagger against a labelled set: P/R/F1 per tag, macro-F1 per language,
threshold tuning and cross-validation.

Items follow ``topics_dev.jsonl`` (``id, lang, title, text, gold_topics, gold``); a tag is
scored on an item only when the item lists it in ``gold.assessed`` or
``gold.assessed_topics`` (single-label sources vouch for one tag only). The data is read
from wherever the caller points; nothing from it is stored in the repository. Used by
``bench/eval_topics.py`` and ``tests/eval/test_topic_quality.py``; the pipeline never imports it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.taxonomy.scorer import TopicTagger
from schemas.routes import TAGS

__all__ = [
    "Counts",
    "EvalItem",
    "cross_validate",
    "cross_validate_by",
    "evaluate",
    "load_items",
    "macro_f1_by_language",
    "score_items",
    "tune_thresholds",
]


@dataclass(frozen=True)
class EvalItem:
    id: str
    lang: str
    title: str
    text: str
    gold: frozenset[str]
    assessed: frozenset[str]


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, gold: bool, predicted: bool, item_id: str = "") -> None:
        if gold and predicted:
            self.tp += 1
        elif predicted:
            self.fp += 1
            self.errors.append(f"FP {item_id}")
        elif gold:
            self.fn += 1
            self.errors.append(f"FN {item_id}")

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 1.0

    @property
    def support(self) -> int:
        return self.tp + self.fn


def load_items(path: Path) -> list[EvalItem]:
    items = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            gold = row.get("gold") or {}
            assessed = gold.get("assessed") or gold.get("assessed_topics") or []
            items.append(EvalItem(id=row["id"], lang=row.get("lang") or "und",
                                  title=row.get("title") or "", text=row.get("text") or "",
                                  gold=frozenset(row.get("gold_topics") or []),
                                  assessed=frozenset(assessed)))
    return items


def score_items(tagger: TopicTagger, items: Iterable[EvalItem],
                language_of: Callable[[EvalItem], str]) -> dict[str, dict[str, float]]:
    """Every tag's score per item id (thresholds are applied later, so tuning is cheap)."""
    return {item.id: {tag: s.score for tag, s in
                      tagger.score(item.title, item.text, language_of(item)).items()}
            for item in items}


def evaluate(items: Iterable[EvalItem], scores: dict[str, dict[str, float]],
             thresholds: dict[str, float], group: Callable[[EvalItem], str] | None = None,
             ) -> dict[str, dict[str, Counts]]:
    """Counts per group (``all`` unless ``group`` is given) and tag, assessed tags only."""
    out: dict[str, dict[str, Counts]] = {}
    for item in items:
        key = group(item) if group else "all"
        per_tag = out.setdefault(key, {tag: Counts() for tag in TAGS})
        for tag in item.assessed & set(thresholds):
            per_tag[tag].add(tag in item.gold, scores[item.id][tag] >= thresholds[tag], item.id)
    return out


def macro_f1_by_language(items: list[EvalItem], scores: dict[str, dict[str, float]],
                         thresholds: dict[str, float]) -> dict[str, tuple[float, int]]:
    """Per language: mean F1 over the tags with a gold or predicted positive there."""
    out = {}
    for lang, per_tag in sorted(evaluate(items, scores, thresholds, lambda i: i.lang).items()):
        used = [c.f1 for c in per_tag.values() if c.tp + c.fp + c.fn]
        out[lang] = (sum(used) / len(used) if used else 1.0, len(used))
    return out


def tune_thresholds(items: list[EvalItem], scores: dict[str, dict[str, float]],
                    tags: Iterable[str] = TAGS) -> dict[str, float]:
    """Per tag, the threshold with the best F1; among equals, the middle of the widest gap."""
    best: dict[str, float] = {}
    for tag in tags:
        assessed = [(scores[i.id][tag], tag in i.gold) for i in items if tag in i.assessed]
        values = sorted({s for s, _ in assessed} | {0.0})
        candidates = [(a + b) / 2 for a, b in zip(values, values[1:], strict=False)]
        candidates.append(values[-1] + 1.0)
        ranked = []
        for threshold in candidates:
            c = Counts()
            for s, gold in assessed:
                c.add(gold, s >= threshold)
            ranked.append((round(c.f1, 6), threshold))
        top = max(f for f, _ in ranked)
        winners = [t for f, t in ranked if f == top]
        best[tag] = round(winners[len(winners) // 2], 3)
    return best


def cross_validate(items: list[EvalItem], scores: dict[str, dict[str, float]], k: int = 5,
                   seed: int = 13) -> dict[str, Counts]:
    """Tune thresholds on k-1 folds, count on the held-out fold; pooled counts per tag."""
    return cross_validate_by(items, scores, None, k, seed).get("all", {t: Counts() for t in TAGS})


def cross_validate_by(items: list[EvalItem], scores: dict[str, dict[str, float]],
                      group: Callable[[EvalItem], str] | None, k: int = 5, seed: int = 13,
                      ) -> dict[str, dict[str, Counts]]:
    """``cross_validate``'s pooled counts per group (``evaluate``'s ``group``) and tag."""
    shuffled = items[:]
    random.Random(seed).shuffle(shuffled)
    pooled: dict[str, dict[str, Counts]] = {}
    for fold in range(k):
        held = shuffled[fold::k]
        held_ids = {i.id for i in held}
        train = [i for i in shuffled if i.id not in held_ids]
        thresholds = tune_thresholds(train, scores)
        for key, per_tag in evaluate(held, scores, thresholds, group).items():
            for tag, c in per_tag.items():
                total = pooled.setdefault(key, {t: Counts() for t in TAGS})[tag]
                total.tp += c.tp
                total.fp += c.fp
                total.fn += c.fn
                total.errors += c.errors
    return pooled
