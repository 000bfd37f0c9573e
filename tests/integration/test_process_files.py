"""`newsbeam process` over JSON Lines: every line ends in an output route or a dead letter."""

from __future__ import annotations

import json
from pathlib import Path

from newsbeam.cli import main
from schemas.models import Article, DeadLetter
from tests.support.routes import read_routes

GOOD = [
    {"id": "energy-1", "url": "https://news.example/oil", "title": "Oil prices jump as OPEC cuts output",
     "body": "Crude oil prices rose sharply on Monday after OPEC agreed to cut oil production. "
             "Brent crude gained 4 percent while natural gas and electricity prices also climbed. "
             "Analysts expect the energy market to stay tight through the winter as refineries "
             "and power plants compete for fuel."},
    {"id": "plain-1", "url": "https://news.example/garden", "title": "Local garden club meets",
     "body": "The garden club met on Tuesday to discuss spring planting. Members shared tips on "
             "tomatoes, roses and compost, and agreed to hold a plant sale in May."},
]


def test_process_routes_every_line_and_keeps_bad_lines_as_dead_letters(tmp_path: Path) -> None:
    lines = [json.dumps(a) for a in GOOD] + ["{not json", json.dumps({"title": "no url"})]
    lines.append(json.dumps(GOOD[0] | {"id": "energy-1-copy", "url": "https://mirror.example/oil"}))
    source = tmp_path / "articles.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"

    assert main(["process", "--input", str(source), "--output-dir", str(out)]) == 0

    routes = read_routes(out)
    letters = [DeadLetter.model_validate(r) for r in routes.pop("dead_letter")]
    assert sorted((d.provenance.line, d.error_class) for d in letters) == [
        (3, "InvalidJson"), (4, "ValidationError")]
    assert {d.payload for d in letters} == {b"{not json", json.dumps({"title": "no url"}).encode()}

    articles = {r["id"]: Article.model_validate(r) for records in routes.values() for r in records}
    assert set(articles) == {"energy-1", "plain-1", "energy-1-copy"}
    assert "energy" in articles["energy-1"].tags
    assert articles["plain-1"].routes == ["untagged"]
    assert articles["energy-1-copy"].duplicate_of == "energy-1"
    assert articles["energy-1-copy"].routes == ["duplicates"]
    # every input line accounted for exactly once (the copy goes to duplicates only)
    lines_seen = sorted([a.provenance.line for a in articles.values()] +
                        [d.provenance.line for d in letters])
    assert lines_seen == [1, 2, 3, 4, 5]
