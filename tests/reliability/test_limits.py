"""Limits: size checks before the stages, a time limit that works inside Beam DoFns, and
regular expressions that answer in time on lines built to make them backtrack."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.clean import CleanArticles
from pipeline.limits import ArticleLimits, EnforceLimits, TimeLimitedCall, check_article
from pipeline.stage import ARTICLES, DEAD_LETTER, guard_stage
from schemas.failures import Stage, StageError
from schemas.models import Article, Provenance, ProvenanceKind

from . import hostile

_PROVENANCE = Provenance(kind=ProvenanceKind.KAFKA, topic="t", partition=0, offset=1)


def _article(**fields) -> Article:
    base = {"id": "a", "url": "https://x.example/a", "canonical_url": "https://x.example/a",
            "body": "Some text.", "provenance": _PROVENANCE}
    return Article(**{**base, **fields})


@pytest.mark.parametrize(("fields", "reason"), [
    ({"body": "x" * 1_000_001}, "BodyTooLong"),
    ({"html": "<p>" + "x" * 5_000_000}, "HtmlTooLarge"),
    ({"html": "<b>" * 50_001}, "TooManyTags"),
    ({"url": "https://x.example/" + "a" * 10_000}, "FieldTooLong"),
    ({"title": "t" * 10_001}, "FieldTooLong"),
])
def test_check_article_names_the_limit_a_record_exceeds(fields, reason) -> None:
    with pytest.raises(StageError) as raised:
        check_article(_article(**fields))
    assert raised.value.error_class == reason and "limit" in str(raised.value)


def test_check_article_passes_real_articles_and_limits_can_be_disabled() -> None:
    article = _article(body="word " * 50_000, html="<p>x</p>" * 5_000)
    assert check_article(article) is article
    huge = _article(body="x" * 2_000_000)
    assert check_article(huge, ArticleLimits(max_body_chars=0)) is huge
    with pytest.raises(ValueError, match="max_html_tags"):
        ArticleLimits(max_html_tags=-1)


def test_check_article_is_fast_on_a_page_of_a_million_tags() -> None:
    article = _article(html="<p>" * 1_000_000)  # 3 MB: under the size limit, not the tags
    started = time.perf_counter()
    with pytest.raises(StageError, match="tags"):
        check_article(article)
    assert time.perf_counter() - started < 0.5


def test_enforce_limits_sends_records_over_a_limit_to_the_dead_letter_output() -> None:
    small, big = _article(id="small"), _article(id="big", body="x" * 20)
    with TestPipeline() as p:
        outputs = (p | beam.Create([small, big])
                   | EnforceLimits(ArticleLimits(max_body_chars=15)))
        assert_that(outputs[ARTICLES] | "Ids" >> beam.Map(lambda a: a.id), equal_to(["small"]),
                    label="kept")
        assert_that(outputs[DEAD_LETTER] | "Reasons" >> beam.Map(
            lambda d: (d.stage, d.error_class)), equal_to([("limits", "BodyTooLong")]),
            label="dead")


@pytest.fixture(scope="module")
def slow_call():
    call = TimeLimitedCall("tests.reliability.targets:regex_bomb", 1.0)
    yield call
    call.close()


def test_time_limited_call_stops_a_backtracking_regex_and_recovers(slow_call) -> None:
    assert slow_call(5) is False  # fast input: the answer
    started = time.perf_counter()
    with pytest.raises(StageError) as raised:
        slow_call(40)  # (a+)+$ on 40 a's: hours, all inside one C call holding the GIL
    assert raised.value.error_class == "StageTimeout"
    assert time.perf_counter() - started < 5
    assert slow_call(6) is False  # a fresh child answers the next record


def test_time_limited_call_reports_errors_by_class() -> None:
    call = TimeLimitedCall("tests.reliability.targets:fail", 30)
    try:
        with pytest.raises(StageError) as stage:
            call("stage")
        assert stage.value.error_class == "EmptyAfterCleaning"
        with pytest.raises(StageError) as other:
            call("boom")
        assert other.value.error_class == "KeyError"
    finally:
        call.close()


def test_time_limited_call_refuses_a_bad_configuration() -> None:
    with pytest.raises(ValueError):
        TimeLimitedCall("tests.reliability.targets:echo", 0)
    with pytest.raises((ValueError, AttributeError, ImportError)):
        TimeLimitedCall("tests.reliability.targets:nope", 1)


class _SlowStageFn(beam.DoFn):
    """A stage whose core is called through TimeLimitedCall, as a stage owner would wire it."""

    def setup(self) -> None:
        self._call = TimeLimitedCall("tests.reliability.targets:regex_bomb", 2.0)

    def process(self, article: Article):
        yield from guard_stage(Stage.CLEAN, article, lambda a: a.model_copy(
            update={"title": str(self._call(len(a.body)))}))

    def teardown(self) -> None:
        self._call.close()


def test_a_timed_out_record_becomes_a_stage_timeout_dead_letter_inside_beam() -> None:
    fast, slow = _article(id="fast", body="a" * 5), _article(id="slow", body="a" * 40)
    with TestPipeline() as p:
        outputs = (p | beam.Create([fast, slow])
                   | beam.ParDo(_SlowStageFn()).with_outputs(DEAD_LETTER, main=ARTICLES))
        assert_that(outputs[ARTICLES] | "Ids" >> beam.Map(lambda a: a.id), equal_to(["fast"]),
                    label="kept")
        assert_that(outputs[DEAD_LETTER] | "Reasons" >> beam.Map(
            lambda d: (d.stage, d.error_class)), equal_to([("clean", "StageTimeout")]),
            label="dead")


def test_the_graph_enforces_the_limits_before_cleaning() -> None:
    """For the lead: ``ProcessArticles`` should apply ``EnforceLimits`` after parsing."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.graph import ProcessArticles

    pipeline = beam.Pipeline(options=PipelineOptions([]))
    _ = pipeline | beam.Create([]) | ProcessArticles()
    labels = {t.unique_name for t in pipeline.to_runner_api().components.transforms.values()}
    labels = {label.rsplit("/", 1)[-1] for label in labels}
    assert "EnforceLimits" in labels, "ProcessArticles does not apply EnforceLimits"


