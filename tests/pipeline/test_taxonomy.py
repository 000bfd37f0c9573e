"""Taxonomy core: loader validation, Aho–Corasick matching, disambiguation, evidence."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from pipeline.taxonomy import TaxonomyError, TermMatcher, TopicTagger, fold, load_taxonomy
from pipeline.taxonomy.matcher import Entry
from pipeline.taxonomy.schema import DATA_DIR
from schemas.routes import TAGS

IPTC = {"energy": "medtop:20000256", "semiconductors": "medtop:20000230",
        "defense": "medtop:20000598", "culture": "medtop:01000000"}


@pytest.fixture(scope="module")
def tagger() -> TopicTagger:
    return TopicTagger()


def tags(tagger: TopicTagger, body: str, lang: str, title: str = "") -> list[str]:
    return [t.tag for t in tagger.tag(title, body, lang)]


# --- the taxonomy files -----------------------------------------------------------------

def test_shipped_taxonomy_covers_required_languages_and_tags() -> None:
    taxonomy = load_taxonomy()
    assert {"en", "nb", "nn", "vi", "de", "fr", "es"} <= set(taxonomy.languages)
    assert {t: s.iptc_code for t, s in taxonomy.tags.items()} == IPTC
    for code, lang in taxonomy.languages.items():
        assert set(lang.tags) == set(TAGS), code
        for tag, terms in lang.tags.items():
            assert len(terms.terms) >= 10, (code, tag)


def test_nynorsk_extends_bokmal() -> None:
    taxonomy = load_taxonomy()
    nb, nn = taxonomy.languages["nb"], taxonomy.languages["nn"]
    assert set(nb.tags["defense"].terms) <= set(nn.tags["defense"].terms)
    assert "forfattar*" in nn.tags["culture"].terms
    assert "forfattar*" not in nb.tags["culture"].terms


def _write(tmp: Path, tags_yaml: str, **langs: str) -> Path:
    (tmp / "terms").mkdir()
    (tmp / "tags.yaml").write_text(tags_yaml, encoding="utf-8")
    for code, text in langs.items():
        (tmp / "terms" / f"{code}.yaml").write_text(text, encoding="utf-8")
    return tmp


TAGS_OK = (DATA_DIR / "tags.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("body, message", [
    ("language: xx\ntags:\n  energy:\n    terms:\n      oil: 0\n", "non-zero"),
    ("language: xx\ntags:\n  energy:\n    terms:\n      o*il: 1\n", "only start or end"),
    ("language: xx\ntags:\n  weather:\n    terms:\n      rain: 1\n", "unknown tags"),
    ("language: xx\ntags:\n  energy:\n    terms:\n      oil: 1\n      oil: 2\n", "twice"),
    ("language: xx\ntags:\n  energy:\n    context:\n      oil: -1\n", "positive"),
    ("language: xx\ntags:\n  energy:\n    terms:\n      oil: 1\n    context:\n      oil: 1\n",
     "both"),
    ("language: yy\ntags: {}\n", "expected 'xx'"),
    ("language: xx\nextends: [xx]\ntags: {}\n", "loops"),
    ("language: xx\ntags:\n  energy:\n    termz:\n      oil: 1\n", "termz"),
])
def test_invalid_taxonomy_is_refused_with_a_reason(tmp_path: Path, body: str, message: str):
    _write(tmp_path, TAGS_OK, xx=body)
    with pytest.raises(TaxonomyError, match=message):
        load_taxonomy(tmp_path)


@pytest.mark.parametrize("change, missing, unknown", [
    (lambda tags: tags.pop("culture"), "['culture']", "[]"),
    (lambda tags: tags.update(weather=tags["energy"]), "[]", "['weather']"),
    (lambda tags: tags.update(defence=tags.pop("defense")), "['defense']", "['defence']"),
])
def test_tags_yaml_must_define_exactly_the_routes_tags(tmp_path: Path, change, missing: str,
                                                       unknown: str) -> None:
    spec = yaml.safe_load(TAGS_OK)
    change(spec["tags"])
    _write(tmp_path, yaml.safe_dump(spec), xx="language: xx\ntags: {}\n")
    with pytest.raises(TaxonomyError) as refused:
        load_taxonomy(tmp_path)
    message = str(refused.value)
    assert "tags.yaml" in message and "schemas.routes.TAGS" in message
    assert f"missing {missing}, unknown {unknown}" in message


def test_the_shipped_tags_are_the_routes_tags() -> None:
    assert list(load_taxonomy().tags) == list(TAGS)


def test_adding_a_language_is_adding_a_file(tmp_path: Path) -> None:
    _write(tmp_path, TAGS_OK, it="language: it\ntags:\n  energy:\n    terms:\n"
                                 "      petrolio: 3\n      \"*elettric*\": 3\n")
    tagger = TopicTagger(load_taxonomy(tmp_path))
    assert list(tagger.taxonomy.languages) == ["it"]
    result = tagger.tag("Prezzo del petrolio", "La rete idroelettrica e il petrolio.", "it")
    assert [t.tag for t in result] == ["energy"]


# --- the matcher ------------------------------------------------------------------------

def _matcher(*terms: str) -> TermMatcher:
    return TermMatcher(Entry(t, "energy", 1.0, "anchor") for t in terms)


def test_whole_words_only_unless_starred() -> None:
    m = _matcher("oil", "vindkraft*", "*kraftverk", "*gassfelt*")
    assert m.find("boil the toilet") == []
    assert [h.term for h in m.find("Oil, oil!")] == ["oil", "oil"]
    assert [h.term for h in m.find("vindkraftverket havgassfeltene atomkraftverk")] == [
        "vindkraft*", "*gassfelt*", "*kraftverk"]


def test_longest_match_wins_and_spans_cover_the_word() -> None:
    m = TermMatcher([Entry("defence", "defense", 1.0, "context"),
                     Entry("defence lawyer*", None, 0.0, "exclude"),
                     Entry("forsvars*", "defense", 1.0, "anchor"),
                     Entry("forsvarsadvokat*", None, 0.0, "exclude")])
    text = "The Defence lawyers said forsvarsadvokaten and forsvarsindustrien"
    hits = m.find(text)
    assert [(h.term, text[h.start:h.end]) for h in hits] == [
        ("defence lawyer*", "Defence lawyers"),
        ("forsvarsadvokat*", "forsvarsadvokaten"),
        ("forsvars*", "forsvarsindustrien")]


def test_capitalised_terms_match_only_capitalised() -> None:
    m = TermMatcher([Entry("Forsvaret", "defense", 2.0, "anchor")])
    text = ("Sjefen i Forsvaret kjøper fly. Laget styrket forsvaret. Forsvaret sto godt. "
            "NÅ VARSLER FORSVARET")
    assert [(h.start, text[h.start:h.end]) for h in m.find(text)] == [
        (9, "Forsvaret"), (text.index("FORSVARET"), "FORSVARET")]


def test_fold_keeps_offsets_and_unifies_vietnamese_tone_placement() -> None:
    for text in ("İstanbul ŞİRKETİ", "Straße", "HOÁ", "thuỷ điện"):
        assert len(fold(text)) == len(text)
    assert fold("văn hoá") == fold("văn hóa")
    assert fold("thuỷ điện") == fold("Thủy điện")


# --- tagging: compounds, disambiguation, evidence ----------------------------------------

def test_norwegian_compounds_match(tagger: TopicTagger) -> None:
    body = ("Selskapet satser på havvindkraft og bygger ut halvlederfeltet, mens "
            "forsvarsindustrien får nye kontrakter.")
    hits = {h.term: body[h.start:h.end] for h in tagger.matcher_for("nb").find(body)}
    assert hits["*vindkraft*"] == "havvindkraft"
    assert hits["halvleder*"] == "halvlederfeltet"
    assert hits["forsvarsindustri*"] == "forsvarsindustrien"


def test_german_compounds_match(tagger: TopicTagger) -> None:
    body = "Die Halbleiterindustrie und das Kohlekraftwerk; Rüstungsexporte steigen."
    found = {body[h.start:h.end] for h in tagger.matcher_for("de").find(body)}
    assert {"Halbleiterindustrie", "Kohlekraftwerk", "Rüstungsexporte"} <= found


@pytest.mark.parametrize("lang, title, body", [
    ("en", "Jury hears closing arguments",
     "The defence lawyer told the jury that the defence would call no more witnesses. "
     "The defence case rests on the evidence of one neighbour, the judge said, and the "
     "trial will resume on Monday. Counsel for the defence asked for a short adjournment."),
    ("en", "United hold on",
     "United's defence held firm in the second half. The goalkeeper made three saves and "
     "the defence coped well with the crosses; the manager praised his back four and the "
     "defensive shape of the team after the match."),
    ("nb", "Dommen faller i morgen",
     "Forsvareren til den tiltalte mener retten må frifinne. Forsvarsadvokaten sa i sin "
     "forsvarstale at bevisene er svake, og forsvareren ba om full frifinnelse."),
    ("en", "Chips with everything",
     "The chef serves fish and chips, potato chips and chocolate chip cookies; the poker "
     "night ended when the last blue chip investor cashed his chips."),
    ("en", "Power struggle in the party",
     "The prime minister clings to power as the power struggle inside the party grows. "
     "Rivals say he came to power promising reform and now uses his power to block it."),
    ("nb", "En energisk forestilling",
     "Hun er energisk og full av energi på scenen."),
    ("nb", "Rosenborg slo tilbake",
     "Rosenborg slo tilbake etter pause. Forsvaret deres sto godt, og keeperen reddet to "
     "straffer; treneren roste forsvaret og forsvarsspillerne etter kampen, men sa at "
     "forsvaret må bli bedre før neste runde."),
    ("de", "Urteil im Betrugsprozess",
     "Der Verteidiger forderte einen Freispruch. Die Verteidigung kündigte Berufung an, "
     "nachdem das Gericht den Angeklagten verurteilt hatte; der Strafverteidiger sprach "
     "von einem Fehlurteil."),
    ("vi", "Đội tuyển thắng đậm",
     "Hàng phòng ngự chơi chắc chắn, hậu vệ cánh tấn công liên tục và đội bóng giành "
     "chiến thắng thuyết phục trong trận đấu tối qua."),
])
def test_other_senses_do_not_give_the_tag(tagger, lang: str, title: str, body: str) -> None:
    found = tags(tagger, body, lang, title)
    assert "defense" not in found and "semiconductors" not in found
    assert "energy" not in found


@pytest.mark.parametrize("lang, title, body, tag", [
    ("en", "Ministry raises defence spending",
     "The defence ministry said military spending will rise, with new fighter jets, "
     "warships and missile defence systems ordered for the armed forces.", "defense"),
    ("en", "Chip shortage hits carmakers",
     "A global chip shortage has forced carmakers to cut output; chipmakers such as TSMC "
     "say new semiconductor fabs will not be ready before 2027.", "semiconductors"),
    ("en", "Power prices soar",
     "Electricity prices rose after two power plants shut and gas supplies fell; the "
     "grid operator warned of blackouts this winter.", "energy"),
    ("nb", "Forsvaret kjøper nye kampfly",
     "Forsvarsministeren sier at Forsvaret trenger flere soldater og nye fregatter.",
     "defense"),
    ("vi", "Bộ Quốc phòng tổ chức tập trận",
     "Quân đội và hải quân tham gia tập trận với tàu ngầm và máy bay chiến đấu.", "defense"),
    ("vi", "Nhà máy bán dẫn mới",
     "Công ty đầu tư vào sản xuất chip và chất bán dẫn, vi mạch cho xe điện.",
     "semiconductors"),
    ("de", "Neuer Roman", "Die Autorin liest aus ihrem Roman; das Theater zeigt die "
     "Inszenierung, und im Museum ist eine Ausstellung zu sehen.", "culture"),
    ("fr", "Le prix du pétrole", "Le prix du pétrole et du gaz naturel monte; la centrale "
     "nucléaire et les parcs éoliens produisent moins d'électricité.", "energy"),
    ("es", "Nuevo álbum", "La cantante presenta su nuevo álbum en un concierto; el cine y "
     "la literatura también protagonizan el festival.", "culture"),
])
def test_clear_cases_get_the_tag(tagger, lang, title, body, tag) -> None:
    assert tags(tagger, body, lang, title) == [tag]


def test_evidence_points_at_the_matched_text(tagger: TopicTagger) -> None:
    title = "Oil prices climb as OPEC cuts output"
    body = ("Crude oil rose 2% after OPEC agreed to cut output by one million barrels "
            "per day. Refinery margins widened and natural gas followed.")
    [topic] = tagger.tag(title, body, "en")
    assert topic.tag == "energy" and topic.iptc_code == IPTC["energy"]
    assert topic.score >= tagger.taxonomy.tags["energy"].threshold
    fields = {"title": title, "body": body}
    assert {e.field for e in topic.evidence} == {"title", "body"}
    for e in topic.evidence:
        matched = fields[e.field][e.start:e.end].lower()
        assert matched.startswith(e.term.strip("*").split()[0]) or e.term.startswith("*")
        assert e.term.strip("*") in matched
        assert e.weight > 0


def test_title_and_lead_weigh_more_than_body(tagger: TopicTagger) -> None:
    filler = "The committee met again on Thursday to discuss the agenda. " * 30
    mention = "Oil and natural gas prices were discussed. "
    in_title = tagger.score(mention, filler, "en")["energy"].score
    in_lead = tagger.score("", mention + filler, "en")["energy"].score
    in_body = tagger.score("", filler + mention, "en")["energy"].score
    assert in_title > in_lead > in_body > 0


def test_longer_text_needs_more_evidence(tagger: TopicTagger) -> None:
    text = "Crude oil and natural gas output rose. "
    filler = " The council also discussed parking, schools and the new library." * 60
    assert tagger.score("", text, "en")["energy"].score > \
        tagger.score("", text + filler, "en")["energy"].score


def test_unknown_language_falls_back_to_all_terms(tagger: TopicTagger) -> None:
    body = "Nvidia and TSMC semiconductor chipmakers; halvlederindustrien."
    assert tags(tagger, body, "und") == ["semiconductors"]
    assert tags(tagger, body, "pt") == ["semiconductors"]


def test_no_text_no_tags(tagger: TopicTagger) -> None:
    assert tagger.tag("", "", "en") == []
    assert tagger.tag("", "", "zz") == []


@pytest.mark.parametrize("body", [
    "oil " * 250_000,  # a megabyte of one term: hits are capped, windows sampled
    "crude oil film army chip " * 40_000,
    "a" * 1_000_000,
])
def test_work_is_bounded_on_machine_made_bodies(tagger: TopicTagger, body: str) -> None:
    start = time.perf_counter()
    for language in ("en", "und"):
        tagger.tag("", body, language)
    assert time.perf_counter() - start < 5.0
    assert "energy" not in tags(tagger, "oil " * 250_000, "en")  # one word is not a topic


def test_vietnamese_typed_without_diacritics_is_tagged_by_its_phrases() -> None:
    tagger = TopicTagger()
    accented = ("Giá xăng dầu tăng mạnh", "Giá xăng RON 95 tăng 500 đồng mỗi lít. Giá dầu thô "
                "thế giới tăng, Bộ Công Thương cho biết nguồn cung xăng dầu vẫn đảm bảo.")
    plain = ("Gia xang dau tang manh", "Gia xang RON 95 tang 500 dong moi lit. Gia dau tho "
             "the gioi tang, Bo Cong Thuong cho biet nguon cung xang dau van dam bao.")
    [tag] = tagger.tag(*plain, "vi")
    assert tag.tag == "energy"
    assert {e.term for e in tag.evidence} >= {"gia xang", "xang dau", "gia dau"}
    # with their diacritics, only the accented spellings are evidence: none counts twice
    evidence = {e.term for e in tagger.score(*accented, "vi")["energy"].evidence}
    assert {"giá xăng", "xăng dầu", "giá dầu"} <= evidence
    assert not evidence & {"gia xang", "xang dau", "gia dau", "dau tho"}
    # single syllables stay accented only: "dau" is oil, head or pain
    assert tagger.tag("Dau dau ca ngay", "Toi bi dau dau va dau bung ca ngay hom qua, "
                      "phai nghi lam o nha va uong thuoc.", "vi") == []
