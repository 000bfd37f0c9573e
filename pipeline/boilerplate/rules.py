"""Boilerplate rules as data: chrome patterns and stoplists, loaded and validated once.

Why data files: the patterns and stoplists change far more often than the classifier,
and reviewers of a new rule should see a YAML diff, not a code diff. ``load_rules`` is
called from a DoFn's ``setup()`` (never at import) and fails loudly on a bad regex.
"""

from __future__ import annotations

import bisect
import re
import re._parser as sre_parse  # the stdlib's regex parser (sre_parse before 3.11)
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

__all__ = ["Rules", "load_rules"]

_DATA = "pipeline.boilerplate"


@dataclass(frozen=True)
class Rules:
    """Compiled rules: ``chrome`` maps a line to its removal reason, in file order."""

    chrome: tuple[tuple[str, re.Pattern[str]], ...]
    chrome_by_length: tuple[tuple[int, ...], tuple[re.Pattern[str], ...]]
    chrome_groups: dict[str, str]
    source_prefix: re.Pattern[str]
    teaser: re.Pattern[str]
    caption_credit: re.Pattern[str]
    related_heading: re.Pattern[str]  # one alternation of the file's patterns
    stoplists: dict[str, frozenset[str]]
    stop_index: dict[str, tuple[str, ...]]

    def chrome_reason(self, line: str) -> str | None:
        """The reason a normalised line is known chrome, or None.

        One combined regex (an alternation in file order) instead of one match per
        pattern: the first pattern that matches the whole line names the reason. The
        alternation holds only the patterns that can match a line this long (a pattern's
        longest match is known from its syntax): most patterns are for short lines, and
        trying them on every paragraph of prose cost more than all other rules together.
        """
        limits, combined = self.chrome_by_length
        match = combined[bisect.bisect_left(limits, len(line))].fullmatch(line)
        return self.chrome_groups[match.lastgroup] if match and match.lastgroup else None

    def is_related_heading(self, line: str) -> bool:
        text = line.rstrip(" :>»›").strip()
        return self.related_heading.fullmatch(text) is not None

    def has_caption_credit(self, line: str) -> bool:
        return self.caption_credit.search(line) is not None


def _compile(expr: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(expr, re.IGNORECASE | re.UNICODE)
    except re.error as exc:
        raise ValueError(f"patterns.yaml: bad regex in {where}: {expr!r}: {exc}") from exc


def _longest_match(pattern: re.Pattern[str]) -> int | None:
    """The most characters ``pattern`` can match, None if unbounded (``.*``, ``+``)."""
    longest = sre_parse.parse(pattern.pattern, pattern.flags).getwidth()[1]
    return None if longest >= sre_parse.MAXREPEAT else longest


def _combine(chrome: tuple[tuple[str, re.Pattern[str]], ...], indexes) -> re.Pattern[str]:
    """One alternation of the ``indexes``' patterns, each in group ``c<index>``."""
    alternation = "|".join(f"(?P<c{i}>{chrome[i][1].pattern})" for i in indexes)
    return _compile(alternation or "(?!)", "chrome (combined)")


@lru_cache(maxsize=1)
def load_rules() -> Rules:
    """Load ``data/patterns.yaml`` and ``data/stoplists/*.txt`` (cached per process)."""
    root = resources.files(_DATA).joinpath("data")
    raw = yaml.safe_load(root.joinpath("patterns.yaml").read_text(encoding="utf-8"))
    for key in ("chrome", "source_prefix", "teaser_prefix", "caption_credit", "related_heading"):
        if key not in raw:
            raise ValueError(f"patterns.yaml: missing section {key!r}")
    chrome = tuple(
        (reason, _compile(expr, f"chrome.{reason}"))
        for reason, exprs in raw["chrome"].items() for expr in exprs
    )
    chrome_groups = {f"c{i}": reason for i, (reason, _) in enumerate(chrome)}
    longest = [_longest_match(p) for _, p in chrome]
    limits = tuple(sorted({w for w in longest if w is not None}))
    # combined[k] serves lines of length up to limits[k] (and the last, longer lines):
    # the patterns whose longest match is at least that long, in file order
    combined = tuple(_combine(chrome, [i for i, w in enumerate(longest)
                                       if w is None or w >= limit]) for limit in limits)
    combined += (_combine(chrome, [i for i, w in enumerate(longest) if w is None]),)
    prefixes = "|".join(re.escape(p) for p in raw["source_prefix"])
    source_prefix = _compile(rf"^\s*(?:{prefixes})\s*:\s*(.*)$", "source_prefix")
    teasers = "|".join(f"(?:{p})" for p in raw["teaser_prefix"])
    teaser = _compile(rf"^(?:{teasers})\s*[:>»›|]\s*\S.{{0,250}}$", "teaser_prefix")
    caption_credit = _compile("|".join(f"(?:{e})" for e in raw["caption_credit"]),
                              "caption_credit")
    for expr in raw["related_heading"]:
        _compile(expr, "related_heading")  # each checked alone, for a clear error
    related = _compile("|".join(f"(?:{e})" for e in raw["related_heading"]) or "(?!)",
                       "related_heading")

    stoplists: dict[str, frozenset[str]] = {}
    for entry in root.joinpath("stoplists").iterdir():
        if entry.name.endswith(".txt"):
            words = (w.strip() for w in entry.read_text(encoding="utf-8").splitlines())
            stoplists[entry.name[:-4]] = frozenset(w.lower() for w in words
                                                   if w and not w.startswith("#"))
    if not stoplists:
        raise ValueError("boilerplate data: no stoplists found")
    index: dict[str, list[str]] = {}
    for lang, words in sorted(stoplists.items()):
        for word in words:
            index.setdefault(word, []).append(lang)
    return Rules(chrome=chrome,
                 chrome_by_length=(limits, combined), chrome_groups=chrome_groups,
                 source_prefix=source_prefix, teaser=teaser,
                 caption_credit=caption_credit,
                 related_heading=related, stoplists=stoplists,
                 stop_index={w: tuple(langs) for w, langs in index.items()})