# Lines built against the chrome patterns: each must be decided within the time limit.
_ADVERSARIAL = {
    "breadcrumb segments then a bar": "ab / " * 26 + "|",
    "breadcrumb segments then an arrow": "Home / News / " * 12 + ">",
    "spaces then a bang": "a " * 600 + "!",
    "dots": "." * 1200,
    "nested parentheses": "(" * 600 + "x",
    "share words": "share " * 200 + "?",
    "cookie words": "cookies " * 100 + "use " * 100 + "x",
    "commas": "a," * 600,
    "click here repeated": "click here " * 100 + ".",
    "subscribe repeated": "subscribe " * 100 + "x" * 200,
}


@pytest.fixture(scope="module")
def chrome_reason():
    call = TimeLimitedCall("tests.reliability.targets:chrome_reason", 2.0)
    yield call
    call.close()


@pytest.mark.parametrize("line", list(_ADVERSARIAL.values()), ids=list(_ADVERSARIAL))
def test_chrome_patterns_answer_in_time_on_adversarial_lines(chrome_reason, line: str) -> None:
    try:
        chrome_reason(line)
    except StageError as exc:
        pytest.fail(f"{exc.error_class}: a {len(line)}-character line: {exc}")


def test_limit_flags_parse_into_article_limits() -> None:
    import argparse

    from newsbeam.options import NewsbeamOptions, limits_from_options

    parser = argparse.ArgumentParser()
    NewsbeamOptions._add_argparse_args(parser)
    limits = limits_from_options(parser.parse_args(["--max-body-chars", "5000",
                                                    "--max-html-tags", "0"]))
    assert limits == ArticleLimits(max_body_chars=5000, max_html_tags=0)
    assert limits_from_options(argparse.Namespace()) == ArticleLimits()


