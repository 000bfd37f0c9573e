"""The text-mode line classifier on the extra seeds and on small cases per language."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.boilerplate import clean_text, line_key, load_rules

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

# Per seed: every removed line (opening words -> reason), in order, and the number of
# kept paragraphs. Everything not listed is article text and must be kept.
CASES = {
    "103_en_museum_reopens.txt": ([
        ("Skip to main content", "navigation"), ("Home | News", "navigation"),
        ("Harbour Museum reopens after", "title"), ("By Helen Marsh", "byline"),
        ("Published 14:32", "dateline"), ("Share this article", "share"),
        ("Advertisement", "advert"), ("photo_2026_03_04_museum.jpg", "image"),
        ("Visitors look up at the restored", "caption"), ("Read more: Council", "teaser"),
        ("Source: https://", "source"), ("Related stories", "related"),
        ("Lighthouse keepers", "related"), ("Town centre cinema", "related"),
        ("Volunteers wanted", "related"), ("Comments (4)", "comments"), ("© 2026", "rights"),
    ], 7),
    "104_vi_nha_may_chip.txt": ([
        ("Trang chủ > Kinh tế", "navigation"), ("Khởi công nhà máy", "title"),
        ("Thứ Hai, 02/03/2026", "dateline"), ("Chia sẻ", "share"), ("![]() |", "image"),
        ("Các đại biểu thực hiện", "caption"), ("Xem thêm:", "teaser"),
        ("Nguồn: https://", "source"), ("Bình luận (0)", "comments"),
        ("Tin liên quan", "related"), ("Thủ tướng làm việc", "related"),
        ("Xuất khẩu linh kiện", "related"), ("Hà Nội khai trương", "related"),
    ], 5),
    "105_de_bundeswehr_beschaffung.txt": ([
        ("Startseite › Politik", "navigation"), ("Bundeswehr bestellt weitere", "title"),
        ("Von Markus Adler", "dateline"), ("Teilen", "share"), ("Anzeige", "advert"),
        ("Foto: Soldaten bei einer Übung", "caption"), ("Mehr zum Thema", "related"),
        ("Nato-Gipfel", "related"), ("Rüstungsindustrie sucht", "related"),
        ("Quelle: https://", "source"), ("Kommentare (3)", "comments"),
    ], 6),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_extra_seeds_remove_exactly_the_chrome(name: str) -> None:
    removed, n_kept = CASES[name]
    result = clean_text((SEEDS / name).read_text(encoding="utf-8"))
    got = [(d.text, d.reason) for d in result.removed]
    assert len(got) == len(removed), [(t[:30], r) for t, r in got]
    for (text, reason), (prefix, want) in zip(got, removed, strict=True):
        assert text.startswith(prefix) and reason == want, (text[:50], reason, prefix, want)
    assert len(result.paragraphs) == n_kept
    assert result.source_url and result.source_url.startswith("https://")
    assert len(result.captions) == 1 and not result.captions[0].endswith("|")
    assert result.headline == next(d.text for d in result.removed if d.reason == "title")


PROSE = {
    "fr": "Le conseil municipal a voté mardi soir le nouveau budget de la ville, après un long débat sur les écoles et les transports.",
    "es": "El ayuntamiento aprobó el martes por la noche el nuevo presupuesto de la ciudad, tras un largo debate sobre las escuelas y el transporte.",
    "nn": "Kommunestyret vedtok tysdag kveld det nye budsjettet for byen, etter ein lang debatt om skulane og kollektivtrafikken i distriktet.",
    "de": "Der Stadtrat hat am Dienstagabend den neuen Haushalt der Stadt beschlossen, nach einer langen Debatte über die Schulen und den Verkehr.",
}
CHROME = {
    "fr": ["Partager", "À lire aussi : Le maire répond aux critiques", "Publicité",
           "Sur le même sujet", "Un nouveau pont pour la ville"],
    "es": ["Compartir", "Te puede interesar: El alcalde responde", "Publicidad",
           "Noticias relacionadas", "Un nuevo puente para la ciudad"],
    "nn": ["Del", "Les også: Ordføraren svarar på kritikken", "Annonse",
           "Relaterte saker", "Ny bru over elva"],
    "de": ["Teilen", "Lesen Sie auch: Der Bürgermeister antwortet", "Werbung",
           "Das könnte Sie auch interessieren", "Neue Brücke für die Stadt"],
}


@pytest.mark.parametrize("lang", sorted(PROSE))
def test_chrome_around_prose_goes_in_each_language(lang: str) -> None:
    share, teaser, advert, heading, headline = CHROME[lang]
    text = "\n".join([share, PROSE[lang], teaser, PROSE[lang].replace(",", ";"), advert,
                      PROSE[lang] + " 2", heading, headline])
    result = clean_text(text)
    assert len(result.paragraphs) == 3, result.decisions
    assert all(p.startswith(PROSE[lang][:20]) for p in result.paragraphs)


def test_subheading_between_paragraphs_is_kept_but_menu_runs_at_the_end_go() -> None:
    prose = PROSE["de"]
    text = "\n".join([prose, "Kritik aus der Opposition", prose + " Ende.", "Politik", "Sport",
                      "Kultur"])
    result = clean_text(text)
    assert result.paragraphs == [prose, "Kritik aus der Opposition", prose + " Ende."]
    assert result.stats().reasons == {"short": 3}


def test_related_list_ends_when_long_prose_resumes() -> None:
    prose = PROSE["fr"] * 2
    text = "\n".join([prose, "Related articles", "Headline one here", "Headline two here", prose + "!"])
    result = clean_text(text)
    assert result.paragraphs == [prose, prose + "!"]


def test_rules_load_and_validate() -> None:
    rules = load_rules()
    assert {"en", "nb", "nn", "vi", "de", "fr", "es"} <= set(rules.stoplists)
    assert rules.chrome_reason("Kommentar (0)") == "comments"
    assert rules.chrome_reason("The council met on Tuesday.") is None


def test_tables_and_parenthetical_asides_are_content() -> None:
    prose = PROSE["de"]
    text = "\n".join(["| Rang | Team | Punkte |", "|---|---|---|", "| 1. | Köln | 6 |", prose,
                      "(I know, a bold claim, right?)", prose + " Ende.", "| 2. | Mainz | 5 |"])
    result = clean_text(text, mode="extracted")
    assert result.removed == []


def test_all_caps_story_links_and_app_promos_go() -> None:
    prose = PROSE["fr"]
    text = "\n".join([prose, "SENATOR ELIMINATED FROM THE DANCE SHOW AFTER A TIGHT VOTE",
                      prose + " Encore.", "CLICK HERE TO GET THE NEWS APP", prose + " Fin.",
                      "WHAT HAPPENS NEXT", prose + " Suite."])
    result = clean_text(text, mode="extracted")
    assert [d.reason for d in result.removed] == ["teaser", "promo"]


def test_cookie_banners_go_but_cookie_recipes_stay() -> None:
    rules = load_rules()
    assert rules.chrome_reason("Wir verwenden Cookies und ähnliche Technologien, um Inhalte zu "
                               "personalisieren. Mit „Alle akzeptieren“ stimmen Sie zu.") == "cookie"
    assert rules.chrome_reason("We use cookies to personalise ads. Accept all?") == "cookie"
    assert rules.chrome_reason("The bakery's cookies use only butter, flour and sugar.") is None


def test_a_whole_page_read_as_text_keeps_the_article_only() -> None:
    from pipeline.boilerplate.html import page_text

    html = (SEEDS / "102_de_halbleiterwerk.html").read_text(encoding="utf-8")
    result = clean_text(page_text(html))
    assert result.headline == "Chipwerk in der Lausitz: Land sagt Fördergeld zu"
    assert result.paragraphs[0].startswith("Der geplante Halbleiterstandort")
    assert result.paragraphs[-1].startswith("Die Förderung muss noch")
    assert "Wasser und Fachkräfte als offene Fragen" in result.paragraphs
    assert len(result.paragraphs) == 7
    assert result.captions == ("Auf dieser Fläche am Stadtrand soll die Fabrik entstehen. "
                               "Foto: Jens Bauer",)


def test_headline_lists_next_to_chrome_go_even_without_a_known_heading() -> None:
    prose = PROSE["nn"] + " " + PROSE["nn"]
    text = "\n".join([prose, prose + " Slutt.", "Korkeasaaren karhut heräsivät jo tänä vuonna",
                      "Talviunet jäivät poikkeuksellisen lyhyiksi kaikilla",
                      "Uusi silta avataan ensi viikolla keskustassa",
                      "© 2026 Example Media"])
    result = clean_text(text)
    assert result.paragraphs == [prose, prose + " Slutt."]
    assert result.stats().reasons == {"link_list": 3, "rights": 1}


# Issue 20: learned chrome never empties an article or removes most of its text.

FLASH = ("Breaking: the regional grid operator said on Monday that a fire at a substation had "
         "cut electricity to 40,000 homes in the north, and warned of further power outages "
         "while the power grid runs close to its limit this week.")  # 221 characters
FOLLOW_UP = "Repair crews expect to reconnect most homes by Tuesday evening, the operator said."
NEWSLETTER = "The Harbour Weekly lands in your inbox every Friday with council news and tide tables."


def test_learned_chrome_that_would_empty_the_article_is_overruled() -> None:
    text = "\n".join([FLASH, "Share on Facebook"])
    learned = {line_key(FLASH), line_key("Share on Facebook")}  # every line
    result = clean_text(text, site_chrome=learned)
    assert result.paragraphs == [FLASH]
    # The fixed rules still apply: the share line goes, for its own reason.
    assert [(d.text, d.reason) for d in result.removed] == [("Share on Facebook", "share")]
    assert result.learned_chrome_overruled is True
    assert result.stats().learned_chrome_overruled is True
    assert result.stats().reasons == {"share": 1}


def test_learned_chrome_that_would_remove_most_of_the_text_is_overruled() -> None:
    # The flash (221 characters) is learned, the follow-up (82) is not: removing the flash
    # would leave well under half of the article.
    result = clean_text("\n".join([FLASH, FOLLOW_UP]), site_chrome={line_key(FLASH)})
    assert result.paragraphs == [FLASH, FOLLOW_UP]
    assert result.removed == [] and result.learned_chrome_overruled is True


def test_learned_chrome_that_removes_a_minor_part_is_applied() -> None:
    # The learned newsletter line (86 characters) is under a quarter of the article: it goes.
    text = "\n".join([FLASH, FOLLOW_UP, NEWSLETTER])
    assert clean_text(text).paragraphs == [FLASH, FOLLOW_UP, NEWSLETTER]  # no rule knows it
    result = clean_text(text, site_chrome={line_key(NEWSLETTER)})
    assert result.paragraphs == [FLASH, FOLLOW_UP]
    assert [(d.text, d.reason) for d in result.removed] == [(NEWSLETTER, "site_chrome")]
    assert result.learned_chrome_overruled is False
    assert result.stats().learned_chrome_overruled is False
