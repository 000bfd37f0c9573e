from __future__ import annotations

import gzip
import json
from pathlib import Path

from connectors.article_files import article_from_html, article_from_text, iter_file_values

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def test_jsonl_lines_pass_through_byte_for_byte_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"url": "u", "body": "a"}\n\n{broken\n'))
    assert list(iter_file_values(str(path))) == [(1, b'{"url": "u", "body": "a"}'), (3, b"{broken")]


def test_text_seed_with_site_banner_takes_next_line_as_title() -> None:
    text = (SEEDS / "004_f4b2f788e06a7ca8.txt").read_text(encoding="utf-8")
    article = article_from_text(text, "004.txt")
    assert article["title"] == "Japansk ambassadør: Vietnam er en viktig og uerstattelig partner"
    assert article["source"] == "vietnam.vn"
    assert str(article["body"]) == text.strip("\n"), "the cleaning stage cuts the headline"


def test_text_without_headline_keeps_the_whole_text_as_body() -> None:
    text = (SEEDS / "000_0dc1abbf165201b3.txt").read_text(encoding="utf-8")
    article = article_from_text(text, "000.txt")
    assert article["title"] is None and article["body"] == text.strip("\n")


def test_menu_and_breadcrumb_lines_are_not_titles() -> None:
    text = "Startseite › Politik › Verteidigung\nBundeswehr bestellt neue Systeme\nDie Bundeswehr soll..."
    assert article_from_text(text, "x.txt")["title"] == "Bundeswehr bestellt neue Systeme"
    menu = "Home | News | Arts | Sport\nMuseum reopens after restoration\nThe museum..."
    assert article_from_text(menu, "y.txt")["title"] == "Museum reopens after restoration"


def test_html_canonical_link_becomes_the_url() -> None:
    html = '<html><head><link rel="canonical" href="https://news.example/x"></head><body>t</body></html>'
    assert article_from_html(html, "p.html")["url"] == "https://news.example/x"
    assert article_from_html("<p>t</p>", "p.html")["url"] == "file:p.html"
    assert json.dumps(article_from_html("<p>t</p>", "p.html"))