def test_the_limits_are_configurable_on_the_command_line() -> None:
    """``NewsbeamOptions`` declares the limit flags and ``stage_settings`` hands them to
    ``ProcessArticles`` (``EnforceLimits``)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from newsbeam.options import stage_settings

    options = PipelineOptions(["--max-body-chars", "5000"])
    assert stage_settings(options).limits.max_body_chars == 5000


# ------------------------------------------- the cleaning stage's HTML time limit (issue 15)

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
_NO_MAIN_CONTENT = "<html><head><script>var a;</script></head><body></body></html>"


def _page(offset: int, html: str, body: str = "") -> Article:
    url = f"https://site{offset}.example/news/{offset}"
    return _article(id=f"page-{offset}", url=url, canonical_url=url, body=body, html=html,
                    source=f"site{offset}", provenance=_PROVENANCE.model_copy(
                        update={"offset": offset}))


def _keyed(outputs, side: str) -> beam.PCollection:
    """Both outputs of a cleaning run as (offset, record type + JSON but the failure time)."""
    return ((outputs[ARTICLES], outputs[DEAD_LETTER]) | f"Flatten{side}" >> beam.Flatten()
            | f"Key{side}" >> beam.Map(lambda r: (r.provenance.offset, type(r).__name__
                                                  + r.model_dump_json(exclude={"failed_at"}))))


def _same_on_both_sides(offsets: list[int]):
    def check(rows) -> None:
        assert sorted(offset for offset, _ in rows) == offsets, rows
        for offset, sides in rows:
            assert len(sides["on"]) == len(sides["off"]) == 1, (offset, sides)
            assert sides["on"] == sides["off"], f"offset {offset}: {sides}"
    return check


def test_with_the_html_time_limit_pages_are_cleaned_exactly_as_without_it() -> None:
    """The child's extraction (JSON both ways) gives the same records: body, metadata,
    captions, stats; and the same dead letter where the page has nothing to keep."""
    inputs = [_page(i, path.read_text(encoding="utf-8"))
              for i, path in enumerate(sorted(SEEDS.glob("*.html")), start=1)]
    assert len(inputs) >= 2
    inputs += [_page(10, _NO_MAIN_CONTENT, body=(SEEDS / "000_0dc1abbf165201b3.txt").read_text(
                   encoding="utf-8")),  # no main content: the body is cleaned instead
               _page(11, _NO_MAIN_CONTENT),  # nothing to keep: EmptyAfterCleaning
               _article(id="text", body="Plain text. " * 20, source="text",
                        provenance=_PROVENANCE.model_copy(update={"offset": 12}))]
    with TestPipeline() as p:
        articles = p | beam.Create(inputs)
        off = _keyed(articles | "Off" >> CleanArticles(), "Off")
        on = _keyed(articles | "On" >> CleanArticles(html_time_limit_seconds=60), "On")
        joined = {"on": on, "off": off} | beam.CoGroupByKey()
        assert_that(joined, _same_on_both_sides(sorted(a.provenance.offset for a in inputs)))
        assert_that(on | "Types" >> beam.Map(lambda kv: (kv[0], kv[1].split("{", 1)[0])),
                    equal_to([(1, "Article"), (2, "Article"), (10, "Article"),
                              (11, "DeadLetter"), (12, "Article")]), label="types")


@pytest.mark.slow
def test_a_page_extracted_past_the_html_time_limit_is_a_stage_timeout_dead_letter() -> None:
    """The hostile corpus's page of a million <p>s (~50 s of extraction, measured) with
    the size limits out of the way: killed after 2 s, dead-lettered with the page kept,
    and the next page is cleaned by a fresh child."""
    slow_page = json.loads(hostile._million_tags())["html"]
    slow, normal = _page(1, slow_page), _page(2, next(SEEDS.glob("101_*.html")).read_text(
        encoding="utf-8"))
    digest = hashlib.sha256(slow_page.encode()).hexdigest()
    started = time.perf_counter()
    with TestPipeline() as p:
        outputs = p | beam.Create([slow, normal]) | CleanArticles(html_time_limit_seconds=2)
        assert_that(outputs[ARTICLES] | "Ids" >> beam.Map(lambda a: a.id),
                    equal_to(["page-2"]), label="kept")
        assert_that(outputs[DEAD_LETTER] | "Letters" >> beam.Map(lambda d: (
            d.stage, d.error_class, d.provenance.offset,
            hashlib.sha256(json.loads(d.payload)["html"].encode()).hexdigest())),
            equal_to([("clean", "StageTimeout", 1, digest)]), label="dead")
    assert time.perf_counter() - started < 40, "the page was extracted to the end"


@pytest.mark.slow
def test_the_html_time_limit_reaches_the_cleaning_stage_from_the_command_line(
        tmp_path: Path) -> None:
    """``newsbeam process --html-time-limit-seconds``: flag -> ``stage_settings`` ->
    ``ProcessArticles`` -> the cleaning DoFn, on the page of a million <p>s."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from connectors.avro_files import list_avro_files, read_avro_records
    from newsbeam.cli import main
    from newsbeam.options import stage_settings

    assert stage_settings(PipelineOptions([])).html_time_limit_seconds == 0.0
    assert stage_settings(PipelineOptions(["--html-time-limit-seconds", "5"])
                          ).html_time_limit_seconds == 5.0
    page = tmp_path / "page.jsonl"
    page.write_bytes(hostile._million_tags() + b"\n")
    out = tmp_path / "out"
    started = time.perf_counter()
    assert main(["process", "--input", str(page), "--output-dir", str(out),
                 "--html-time-limit-seconds", "2", "--max-html-chars", "0",
                 "--max-html-tags", "0"]) == 0
    assert time.perf_counter() - started < 60, "the page was extracted to the end"
    letters = [r for path in list_avro_files(str(out / "dead_letter"))
               for r in read_avro_records(path)]
    assert [(r["stage"], r["error_class"]) for r in letters] == [("clean", "StageTimeout")]
    assert json.loads(letters[0]["payload"])["id"] == "hostile-901"
