"""Synthetic stories for the dedup tests, the property test and the benchmark's checks.

``prose`` is reproducible text from a small vocabulary, ``edit`` changes a few words,
``anchored_story`` builds a text around shared anchors (names and figures) in any language,
``reissue_pair`` is a wire story and its corrected re-issue, and ``mixed_run`` is a whole
bounded run of stories, copies, translations, redeliveries and late event times.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["FIGURES", "NAMES", "WORDS", "Doc", "anchored_story", "edit", "mixed_run", "prose",
           "reissue_pair"]


WORDS = ("market council harbour energy grid minister court museum project budget winter "
         "company shares report factory workers union plant station river bridge school "
         "hospital festival league season contract network vessel airport railway city "
         "north south village coast forest summit treaty border export import price").split()


def prose(seed: int, n: int = 120) -> str:
    rng = random.Random(seed)
    sentences, words = [], [rng.choice(WORDS) for _ in range(n)]
    for i in range(0, n, 12):
        chunk = words[i:i + 12]
        sentences.append(" ".join(chunk).capitalize() + ".")
    return " ".join(sentences)


def edit(text: str, n_changes: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = text.split()
    for i in rng.sample(range(len(words)), n_changes):
        words[i] = "changed" + str(i)
    return " ".join(words)


@dataclass(frozen=True)
class Doc:
    id: str
    body: str
    title: str = ""
    language: str = "en"
    canonical_url: str = ""
    source_url: str | None = None

    def __post_init__(self) -> None:
        if not self.canonical_url:
            object.__setattr__(self, "canonical_url", f"https://site.example/{self.id}")


NAMES = ("Ito Naoki", "Ishiba Shigeru", "Kawasaki Frontale", "Yokohama", "JICA", "Hanoi",
         "Matsuo Laboratory", "Tokyo", "Noi Bai", "Yen Xa")
FIGURES = ("1973", "2025", "250", "500", "2030", "20 billion", "300 million", "80 billion",
           "2000", "50 billion")


def anchored_story(template: str, filler: list[str]) -> str:
    parts = [template.format(name=n, figure=f, word=w)
             for n, f, w in zip(NAMES, FIGURES, filler, strict=True)]
    return " ".join(parts)


def reissue_pair() -> tuple[str, str]:
    original = prose(400, 160)
    words = original.split()
    rewritten = prose(401, 90).split()
    corrected = " ".join(words[:45] + rewritten[:70] + words[100:110])
    return original, corrected


def mixed_run(seed: int) -> tuple[list[Doc], list[float | None]]:
    """Stories with exact and edited copies, truncated corrections, a marked wire
    re-issue, translations (same source URL, or shared anchors only), tracking-parameter
    URLs, short texts, redeliveries, late and missing event times."""
    rng = random.Random(seed)
    docs: list[Doc] = []
    for s in range(40):
        body = prose(1000 + s)
        docs.append(Doc(f"s{s}", body))
        for c in range(rng.randint(0, 4)):
            kind = rng.random()
            if kind < 0.25:
                copy = body.upper()
            elif kind < 0.6:
                copy = edit(body, rng.randint(1, 25), seed=c)
            else:
                copy = " ".join(body.split()[: rng.randint(40, 100)])
            docs.append(Doc(f"s{s}c{c}", copy))
    docs += [Doc(f"n{i}", f"{NAMES[i]} {FIGURES[i]} " + prose(2000 + i)) for i in range(10)]
    docs.append(Doc("short1", "Storm closes the harbour road tonight"))
    rng.shuffle(docs)
    original, corrected = reissue_pair()
    english = anchored_story(
        "The report names {name} and cites {figure} as a {word} target.", WORDS[:10])
    norwegian = anchored_story(
        "Rapporten nevner {name} og viser til {figure} som et {word} mål.", WORDS[10:20])
    together = [  # stories whose members arrive close together, so even a short TTL links them
        [Doc("wire", original, title="GM <GM> TO IDLE SIX PLANTS, 21,600 WORKERS"),
         Doc("wire-fix", corrected, title="CORRECTED - GM <GM> TO IDLE SIX PLANTS")],
        [Doc("en", english, language="en"), Doc("nb", norwegian, language="nb")],
        [Doc("vi-orig", prose(54), language="vi", canonical_url="https://origin.example/a/9"),
         Doc("nb-tr", prose(55), language="nb", source_url="https://origin.example/a/9"),
         Doc("de-tr", prose(56), language="de", source_url="https://origin.example/a/9")],
        [Doc("utm-a", prose(58), canonical_url="https://site.example/p?utm_source=x"),
         Doc("utm-b", prose(59), canonical_url="https://site.example/p?utm_medium=y")],
        [Doc("short2", "Storm closes the harbour road tonight!")],
    ]
    for group in together:
        at = rng.randrange(len(docs))
        docs[at:at] = group
    docs += [docs[rng.randrange(len(docs))] for _ in range(8)]  # redeliveries
    times: list[float | None] = []
    for i in range(len(docs)):
        r = rng.random()
        times.append(None if r < 0.1 else float(i * 10 + (rng.randint(-400, 50) if r < 0.3 else 0)))
    return docs, times
