"""Issue 20 end to end: a story a site republishes is not that site's chrome.

Before the fix, a one-paragraph wire flash republished twelve times on one site (new ids
and URLs) taught the per-site learner that the flash itself was chrome: ``newsbeam run``
routed offset 0 to energy, offset 1 to duplicates and offsets 2-11 to dead_letter
(``EmptyAfterCleaning``). Now the learner counts a line once per distinct story, and
learned chrome that would empty an article or remove most of its text is overruled.

One topic (one partition, so one order) holds three sites, and each site has its own
learner, so they do not teach each other:

- ``northgrid-news``: the flash, twelve copies;
- ``harbourgazette``: thirty different articles that all carry the same members' box and
  newsletter line (which no global pattern knows), then a four-paragraph story
  republished eight times, then a members' notice made only of those two lines.

``newsbeam process`` (bounded) reads the flash and the four-paragraph story (on a third
site with no chrome) from a JSONL file. In a bounded run the order in which one site's
articles reach the learner is not fixed, so the gazette's order-dependent expectations
are checked on the streaming path only.

Expected values are written by hand from the rules: a line is learned chrome once it is
in ``min_articles`` = 3 of the site's stories (and 2 % of its window, here at most 1), so
the gazette's two lines are learned from its third article on.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from apache_beam.metrics.metric import MetricsFilter

from connectors.avro_files import list_avro_files, read_avro_records
from connectors.kafka.settings import KafkaClientSettings
from connectors.kafka.topics import ensure_topic, publish_values
from newsbeam.broker import EmbeddedBroker
from newsbeam.jobs import build_streaming, run_batch

# --- the flash: twelve copies on one site ------------------------------------------------

FLASH_TITLE = "Substation fire cuts power to northern homes"
FLASH = ("Breaking: the regional grid operator said on Monday that a fire at a substation "
         "had cut electricity to 40,000 homes in the north, and warned of further power "
         "outages while the power grid runs close to its limit this week.")
FLASH_IDS = [f"flash-{n:02d}" for n in range(12)]

# --- the gazette: its two recurring lines, thirty different articles ---------------------

MEMBERS = "Gazette members get the print edition, the puzzle page and reader events for less."
NEWSLETTER = ("The Harbour Weekly lands in your inbox every Friday with council news and tide "
              "tables.")

GAZETTE = [  # (title, first paragraph, second paragraph): thirty different stories
    ("Winter ferry kept",
     "The ferry company confirmed on Wednesday that the evening crossing to the islands "
     "will run twice a week through the winter, after a petition signed by more than two "
     "thousand residents.",
     "Island shopkeepers had warned that losing the late boat would leave them without "
     "fresh deliveries for days, and the council agreed to cover part of the fuel cost."),
    ("Lifeboat station gets new crew room",
     "Volunteers at the lifeboat station moved into a new crew room this month, paid for "
     "by a legacy from a retired fisherman who served on the boat for thirty years.",
     "The old room had no heating and flooded at every spring tide, the coxswain said, "
     "and the crew can now dry their kit and train indoors during the darkest months."),
    ("Primary school roof repaired",
     "Pupils at Quayside Primary returned to their classrooms on Monday after builders "
     "finished replacing the roof that leaked through most of the autumn term.",
     "Lessons had been held in the church hall since October, and the head teacher thanked "
     "parents who drove children across town every morning during the repairs."),
    ("Fish market opens at dawn again",
     "The covered fish market will open at five in the morning again from next week, "
     "reversing a change that traders said cost them their restaurant customers.",
     "Chefs from the hotels on the front buy their catch before breakfast service, and "
     "several stallholders reported their takings had fallen by a third since summer."),
    ("Lighthouse keeper's cottage for sale",
     "The keeper's cottage beside the old lighthouse has been put up for sale by the "
     "harbour trust, with an asking price of two hundred and ten thousand pounds.",
     "The trust says the money will pay for new railings on the breakwater, while local "
     "historians hope the buyer will allow guided tours of the lamp room in summer."),
    ("Choir wins regional contest",
     "The Portmere Community Choir won the regional contest in the city on Saturday, "
     "beating eleven other choirs with a programme of sea shanties and folk songs.",
     "Its conductor, a retired music teacher, said rehearsals in a draughty scout hut had "
     "been worth it, and the choir has been invited to sing at the national final in May."),
    ("Bus route to hospital restored",
     "The number 14 bus will once again stop at the district hospital from the first of "
     "next month, after the operator found drivers for the extra afternoon service.",
     "Patients and visitors had faced a walk of almost a mile from the nearest stop, and "
     "nurses on late shifts said some colleagues had given up the job over the journey."),
    ("Seal pups counted on the sandbank",
     "Wildlife wardens counted a record ninety-one grey seal pups on the outer sandbank "
     "this season, the highest number since surveys began in the early nineties.",
     "Visitors are asked to keep dogs on leads along the dunes and to stay at least fifty "
     "metres from the animals, which can abandon pups that are disturbed too often."),
    ("Library extends opening hours",
     "The town library will open on Sunday afternoons from the spring, the council said, "
     "after a trial found that families and students filled the reading room each week.",
     "Two part-time posts will be created to cover the extra hours, and the library's "
     "friends group has offered volunteers to run a homework club for younger pupils."),
    ("Harbour wall cracks after storm",
     "Engineers inspected the eastern harbour wall on Thursday after a crack almost a "
     "metre long appeared below the old customs house during last weekend's storm.",
     "The walkway along the top of the wall is closed until further notice, and boat "
     "owners with moorings on that side have been asked to move to the inner basin."),
    ("Bakery celebrates a century",
     "Mason's Bakery on Bridge Street celebrated its hundredth birthday on Tuesday with "
     "free buns for the first hundred customers and a display of photographs from 1926.",
     "The fourth generation of the family now runs the shop, and the original brick oven "
     "at the back still bakes the saffron loaves that visitors queue for every summer."),
    ("Rowing club needs new boathouse",
     "The rowing club has launched an appeal for eighty thousand pounds to replace its "
     "boathouse, which surveyors say is no longer safe to use after years of salt damage.",
     "Members have been storing the boats in a farmer's barn outside town, and junior "
     "training has been cut to one evening a week while the club looks for a new site."),
    ("Cliff path reopens after landslip",
     "The coastal path between the harbour and Gull Point has reopened after a landslip "
     "closed it for five months, with a new section cut further back from the edge.",
     "Rangers warned walkers to keep to the marked route, as the ground near the old "
     "section is still moving and could give way again after heavy rain this winter."),
    ("Cinema to show films again",
     "The Regent cinema on the seafront will show films again from Easter, three years "
     "after it closed, under a community group that bought the building last autumn.",
     "Volunteers have repainted the auditorium and repaired two hundred seats, and the "
     "group plans matinees for schools and a monthly screening with subtitles."),
    ("Parking charges rise on the front",
     "Parking on the seafront will cost two pounds an hour from the summer, up from one "
     "pound fifty, under a budget the council approved on Wednesday night.",
     "Traders fear day visitors will park further out and spend less in the shops, while "
     "councillors said the money is needed to keep the public toilets open all year."),
    ("Oyster beds show recovery",
     "Scientists from the marine institute said the oyster beds in the estuary are "
     "recovering, with young oysters found this year at sites that were empty in 2019.",
     "Fishing for native oysters remains banned, but the researchers hope a limited "
     "season could be allowed within five years if the numbers keep growing."),
    ("Town clock stopped for repairs",
     "The clock on the town hall tower stopped at twenty past three on Friday and will "
     "stay silent for about six weeks while specialists repair its worn gears.",
     "The clock was installed in 1887 to mark Queen Victoria's jubilee, and the firm "
     "doing the work is the same one that last overhauled it almost forty years ago."),
    ("Youth football pitch flooded",
     "Youth football matches have moved to the school field after the pitch at Marsh "
     "Lane flooded for the third time this season, leaving the goalmouths under water.",
     "The league has asked the council to fix the drains before next season, and parents "
     "have offered to raise money for new soil if the work can start in the summer."),
    ("New doctor joins the surgery",
     "The harbour surgery has appointed a third doctor, ending a two-year search that "
     "left patients waiting up to a month for a routine appointment.",
     "The new doctor trained at the city hospital and will start in March, and the "
     "practice manager said evening appointments would return for working patients."),
    ("Art trail maps the old town",
     "A new art trail leads visitors through the old town's lanes to twelve murals "
     "painted this summer by local artists and pupils from the secondary school.",
     "Maps are free from the tourist office, and the artists will give guided walks on "
     "the first Saturday of each month, starting at the steps below the chapel."),
    ("Pier lights switched on",
     "Hundreds of people gathered on the pier on Friday evening to watch the new strings "
     "of lights switched on, fifty years after the originals were taken down.",
     "The lights were paid for by a crowdfunding campaign led by two sisters who run the "
     "ice cream kiosk at the end of the pier, and they will shine until midnight."),
    ("Allotments waiting list grows",
     "More than one hundred and twenty people are now waiting for an allotment in the "
     "town, the parish council said, and some have been on the list for six years.",
     "The council is talking to a landowner about a field on the edge of town that could "
     "take another forty plots, with water pipes and a shed for shared tools."),
    ("Sailing regatta draws record entry",
     "A record two hundred and forty boats took part in the summer regatta, with crews "
     "coming from as far away as the Netherlands and the Channel Islands.",
     "Light winds delayed the first races on Saturday, but a stiff breeze on Sunday gave "
     "the larger yachts a fast course around the buoys outside the harbour mouth."),
    ("Museum receives ship's bell",
     "The maritime museum has been given the bell of a cargo ship that sank off the point "
     "in 1953, recovered by divers and kept in a private garden for decades.",
     "The museum plans to display it beside the names of the crew who were lost, and "
     "relatives of two of the sailors have been invited to the opening in April."),
    ("Care home wins garden award",
     "Residents of the Seaview care home won a county award for their garden, which they "
     "planted themselves with help from a group of volunteers from the allotments.",
     "The judges praised the raised beds built at wheelchair height and the herb patch "
     "that supplies the kitchen, and the prize money will pay for a new greenhouse."),
    ("Footbridge to close for painting",
     "The footbridge over the river will close for three weeks in February while it is "
     "stripped and repainted for the first time in more than twenty years.",
     "Pedestrians will be directed to the road bridge, which adds about ten minutes to "
     "the walk into town, and a free shuttle will run for people with mobility needs."),
    ("Fishing fleet shrinks again",
     "Only nine boats now fish full time from the harbour, down from twenty-six a "
     "generation ago, according to figures gathered by the fishermen's association.",
     "Skippers blame fuel costs and quota rules, and the association wants the harbour "
     "trust to cut landing fees for small boats to keep young crews in the trade."),
    ("Scouts hand over their hut",
     "The sea scouts have handed their hut on the slipway to the sailing school, after "
     "the group merged with the troop in the next village and moved its meetings there.",
     "The sailing school will use the hut for its beginners' courses, and the scouts "
     "will keep two canoes there for their summer camps on the estuary."),
    ("Beach cleaned after spring tides",
     "Volunteers collected almost two tonnes of rubbish from the main beach on Sunday "
     "after the spring tides washed up fishing nets, plastic crates and a fridge.",
     "The clean was organised by a surf school, which said the amount of netting had "
     "doubled since last year, and the council sent a lorry to take the haul away."),
    ("Market square to be resurfaced",
     "The cobbles in the market square will be lifted and relaid this autumn, after "
     "years of complaints from people who tripped on the uneven stones.",
     "The weekly market will move to the car park behind the church during the work, "
     "which the council expects to take about ten weeks if the weather is kind."),
]
GAZETTE_IDS = [f"gazette-{n:02d}" for n in range(1, 31)]

# --- the four-paragraph story, republished eight times -----------------------------------

STORY_TITLE = "Storm closes bridges and cuts power on the west coast"
STORY = (
    "Storm Aurelia brought gusts of up to 130 kilometres an hour to the west coast "
    "overnight, closing three bridges and leaving about 18,000 households without power "
    "on Saturday morning, the national weather service said.",
    "Ferries between the mainland and the outer islands were cancelled until at least "
    "Sunday, and the coastguard asked fishing crews to stay in port while the sea remains "
    "rough.",
    "Repair crews from the regional utility worked through the night, and the company "
    "expects to reconnect most homes by Saturday evening, although some remote villages "
    "may wait until Monday.",
    "Forecasters said the wind would ease from the afternoon, but warned that heavy rain "
    "could cause flooding along the river valleys before the weekend is over.",
)
STORY_BODY = "\n\n".join(STORY)  # what every copy's clean body must be
STORY_IDS = [f"story-{n}" for n in range(8)]


def _row(ident: str, url: str, title: str, body: str) -> dict:
    return {"id": ident, "url": url, "title": title, "body": body}


def flash_rows() -> list[dict]:
    return [_row(ident, f"https://www.northgrid-news.example/flash/{n}", FLASH_TITLE, FLASH)
            for n, ident in enumerate(FLASH_IDS)]


def gazette_rows() -> list[dict]:
    """The thirty articles, the story's eight copies, then the members' notice."""
    site = "https://www.harbourgazette.example"
    rows = [_row(ident, f"{site}/news/{n}", title,
                 "\n\n".join([first, MEMBERS, second, NEWSLETTER]))
            for n, (ident, (title, first, second)) in enumerate(
                zip(GAZETTE_IDS, GAZETTE, strict=True), start=1)]
    story = "\n\n".join([STORY[0], STORY[1], MEMBERS, STORY[2], STORY[3], NEWSLETTER])
    rows += [_row(ident, f"{site}/wire/storm-{n}", STORY_TITLE, story)
             for n, ident in enumerate(STORY_IDS)]
    rows.append(_row("gazette-members", f"{site}/members", "Gazette membership",
                     f"{MEMBERS}\n\n{NEWSLETTER}"))
    return rows


def _values(rows: list[dict]) -> list[bytes]:
    return [json.dumps(row).encode("utf-8") for row in rows]


def _outputs(out: Path) -> dict[str, list[dict]]:
    """route -> the records written to it."""
    routes: dict[str, list[dict]] = defaultdict(list)
    for path in list_avro_files(str(out)):
        routes[Path(path).parent.name].extend(read_avro_records(path))
    return dict(routes)


def _by_id(routes: dict[str, list[dict]], ids: list[str]) -> dict[str, list[tuple[str, dict]]]:
    """id -> [(route, record)] for the given ids."""
    wanted = set(ids)
    found: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for route, records in routes.items():
        for record in records:
            if record["id"] in wanted:
                found[record["id"]].append((route, record))
    return dict(found)


@pytest.fixture(scope="module")
def streamed_run(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
                 ) -> tuple[dict[str, list[dict]], int]:
    """``newsbeam run --stop drained:3`` over the flash, then the gazette, on one
    partition: the routes' records and the ``clean/learned_chrome_overruled`` count."""
    topic = "republished-stories"
    client = KafkaClientSettings(bootstrap_servers=broker.bootstrap_servers)
    ensure_topic(client, topic, partitions=1)
    values = _values(flash_rows() + gazette_rows())
    assert publish_values(client, topic, values) == len(values) == 12 + 30 + 8 + 1
    out = tmp_path_factory.mktemp("run")
    pipeline = build_streaming(["--bootstrap-servers", broker.bootstrap_servers,
                                "--topic", topic, "--group-id", "republished",
                                "--start", "earliest", "--stop", "drained:3",
                                "--output-dir", str(out)])
    result = pipeline.run()  # what run_streaming does, keeping the result for its metrics
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("clean").with_name(
        "learned_chrome_overruled"))["counters"]
    return _outputs(out), sum(c.committed or c.attempted or 0 for c in counters)


