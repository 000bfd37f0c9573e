"""Issue 21 end to end: an archive of five undated articles, one dated article, then exact
copies of the five (new ids and URLs). Every copy must go to duplicates with its original
as ``duplicate_of``, in ``process`` (files, bounded), ``replay`` and ``run`` (Kafka).

Expected routing table, written by hand (not computed by the code under test): the dated
article must not expire the undated ones (an undated record takes the first real time
once one arrives, ``pipeline.similarity.clock``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.avro_files import list_avro_files, read_avro_records
from connectors.kafka.settings import KafkaClientSettings
from connectors.kafka.topics import ensure_topic, publish_values
from newsbeam.broker import EmbeddedBroker
from newsbeam.jobs import run_batch, run_streaming
from newsbeam.replay import run_replay

__all__ = ["archive_values"]

BODIES = [
    "The city council voted on Tuesday to extend the northern tram line by six kilometres, "
    "adding eight stops between the central station and the new hospital campus. Work is "
    "due to start next spring and the council expects the first trams to run within three "
    "years. Residents along the route raised concerns about noise and parking during the "
    "construction period, and the transport committee promised weekly public meetings. The "
    "regional government will cover forty percent of the cost, while the rest comes from a "
    "municipal bond approved last year by a large majority of voters.",
    "A volcanic eruption on the remote island forced the evacuation of two fishing villages "
    "overnight, according to the national civil protection agency. Lava flows reached the "
    "coastal road before dawn and ash clouds grounded all flights at the small regional "
    "airport. Scientists had recorded hundreds of minor earthquakes in the week before the "
    "eruption and raised the alert level on Sunday. No injuries have been reported so far. "
    "Navy ships stand ready offshore, and emergency shelters in the capital have opened "
    "their doors to about nine hundred displaced residents and their animals.",
    "The national football team secured a place in the tournament final after a dramatic "
    "penalty shootout on Saturday evening. The match ended level after extra time, with both "
    "goalkeepers making several remarkable saves in front of a sold out stadium. The young "
    "striker who scored the decisive penalty had only joined the squad two weeks earlier "
    "after an injury to the captain. Supporters celebrated in the streets of the capital "
    "until early morning. The coach praised the resilience of his players and warned that "
    "the final opponent has not lost a single game this season.",
    "Researchers at the university laboratory have developed a battery cell that charges to "
    "eighty percent in under ten minutes without losing capacity over thousands of cycles. "
    "The team replaced the graphite anode with a porous silicon structure coated in a thin "
    "ceramic layer, which prevents the cracking that usually shortens battery life. Two "
    "carmakers have already signed agreements to test the cells in prototype vehicles next "
    "year. The researchers caution that manufacturing costs remain high and that scaling "
    "production will require new equipment and several more years of careful engineering.",
    "Farmers in the southern valley report the smallest grape harvest in forty years after "
    "a late frost in April and a summer drought destroyed much of the crop. Several family "
    "wineries say they will not produce a vintage at all this year and have asked the "
    "agriculture ministry for emergency support. Prices for bulk wine have already risen "
    "sharply on regional markets. Agronomists recommend planting more drought resistant "
    "varieties and investing in drip irrigation, but many growers say they cannot afford "
    "the investment without cheaper loans from the state development bank.",
]
DATED = ("The central bank left interest rates unchanged on Thursday, citing slowing "
         "inflation and a weaker labour market. The governor said further cuts were possible "
         "next year if price growth continues to ease, while several board members argued "
         "for patience until wage data for the winter months are available. Markets had "
         "largely expected the decision, and the currency moved little after the "
         "announcement. Economists now forecast two rate cuts in the first half of the "
         "coming year, although energy prices remain an important risk to that outlook.")


def archive_values() -> list[bytes]:
    """The issue's archive: orig-0..4 undated, one dated article, copy-0..4 undated."""
    rows = [{"id": f"orig-{i}", "url": f"https://news.example/story/{i}",
             "title": body.split(",")[0][:60], "body": body} for i, body in enumerate(BODIES)]
    rows.append({"id": "dated", "url": "https://news.example/rates", "title": "Rates unchanged",
                 "body": DATED, "published_at": "2026-11-01T10:00:00Z"})
    rows += [row | {"id": f"copy-{i}", "url": f"https://mirror.example/copy/{i}"}
             for i, row in enumerate(rows[:5])]
    return [json.dumps(row).encode("utf-8") for row in rows]


#: the hand-written routing table: id -> duplicate_of (None: canonical)
EXPECTED = {**{f"orig-{i}": None for i in range(5)}, "dated": None,
            **{f"copy-{i}": f"orig-{i}" for i in range(5)}}


def _decisions(out: Path) -> dict[str, str | None]:
    """id -> duplicate_of over every route; copies must be in ``duplicates`` only."""
    seen: dict[str, str | None] = {}
    for path in list_avro_files(str(out)):
        route = Path(path).parent.name
        for record in read_avro_records(path):
            if record["duplicate_of"] is not None:
                assert route == "duplicates", (record["id"], route)
            seen[record["id"]] = record["duplicate_of"]
    return seen


def test_process_finds_every_copy_of_the_undated_articles(tmp_path: Path) -> None:
    source = tmp_path / "archive.jsonl"
    source.write_bytes(b"\n".join(archive_values()) + b"\n")
    run_batch([str(source)], ["--output-dir", str(tmp_path / "out")])
    assert _decisions(tmp_path / "out") == EXPECTED


@pytest.fixture()
def archive_topic(broker: EmbeddedBroker) -> str:
    topic = "dedup-clock-archive"
    client = KafkaClientSettings(bootstrap_servers=broker.bootstrap_servers)
    ensure_topic(client, topic, partitions=1)  # one partition: the archive's order
    assert publish_values(client, topic, archive_values()) == len(EXPECTED)
    return topic


def test_run_and_replay_find_every_copy_of_the_undated_articles(
        broker: EmbeddedBroker, archive_topic: str, tmp_path: Path) -> None:
    common = ["--bootstrap-servers", broker.bootstrap_servers, "--topic", archive_topic]
    run_streaming([*common, "--group-id", "dedup-clock", "--start", "earliest",
                   "--stop", "drained:3", "--output-dir", str(tmp_path / "run")])
    assert _decisions(tmp_path / "run") == EXPECTED
    run_replay([*common, "--from", "earliest", "--to", "now", "--no-progress",
                "--output-dir", str(tmp_path / "replay")])
    assert _decisions(tmp_path / "replay") == EXPECTED
