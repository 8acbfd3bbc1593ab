"""The run page's drawing in Debian's chromium: per-member counts and the acting member update live
over the run's websocket, and a reload shows the same counts."""

import pytest

from apps.agents.services import update_agent
from apps.runs import services as run_services
from apps.swarms.patterns import create_from_pattern
from tests.conftest import wait_for_run


def table(page) -> dict:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#member-activity tbody tr')].map(tr =>
             [tr.dataset.member, [tr.querySelector('.m-steps').textContent, tr.querySelector('.m-messages').textContent,
              tr.querySelector('.m-cost').textContent]]))"""
    )


@pytest.mark.browser
@pytest.mark.worker
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
