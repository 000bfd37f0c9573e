"""HTML mode: when trafilatura's main extractor alone is trusted, and the chrome patterns
tried by line length.

Oracles: pages written here whose article text is known by construction; for the chrome
patterns, trying every pattern of ``patterns.yaml`` one by one in file order (what the
length-bucketed alternation must agree with).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.boilerplate import clean_content, extract_content, load_rules
from pipeline.boilerplate.features import normalise_line
from pipeline.boilerplate.html import HtmlExtraction, extract_html

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

PROSE = ("The harbour museum reopened on Saturday after a two-year restoration that cost the "
         "city more than it had planned, and the first visitors queued in the rain for an hour "
         "before the doors opened at ten.")
ARTICLE = [PROSE, PROSE + " Most of them came from the town itself.",
           PROSE + " The mayor spoke briefly."]
HEADLINES = ["World", "Business", "Opinion", "Lighthouse keepers mark 150 years on the point",
             "Town centre cinema to close in June", "Volunteers wanted for the spring clean"]


def test_a_page_taken_whole_is_cleaned_as_scraped_text() -> None:
    # One container, no markup to tell the article from the headline links around it:
    # the main extractor keeps the page whole. Cleaned as extracted text (the gentler
    # mode), the three headline links above the article stayed; as scraped text they go.
    menu = "<br>".join(HEADLINES)
    html = (f"<html><body><div>{menu}<br>{'<br>'.join(ARTICLE)}<br>{menu}</div>"
            "</body></html>")
    page = extract_html(html, metadata=False)
    assert page.whole_page
    content = extract_content(None, html, None, metadata=False)
    assert content.mode == "text"
    assert clean_content(content).body == "\n\n".join(ARTICLE)


def test_an_article_in_its_own_element_is_extracted_not_whole_page() -> None:
    html = (f"<html><body><nav><ul>{''.join(f'<li><a href=/x>{h}</a></li>' for h in HEADLINES)}"
            f"</ul></nav><article><h1>Museum reopens</h1>"
            f"{''.join(f'<p>{p}</p>' for p in ARTICLE)}</article>"
            "<footer><p>© 2026 Harbour Times</p></footer></body></html>")
    content = extract_content(None, html, None, metadata=False)
    assert not content.page.whole_page and content.mode == "extracted"
    assert clean_content(content).body == "\n\n".join(ARTICLE)


def test_whole_page_survives_the_json_form() -> None:
    page = HtmlExtraction(text="a", whole_page=True)
    assert HtmlExtraction.from_json(page.to_json()) == page


def test_chrome_by_line_length_decides_as_every_pattern_in_file_order() -> None:
    rules = load_rules()

    def one_by_one(line: str) -> str | None:
        return next((reason for reason, p in rules.chrome if p.fullmatch(line)), None)

    lines = {normalise_line(raw) for path in sorted(SEEDS.glob("*.txt"))
             for raw in path.read_text(encoding="utf-8").splitlines()}
    lines |= {normalise_line(raw) for raw in HEADLINES + ARTICLE}
    # every chrome line of the seeds padded past each pattern's longest match
    chrome = [line for line in lines if one_by_one(line)]
    lines |= {f"{line} {'x' * pad}" for line in chrome for pad in (5, 60, 250, 900)}
    lines.discard("")
    decided = {line: rules.chrome_reason(line) for line in lines}
    assert sum(1 for r in decided.values() if r) >= 40  # the check covers real chrome
    assert decided == {line: one_by_one(line) for line in lines}
