"""Language detection core: codes, Norwegian written standards, hints, short texts."""

from __future__ import annotations

import pytest

from pipeline.language import (
    UNDETERMINED,
    LanguageDetector,
    detect_language,
    normalise_language,
)

# Written for these tests (a few sentences of ordinary news prose per language).
TEXTS = {
    "en": "The government said on Tuesday that it would raise spending on schools and "
          "hospitals next year, after a long debate in parliament about the budget.",
    "nb": "Regjeringen sa tirsdag at den vil øke bevilgningene til skoler og sykehus neste "
          "år, etter en lang debatt på Stortinget om statsbudsjettet. Det er ikke sikkert "
          "at opposisjonen støtter forslaget.",
    "nn": "Regjeringa sa tysdag at ho vil auke løyvingane til skular og sjukehus neste år, "
          "etter ein lang debatt på Stortinget om statsbudsjettet. Det er ikkje sikkert at "
          "opposisjonen støttar framlegget, og fleire meiner at dei ikkje fekk nok tid.",
    "de": "Die Regierung kündigte am Dienstag an, im kommenden Jahr mehr Geld für Schulen "
          "und Krankenhäuser auszugeben, nachdem im Parlament lange über den Haushalt "
          "gestritten worden war.",
    "vi": "Chính phủ cho biết hôm thứ Ba rằng sẽ tăng chi tiêu cho trường học và bệnh viện "
          "trong năm tới, sau một cuộc tranh luận kéo dài tại quốc hội về ngân sách.",
    "fr": "Le gouvernement a annoncé mardi qu'il augmenterait les dépenses pour les écoles "
          "et les hôpitaux l'année prochaine, après un long débat au parlement sur le budget.",
    "es": "El gobierno anunció el martes que aumentará el gasto en escuelas y hospitales el "
          "próximo año, tras un largo debate en el parlamento sobre el presupuesto.",
}


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


@pytest.mark.parametrize("lang", sorted(TEXTS))
def test_detects_language_of_news_prose(detector: LanguageDetector, lang: str) -> None:
    code, confidence = detector.detect(TEXTS[lang])
    assert code == lang
    assert 0.5 < confidence <= 1.0


def test_bokmal_and_nynorsk_are_told_apart(detector: LanguageDetector) -> None:
    assert detector.detect(TEXTS["nb"])[0] == "nb"
    assert detector.detect(TEXTS["nn"])[0] == "nn"


def test_valid_producer_language_is_kept_with_full_confidence(detector) -> None:
    assert detector.detect(TEXTS["de"], hint="en") == ("en", 1.0)
    assert detector.detect(TEXTS["nb"], hint="no") == ("no", 1.0)
    assert detector.detect(TEXTS["en"], hint="EN-us") == ("en", 1.0)


@pytest.mark.parametrize("hint", ["english", "xx", "", "  ", "e1", "zz-ZZ"])
def test_invalid_producer_language_is_replaced_by_detection(detector, hint: str) -> None:
    assert detector.detect(TEXTS["de"], hint=hint)[0] == "de"


@pytest.mark.parametrize("text", ["", "   ", "12 345 678", "OK!", "!!! ??? ...", "<>"])
def test_too_little_text_is_undetermined(detector: LanguageDetector, text: str) -> None:
    assert detector.detect(text) == (UNDETERMINED, 0.0)


def test_short_text_gets_lower_confidence_than_long(detector: LanguageDetector) -> None:
    short_code, short_conf = detector.detect("Parliament debates the budget")
    long_code, long_conf = detector.detect(TEXTS["en"])
    assert short_code == long_code == "en"
    assert short_conf < long_conf


def test_normalise_language() -> None:
    assert normalise_language("nb-NO") == "nb"
    assert normalise_language("VI") == "vi"
    assert normalise_language("nob") is None  # ISO 639-2 is not accepted as 639-1
    assert normalise_language(None) is None


def test_module_level_function_matches_detector() -> None:
    assert detect_language(TEXTS["vi"])[0] == "vi"
    assert detect_language("", hint="fr") == ("fr", 1.0)


@pytest.mark.parametrize("headline, lang", [
    ("OIL PRICES RISE AS OPEC AGREES TO CUT OUTPUT", "en"),
    ("U.S. HOUSE PANEL CUTS SDI FUNDS", "en"),  # the full model says Nigerian Pidgin
    ("PHILLIPS PETROLEUM UNIT BUYS GAS FIELD", "en"),  # ... and Latin
    ("Regjeringen vil kutte skatten på strøm", "nb"),
    ("Giá xăng dầu tăng mạnh từ chiều nay", "vi"),
    ("Правительство повысит налоги в следующем году", "ru"),
])
def test_headlines(detector: LanguageDetector, headline: str, lang: str) -> None:
    code, confidence = detector.detect(headline)
    assert code == lang
    assert confidence < 0.75  # a headline is little evidence, and the confidence says so
