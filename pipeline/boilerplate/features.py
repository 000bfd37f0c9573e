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
_NO_SPACE_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\u0e00-\u0e7f]")
_SENTENCE_END = re.compile(r"[.!?…:;。！？][\"”’»)\]]*\s*$")
_DATE = re.compile(
    r"(?<!\d)(\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2})(?!\d)")


def normalise_line(line: str) -> str:
    """Collapse whitespace (incl. NBSP) and strip: the form every rule sees."""
    return " ".join(line.split())  # str.split's whitespace is re's \s, NBSP included


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


def choose_stoplist(tokens: list[list[str]], rules: Rules) -> frozenset[str] | None:
    """The stoplist with the highest hit count over the document (its lines' ``words``),
    or None if too few hits."""
    sample: Counter[str] = Counter()
    total = 0
    for line_tokens in tokens:  # a sample is enough to tell the language
        sample.update(line_tokens)
        total += len(line_tokens)
        if total >= _SAMPLE_WORDS:
            break
    hits: Counter[str] = Counter()
    index = rules.stop_index
    for word, count in sample.items():
        for lang in index.get(word, ()):
            hits[lang] += count
    if not hits or total == 0:
        return None
    lang, count = hits.most_common(1)[0]
    if count / total < 0.08:
        return None
    return rules.stoplists[lang]


def line_features(line: str, stoplist: frozenset[str] | None, tokens: list[str] | None = None,
                  *, date_max_chars: int | None = None) -> LineFeatures:
    """``line``'s features; ``tokens`` are its ``words`` if the caller has them already.

    ``has_date`` is looked for only in lines of at most ``date_max_chars`` characters
    (all lines if None): the only rule that reads it is about short datelines, and the
    search costs more than any other feature on long prose lines."""
    if tokens is None:
        tokens = words(line)
    n = len(tokens)
    no_space = bool(_NO_SPACE_SCRIPT.search(line)) and n < max(3, len(line) // 12)
    if no_space or stoplist is None:
        density = 0.3  # no usable stoplist: neutral, length decides
    elif n == 0:
        density = 0.0
    else:
        density = sum(map(stoplist.__contains__, tokens)) / n
    return LineFeatures(
        chars=len(line),
        n_words=n if not no_space else max(n, len(line) // 2),
        stop_density=density,
        sentence_end=bool(_SENTENCE_END.search(line)),
        has_date=(date_max_chars is None or len(line) <= date_max_chars)
        and _DATE.search(line) is not None,
        no_space_script=no_space,
        alpha_words=sum(map(str.isalpha, tokens)),
    )
