"""A realistic benchmark corpus: many languages, site chrome, HTML pages, a share of copies.

Articles are assembled from a paragraph pool per language (the seeds, plus the development
sets in ``../shared/eval/`` when present, read at run time and never stored): a title, six
to twelve paragraphs of one language, wrapped in the chrome of a seed of that site, and a
few HTML seed pages. Every paragraph instance gets a small variation, because articles of
one site share chrome lines but not prose. A share of the messages are exact
republications or lightly edited copies, so the dedup stage has work to do. Deterministic
for a given seed.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from pathlib import Path

from connectors.article_files import expand_paths, iter_file_values

__all__ = ["EVAL_DIR", "make_corpus"]

REPO = Path(__file__).resolve().parents[1]
EVAL_DIR = REPO.parent / "shared" / "eval"
_FILLERS = ("today", "also", "recently", "reportedly", "officially", "still", "now", "again",
            "i dag", "også", "nylig", "heute", "auch", "hôm nay", "cũng", "aujourd'hui", "hoy")
_NUMBER = re.compile(r"\b\d+\b")


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n+", text) if len(p.strip()) > 80]


def _pools() -> tuple[dict[str, list[str]], list[dict], list[dict]]:
    """Paragraphs per language, text seeds (for chrome) and HTML seeds."""
    pools: dict[str, list[str]] = defaultdict(list)
    text_seeds, html_seeds = [], []
    for path in expand_paths([str(REPO / "seeds")]):
        for _, value in iter_file_values(path):
            try:
                article = json.loads(value)
            except ValueError:  # the seeds include broken feed lines, for the dead-letter route
                continue
            if isinstance(article, dict) and article.get("url"):
                (html_seeds if article.get("html") else text_seeds).append(article)
    for name in ("topics_dev.jsonl", "dedup_dev_docs.jsonl"):
        path = EVAL_DIR / name
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                item = json.loads(line)
                pools[item.get("lang") or "und"].extend(_paragraphs(item.get("text") or ""))
    for article in text_seeds:
        pools["seed"].extend(_paragraphs(article.get("body") or ""))
    return pools, text_seeds, html_seeds


def _vary(paragraph: str, rng: random.Random) -> str:
    words = paragraph.split(" ")
    words.insert(rng.randrange(len(words)), rng.choice(_FILLERS))
    return _NUMBER.sub(lambda m: str(int(m.group()) + rng.randint(1, 97)), " ".join(words))


def _chrome(seed: dict) -> tuple[list[str], list[str]]:
    """The short (chrome-like) lines at the top and bottom of a seed's body."""
    lines = [line for line in (seed.get("body") or "").splitlines() if line.strip()]
    head = [line for line in lines[:4] if len(line) < 80]
    tail = [line for line in lines[-6:] if len(line) < 80]
    return head, tail


def make_corpus(n: int, duplicate_share: float = 0.15, html_share: float = 0.05,
                seed: int = 7) -> list[bytes]:
    """``n`` JSON message values."""
    rng = random.Random(seed)
    pools, text_seeds, html_seeds = _pools()
    languages = [lang for lang, pool in pools.items() if len(pool) >= 12]
    values: list[bytes] = []
    originals: list[dict] = []
    for i in range(n):
        if originals and rng.random() < duplicate_share:
            article = dict(rng.choice(originals))
            if rng.random() < 0.5:  # edited copy: a few words changed
                words = article["body"].split(" ")
                for j in rng.sample(range(len(words)), max(1, len(words) // 50)):
                    words[j] = words[j].upper()
                article["body"] = " ".join(words)
            article["url"] = f"https://mirror{rng.randint(1, 5)}.example/{i}"
        elif html_seeds and rng.random() < html_share:
            page = rng.choice(html_seeds)
            article = {"url": f"https://site{rng.randint(1, 8)}.example/page/{i}",
                       "html": page["html"].replace("</p>", f" ({rng.choice(_FILLERS)} {i})</p>", 1)}
        else:
            pool = pools[rng.choice(languages)]
            body = [_vary(p, rng) for p in rng.sample(pool, rng.randint(6, min(12, len(pool))))]
            head, tail = _chrome(rng.choice(text_seeds))
            title = " ".join(body[0].split()[:9]).rstrip(".,;:")
            article = {"url": f"https://site{rng.randint(1, 8)}.example/news/{i}", "title": title,
                       "body": "\n".join(head + body + tail)}
            originals.append(article)
        article["id"] = f"bench-{i}"
        values.append(json.dumps(article, ensure_ascii=False).encode("utf-8"))
    return values