@pytest.fixture(scope="module")
def streamed(streamed_run: tuple[dict[str, list[dict]], int]) -> dict[str, list[dict]]:
    return streamed_run[0]


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """``newsbeam process`` over a JSONL file: the flash, then the story on a site that has
    no chrome."""
    story = [_row(ident, f"https://www.coastwire.example/storm/{n}", STORY_TITLE, STORY_BODY)
             for n, ident in enumerate(STORY_IDS)]
    work = tmp_path_factory.mktemp("process")
    source = work / "republished.jsonl"
    source.write_bytes(b"\n".join(_values(flash_rows() + story)) + b"\n")
    run_batch([str(source)], ["--output-dir", str(work / "out")])
    return _outputs(work / "out")


@pytest.fixture(params=["run", "process"])
def outputs(request: pytest.FixtureRequest) -> dict[str, list[dict]]:
    return request.getfixturevalue("streamed" if request.param == "run" else "processed")


def test_nothing_is_a_dead_letter(outputs: dict[str, list[dict]]) -> None:
    assert outputs.get("dead_letter", []) == []


def test_the_flash_is_one_energy_story_and_eleven_complete_duplicates(
        outputs: dict[str, list[dict]]) -> None:
    found = _by_id(outputs, FLASH_IDS)
    routes = {ident: [route for route, _ in found.get(ident, [])] for ident in FLASH_IDS}
    assert routes == {"flash-00": ["energy"], **{i: ["duplicates"] for i in FLASH_IDS[1:]}}
    records = {ident: found[ident][0][1] for ident in FLASH_IDS}
    assert {i: r["duplicate_of"] for i, r in records.items()} == {
        "flash-00": None, **{i: "flash-00" for i in FLASH_IDS[1:]}}
    # Every copy reaches dedup with the first copy's clean body: the whole flash.
    assert {i: r["body"] for i, r in records.items()} == {i: FLASH for i in FLASH_IDS}
    # The learner never takes the flash for chrome, so there is nothing to overrule.
    assert not any(r["boilerplate"]["learned_chrome_overruled"] for r in records.values())
    assert all(r["boilerplate"]["lines_removed"] == 0 for r in records.values())


