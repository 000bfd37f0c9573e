"""Extraction quality on the shared dev set: newsbeam's cleaning must match or beat
trafilatura on both the full-text (sh-*) and the snippet (traf-*) pages, side by side.

The set is third-party and licence-restricted, so it is read from ../shared/eval at run
time and the test skips when that folder is absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT.parent / "shared" / "eval"
DATA = EVAL / "extraction_dev.jsonl"

pytestmark = [
    pytest.mark.eval,
    pytest.mark.skipif(not DATA.exists(), reason=f"extraction eval set absent: {DATA} "
                       "(checkout ../shared/eval beside the repository to run it)"),
]


def test_cleaning_matches_or_beats_trafilatura_on_both_sets() -> None:
    if str(ROOT) not in sys.path:  # bench/ is a script folder, not an installed package
        sys.path.insert(0, str(ROOT))
    from bench.eval_extraction import evaluate, load_items, ours, trafilatura_baseline

    items = load_items(DATA)
    results = evaluate(items, {"newsbeam": ours, "trafilatura": trafilatura_baseline})
    (our_full, our_snip, _), (traf_full, traf_snip, _) = results["newsbeam"], results["trafilatura"]
    print(f"\nfull_text: newsbeam {our_full} | trafilatura {traf_full}")
    print(f"snippets:  newsbeam {our_snip} | trafilatura {traf_snip}")
    assert our_full.f1 >= traf_full.f1
    assert our_snip.f1 >= traf_snip.f1
    assert our_full.f1 > 0.9 and our_snip.f1 > 0.85
