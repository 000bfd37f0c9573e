"""Golden test: the two scraped seeds, cut as a careful reader cuts them.

Every non-empty line of each seed is listed in order with the decision a reader makes
after reading it: ``None`` = article text kept in the body, otherwise the reason it is
removed. Lines are identified by their opening words (enough to be unique).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.boilerplate import clean_text

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
KEEP = None

# seeds/000: a Vietnamese news story (Norwegian translation) exported as markdown-ish
# text: image placeholders with table-cell captions, a source line, a comment counter.
SEED_000 = [
    ("image", "![]() |"),
    ("caption", "Vietnam Industrial Park Finance Association og Vietnam-Japan Economic Association forventer"),
    (KEEP, "Arrangementet regnes som en viktig milepæl"),
    (KEEP, "Seremonien ble deltatt av Dr. Phan Huu Thang"),
    (KEEP, "Delegatenes tilstedeværelse viser"),
    (KEEP, "Dr. Phan Huu Thang, tidligere direktør for avdelingen"),
    (KEEP, "Dr. Phan Huu Thang understreket"),
    (KEEP, "I følge det signerte referatet"),
    (KEEP, "I tillegg fremmet de to sidene"),
    ("image", "![]() |"),
    ("caption", "Oversikt over arbeidsøkten. |"),
    (KEEP, "Med en langsiktig visjon"),
    (KEEP, "I tillegg ble de to sidene enige"),
    (KEEP, "I en tale på arrangementet"),
    (KEEP, "Ifølge generalkonsulen er"),
    ("image", "![]() |"),
    ("caption", "Den vietnamesiske generalkonsulen i Osaka"),
    (KEEP, "Ved denne anledningen overrakte"),
    (KEEP, "Ifølge representanten for organiseringskomiteen"),
    (KEEP, "Arrangementet bekrefter den voksende rollen"),
    (KEEP, "Samtidig er dette en tydelig demonstrasjon"),
    ("source", "Kilde: https://baoquocte.vn/"),
    ("comments", "Kommentar (0)"),
]

# seeds/004: the same kind of site, with a site banner, the headline, a byline/date
# run-together, image file names with captions, a credit, and after the article the
# comment widget, empty widgets, related-headline lists and a category menu.
SEED_004 = [
    ("short", "Vietnam.vn - Nền tảng"),
    ("title", "Japansk ambassadør: Vietnam er en viktig"),
    (KEEP, "Ambassadør Ito Naoki så tilbake"),
    ("dateline", "VietnamPlusVietnamPlus21/09/2025"),
    (KEEP, "Innenfor rammen av det omfattende"),
    (KEEP, "Dette var andelene til den japanske"),
    (KEEP, "Styrking av fire viktige samarbeidsgrupper"),
    (KEEP, "Den 21. september 1973 opprettet"),
    (KEEP, "I november 2023, i anledning 50-årsjubileet"),
    ("image", "3-1.jpg"),
    ("caption", "Japans statsminister Ishiba Shigeru og hans kone"),
    (KEEP, "Under den japanske statsministeren"),
    (KEEP, "Ambassadør Ito Naoki bekreftet at det bilaterale"),
    (KEEP, "De to sidene har identifisert"),
    (KEEP, "Vitenskap og teknologi, innovasjon"),
    ("image", "ttxvn-ton-vinh-tieng-viet-3.jpg"),
    ("caption", "Konferansescene i Fukuoka-provinsen"),
    (KEEP, "Ifølge den japanske ambassadøren vil"),
    (KEEP, "Innen kunstig intelligens samarbeider"),
    (KEEP, "Innen grønn omstilling og energi"),
    ("image", "ttxvn-hoi-nghi-tuong-lai-chau-a-3.jpg"),
    ("caption", "Visestatsminister Nguyen Chi Dung"),
    (KEEP, "Ifølge Naoki fortsetter Japan"),
    (KEEP, "Nylig ble Yen Xa avløpsrenseanlegg"),
    (KEEP, "Ambassadøren understreket også"),
    (KEEP, "Når det gjelder sikkerhet og forsvar"),
    ("image", "nhat-ban22.jpg"),
    ("caption", "Kunstperformance for å feire"),
    (KEEP, "Når det gjelder kulturell og mellommenneskelig"),
    (KEEP, "Fotballsamarbeidet mellom"),
    (KEEP, "Klar til å følge Vietnam"),
    (KEEP, "Ambassadør Ito Naoki delte med pressen"),
    (KEEP, "Japan forventer at reformer"),
    ("image", "z7035218971417-"),
    ("caption", "Japans ambassadør i Vietnam, Ito Naoki, taler"),
    (KEEP, "«Vietnam fokuserer for tiden"),
    (KEEP, "Ifølge ambassadør Ito Naoki må Vietnam"),
    (KEEP, "Med resolusjon 68"),
    ("image", "ttxvn-hai-thu-tuong"),
    ("caption", "Statsminister Pham Minh Chinh"),
    (KEEP, "Ambassadøren la til at Japan"),
    (KEEP, "Ambassadør Ito Naoki delte sine personlige"),
    (KEEP, "«Blikket og entusiasmen deres"),
    ("credit", "(Vietnam+)"),
    ("source", "Kilde: https://www.vietnamplus.vn/"),
    ("comments", "Kommentar (0)"),
    ("empty_widget", "No data"),
    ("empty_widget", "No data"),
    ("related", "I samme emne"),
    ("related", "I samme kategori"),
    ("related", "G-Dragon eksploderte"),
    ("related", "Kvinnelig fan har på seg brudekjole"),
    ("related", "Fascinert av skjønnheten"),
    ("related", "Me Tris unge ris"),
    ("related", "Av samme forfatter"),
    ("related", "Arv"),
    ("related", "Figur"),
    ("related", "Forretninger"),
    ("related", "Me Tris unge ris"),
    ("related", "Aktuelle hendelser"),
    ("related", "Det politiske systemet"),
    ("related", "Lokalt"),
    ("related", "Produkt"),
]


def _seed(prefix: str) -> str:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("seed", "expected"), [("000", SEED_000), ("004", SEED_004)])
def test_every_line_is_cut_as_a_reader_would(seed: str, expected: list) -> None:
    result = clean_text(_seed(seed))
    got = [(d.reason, d.text) for d in result.decisions]
    assert len(got) == len(expected), [t[:40] for _, t in got]
    for (reason, text), (want_reason, want_prefix) in zip(got, expected, strict=True):
        assert text.startswith(want_prefix), (text[:60], want_prefix)
        assert reason == want_reason, f"{text[:60]!r}: got {reason}, want {want_reason}"


def test_seed_000_harvests_source_and_captions() -> None:
    result = clean_text(_seed("000"))
    assert result.source_url == ("https://baoquocte.vn/thuc-day-chuyen-giao-cong-nghe-va-"
                                 "dau-tu-sinh-thai-viet-nam-nhat-ban-330418.html")
    assert result.captions[1] == "Oversikt over arbeidsøkten."
    assert len(result.captions) == 3
    assert not any("|" in c for c in result.captions)
    assert result.body.startswith("Arrangementet regnes som en viktig milepæl")
    assert result.body.endswith("mer enn et halvt århundre.")
    assert "\n\n" in result.body and "Kommentar" not in result.body


def test_seed_004_headline_source_captions_and_stats() -> None:
    result = clean_text(_seed("004"))
    assert result.headline == "Japansk ambassadør: Vietnam er en viktig og uerstattelig partner"
    assert result.source_url.startswith("https://www.vietnamplus.vn/dai-su-nhat-ban")
    assert len(result.captions) == 6
    assert result.captions[1] == "Konferansescene i Fukuoka-provinsen (Japan). (Foto: Pham Tuan/VNA)"
    stats = result.stats()
    assert stats.lines_kept == len(result.paragraphs) == 28
    assert stats.lines_removed == len(result.removed) == sum(stats.reasons.values())
    assert stats.reasons["related"] == 15
    assert stats.chars_removed == sum(len(d.text) for d in result.removed)
    assert result.body.endswith("bekreftet ambassadør Ito Naoki.")


def test_a_given_title_is_cut_from_the_top_only() -> None:
    text = "Big news today\n\n" + "The council said on Monday that the plan is going ahead as it was agreed. " * 2
    result = clean_text(text, title="Big news today")
    assert result.removed[0].reason == "title"
    assert result.paragraphs[0].startswith("The council said")
