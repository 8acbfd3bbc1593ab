"""A person who never read the README builds a boss-worker swarm from the gallery on the new-swarm
page and runs it to success, in Debian's chromium; a second try with the same names is refused beside
the field, with nothing created."""

from __future__ import annotations

import re

import pytest

from apps.agents.models import Agent
from apps.runs.models import Run, RunStatus
from apps.swarms.models import Swarm

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_a_boss_worker_swarm_from_the_gallery_runs_to_success(page, live_server_url, alice):
    page.goto(f"{live_server_url}/swarms/new/")
    card = page.locator('[data-testid="pattern-boss-worker"]')
    card.scroll_into_view_if_needed()
    assert card.locator("svg").count() == 1 and "Boss-worker team" in card.inner_text()
    card.locator("summary").click()  # the names it will use, which the person may change
    page.fill("#pattern-boss-worker-name", "My first team")
    page.fill("#pattern-boss-worker-prefix", "crew")
    card.locator('[data-testid="use-pattern-boss-worker"]').click()
    page.wait_for_url(re.compile(r"/swarms/\d+/"))
    swarm_id = int(re.search(r"/swarms/(\d+)/", page.url).group(1))
    swarm = Swarm.objects.get(pk=swarm_id, owner=alice)
    assert swarm.name == "My first team" and swarm.strategy == "boss_worker"
    assert swarm.member_names() == ["crew-boss", "crew-calc", "crew-scribe"]

    page.goto(f"{live_server_url}/swarms/{swarm_id}/")
    page.fill("#start-run-form textarea[name=task]", "What is (12 + 30) * 2?")
    page.click("#start-run-form button[type=submit]")
    page.wait_for_url(re.compile(r"/runs/\d+/"))
    page.wait_for_selector("#run-status [data-status=succeeded]", timeout=30_000)
    run = Run.objects.get(swarm=swarm)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert "The team has worked on: What is (12 + 30) * 2?" in page.inner_text("#run-status")
    # the swarm drawn on the run page: the director, its two workers, and what each did
    assert page.locator('[data-testid="run-canvas"] canvas').count() > 0
    page.wait_for_function(
        "document.querySelector('#member-activity tr[data-member=\"crew-boss\"] .m-steps').textContent === '2'"
    )
    assert page.evaluate("window.swarmCanvas.counts()['crew-calc'].steps") == 1
    calc = run.steps.get(agent_name="crew-calc")
    assert calc.output == "84"


def test_using_a_pattern_twice_with_the_same_names_is_refused_beside_the_field(page, live_server_url, alice):
    page.goto(f"{live_server_url}/swarms/new/")
    page.locator('[data-testid="use-pattern-hive-vote"]').click()
    page.wait_for_url(re.compile(r"/swarms/\d+/"))
    assert Swarm.objects.filter(owner=alice, name="HIVE vote").exists()
    agents_before = Agent.objects.filter(owner=alice).count()

    page.goto(f"{live_server_url}/swarms/new/")
    card = page.locator('[data-testid="pattern-hive-vote"]')
    card.locator("summary").click()
    page.fill("#pattern-hive-vote-name", "Another vote")
    page.fill("#pattern-hive-vote-prefix", "hive")  # the agents hive-ann, hive-ben, hive-cat exist
    card.locator('[data-testid="use-pattern-hive-vote"]').click()
    error = page.locator('[data-testid="pattern-hive-vote-error"]')
    error.wait_for()
    assert "You already have agents named hive-ann, hive-ben, hive-cat" in error.inner_text()
    assert page.evaluate("document.activeElement.id") == "pattern-hive-vote-prefix"
    assert page.input_value("#pattern-hive-vote-prefix") == "hive"
    assert Agent.objects.filter(owner=alice).count() == agents_before
    assert not Swarm.objects.filter(owner=alice, name="Another vote").exists()