def test_every_copy_of_the_four_paragraph_story_keeps_every_paragraph(
        outputs: dict[str, list[dict]]) -> None:
    found = _by_id(outputs, STORY_IDS)
    assert sorted(found) == STORY_IDS
    first = found["story-0"]
    assert len(first) == 1 and first[0][0] != "duplicates"
    assert first[0][1]["duplicate_of"] is None
    for ident in STORY_IDS[1:]:
        assert [(route, r["duplicate_of"]) for route, r in found[ident]] == [
            ("duplicates", "story-0")]
    bodies = {ident: found[ident][0][1]["body"] for ident in STORY_IDS}
    assert bodies == {ident: STORY_BODY for ident in STORY_IDS}
    assert all(body.count("\n\n") == 3 for body in bodies.values())
    assert not any(record["boilerplate"]["learned_chrome_overruled"]
                   for ident in STORY_IDS for _, record in found[ident])


def test_the_gazette_story_copies_lose_only_the_learned_lines(
        streamed: dict[str, list[dict]]) -> None:
    """On the gazette the two recurring lines are learned chrome by then: each copy loses
    exactly those two lines, and keeps its four paragraphs."""
    found = _by_id(streamed, STORY_IDS)
    for ident in STORY_IDS:
        for _, record in found[ident]:
            assert record["boilerplate"]["reasons"] == {"site_chrome": 2}, ident
            assert record["boilerplate"]["lines_kept"] == 4, ident


