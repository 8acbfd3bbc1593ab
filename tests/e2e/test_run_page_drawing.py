"""The run page's drawing in Debian's chromium: per-member counts and the acting member update live
over the run's websocket, a reload shows the same counts, and what the designer drew keeps its place."""

import pytest

from apps.agents.services import update_agent
from apps.runs import services as run_services
from apps.swarms.patterns import create_from_pattern
from tests.conftest import wait_for_run

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def table(page) -> dict:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#member-activity tbody tr')].map(tr =>
             [tr.dataset.member, [tr.querySelector('.m-steps').textContent, tr.querySelector('.m-messages').textContent,
              tr.querySelector('.m-cost').textContent]]))"""
    )


def test_counts_and_the_acting_member_update_live_and_a_reload_shows_the_same(page, live_server_url, alice):
    swarm = create_from_pattern(owner=alice, key="haas-board", name="Board", prefix="b")
    # slow turns, so the page sees each speaker acting
    for agent in swarm.member_objects():
        update_agent(agent, config={**agent.config, "delay_ms": 700})
    run = run_services.start_run(swarm=swarm, task="Open-source it?", user=alice)
    page.goto(f"{live_server_url}/runs/{run.pk}/")
    page.wait_for_function("window.swarmCanvas && window.swarmCanvas.seenActing().length >= 2", timeout=20_000)
    page.wait_for_selector("#run-status [data-status=succeeded]", timeout=30_000)
    page.wait_for_function(
        "document.querySelector('#member-activity tr[data-member=\"b-chair\"] .m-messages').textContent === '2'"
    )
    live = table(page)
    assert live == {
        "b-chair": ["2", "2", "$0.002"],
        "b-ethicist": ["1", "1", "$0.001"],
        "b-strategist": ["1", "1", "$0.001"],
    }
    assert page.evaluate("window.swarmCanvas.acting()") == []
    assert "2 msg" in page.evaluate("window.swarmCanvas.label('b-chair')")
    run = wait_for_run(run)
    page.reload()
    page.wait_for_function("window.swarmCanvas && window.swarmCanvas.label('b-chair') !== null")
    assert table(page) == live
    assert page.evaluate("window.swarmCanvas.counts()['b-chair'].cost") == "0.002"


def test_the_run_page_keeps_the_positions_drawn_in_the_designer(page, live_server_url, alice):
    from apps.swarms.services import update_swarm

    # drawn top to bottom, where the automatic layouts would go left to right or use a circle
    hive = create_from_pattern(owner=alice, key="hive-vote", name="Vote", prefix="v")
    update_swarm(
        hive, layout={"members": {f"v-{n}": {"x": 100, "y": 100 * i} for i, n in enumerate(["ann", "ben", "cat"])}}
    )
    heist = create_from_pattern(owner=alice, key="heist-pipeline", name="Pipe", prefix="h")
    update_swarm(
        heist, layout={"nodes": {n: {"x": 50, "y": 80 * i} for i, n in enumerate(["fetch", "parse", "report"])}}
    )
    hive_run = wait_for_run(run_services.start_run(swarm=hive, task="When?", user=alice))
    heist_run = wait_for_run(run_services.start_run(swarm=heist, task="Go", user=alice))

    page.goto(f"{live_server_url}/runs/{hive_run.pk}/")
    page.wait_for_function("window.swarmCanvas && window.swarmCanvas.position('v-ann') !== null")
    ann, ben, cat = (page.evaluate(f"window.swarmCanvas.position('v-{n}')") for n in ("ann", "ben", "cat"))
    assert ann["x"] == ben["x"] == cat["x"] and ann["y"] < ben["y"] < cat["y"]

    page.goto(f"{live_server_url}/runs/{heist_run.pk}/")
    page.wait_for_function("window.swarmDag && window.swarmDag.position('report') !== null")
    fetch, parse, report = (page.evaluate(f"window.swarmDag.position('{n}')") for n in ("fetch", "parse", "report"))
    assert fetch["x"] == parse["x"] == report["x"] and fetch["y"] < parse["y"] < report["y"]
    assert page.evaluate("window.swarmDag.status('report')") == "done"
