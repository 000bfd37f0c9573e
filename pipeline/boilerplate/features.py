"""Per-line features: words, stopword density, sentence shape, in any language.

jusText's observation: article prose is dense in function words, chrome (menus,
headline lists, tags) is not. The stoplist is chosen per document as the one with the
highest hit rate, so no language detector is needed and mixed-language pages degrade
gracefully; scripts without spaces (CJK, Thai) fall back to length only.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from pipeline.boilerplate.rules import Rules

__all__ = ["LineFeatures", "choose_stoplist", "line_features", "normalise_line", "words"]

_WORD = re.compile(r"\w+", re.UNICODE)
_SAMPLE_WORDS = 600
_SPACES = re.compile(r"\s+")
_NO_SPACE_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\u0e00-\u0e7f]")
_SENTENCE_END = re.compile(r"[.!?…:;。！？][\"”’»)\]]*\s*$")
_DATE = re.compile(
    r"(?<!\d)(\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2})(?!\d)")


def normalise_line(line: str) -> str:
    """Collapse whitespace (incl. NBSP) and strip: the form every rule sees."""
    return _SPACES.sub(" ", line.replace("\u00a0", " ")).strip()


def words(line: str) -> list[str]:
    return _WORD.findall(line.lower())


@dataclass(frozen=True)
class LineFeatures:
    chars: int
    n_words: int
    stop_density: float
    sentence_end: bool
    has_date: bool
    no_space_script: bool
    alpha_words: int


def choose_stoplist(lines: list[str], rules: Rules) -> frozenset[str] | None:
    """The stoplist with the highest hit count over the document, or None if too few hits."""
    hits: Counter[str] = Counter()
    total = 0
    index = rules.stop_index
    for line in lines:  # a sample is enough to tell the language
        tokens = words(line)
        total += len(tokens)
        for word in tokens:
            langs = index.get(word)
            if langs:
                hits.update(langs)
        if total >= _SAMPLE_WORDS:
            break
    if not hits or total == 0:
        return None
    lang, count = hits.most_common(1)[0]
    if count / total < 0.08:
        return None
    return rules.stoplists[lang]


def line_features(line: str, stoplist: frozenset[str] | None) -> LineFeatures:
    tokens = words(line)
    n = len(tokens)
    no_space = bool(_NO_SPACE_SCRIPT.search(line)) and n < max(3, len(line) // 12)
    if no_space or stoplist is None:
        density = 0.3  # no usable stoplist: neutral, length decides
    elif n == 0:
        density = 0.0
    else:
        density = sum(1 for t in tokens if t in stoplist) / n
    return LineFeatures(
        chars=len(line),
        n_words=n if not no_space else max(n, len(line) // 2),
        stop_density=density,
        sentence_end=bool(_SENTENCE_END.search(line)),
        has_date=bool(_DATE.search(line)),
        no_space_script=no_space,
        alpha_words=sum(1 for t in tokens if t.isalpha()),
    )