def test_lines_shared_by_different_gazette_articles_are_still_learned(
        streamed: dict[str, list[dict]]) -> None:
    found = _by_id(streamed, GAZETTE_IDS)
    assert sorted(found) == GAZETTE_IDS
    records = {ident: found[ident][0][1] for ident in GAZETTE_IDS}
    # Thirty different stories: none is a duplicate of another.
    assert all(route != "duplicates" for ident in GAZETTE_IDS for route, _ in found[ident])
    assert all(r["duplicate_of"] is None for r in records.values())
    expected_body = {}
    for ident, (_, first, second) in zip(GAZETTE_IDS, GAZETTE, strict=True):
        if ident in ("gazette-01", "gazette-02"):  # seen once, twice: not chrome yet
            expected_body[ident] = "\n\n".join([first, MEMBERS, second, NEWSLETTER])
        else:  # in three stories from the third on: learned, removed
            expected_body[ident] = f"{first}\n\n{second}"
    assert {i: r["body"] for i, r in records.items()} == expected_body
    assert {i: r["boilerplate"]["reasons"].get("site_chrome", 0)
            for i, r in records.items()} == {
        i: 0 if i in ("gazette-01", "gazette-02") else 2 for i in GAZETTE_IDS}
    assert not any(r["boilerplate"]["learned_chrome_overruled"] for r in records.values())


def test_learned_chrome_never_empties_the_members_notice(
        streamed_run: tuple[dict[str, list[dict]], int]) -> None:
    """A page made only of the gazette's two learned lines: the learned chrome would empty
    it, so it is overruled and the page keeps its text instead of dead-lettering. It is the
    run's only overruled article, and the metric counts it."""
    streamed, overruled = streamed_run
    assert overruled == 1
    found = _by_id(streamed, ["gazette-members"])
    assert found, "the members' notice is missing from every route"
    assert all(route != "dead_letter" for route, _ in found["gazette-members"])
    for _, record in found["gazette-members"]:
        assert record["body"] == f"{MEMBERS}\n\n{NEWSLETTER}"
        assert record["boilerplate"]["learned_chrome_overruled"] is True
        assert record["boilerplate"]["lines_removed"] == 0
