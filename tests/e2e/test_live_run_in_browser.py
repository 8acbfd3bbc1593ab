"""End to end in Debian's chromium (Playwright): log in, start a demo run,
watch messages arrive without reloading, answer a human request."""

from __future__ import annotations

import pytest

from apps.runs.models import Run

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def _start(page, swarm_name: str, task: str) -> None:
    page.click(f"text={swarm_name}")
    page.fill("textarea[name=task]", task)
    page.click("#start-run-form button[type=submit]")
    page.wait_for_url("**/runs/*/")


def test_a_demo_chat_streams_into_the_page_without_a_reload(page):
    _start(page, "Product meeting", "Should we build it?")
    page.wait_for_selector("#live-indicator.on")
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.wait_for_selector("#messages .msg:nth-child(7)", timeout=20_000)
    senders = page.locator("#messages .msg-head strong").all_inner_texts()
    assert senders == ["task", "ada", "linus", "grace", "ada", "linus", "grace"]
    page.wait_for_selector('#run-status [data-status="succeeded"]')
    assert "Meeting closed" in page.inner_text("#run-status")
    assert navigations == []  # everything arrived over the websocket

    # A reload shows the same history.
    page.reload()
    assert page.locator("#messages .msg").count() == 7
    assert page.locator("#steps .step").count() == 6


def test_a_person_answers_a_request_and_the_run_resumes_live(page):
    _start(page, "Trip planner with approval", "A weekend in Ghent")
    page.wait_for_selector(".human-request select[name=decision]")
    page.select_option(".human-request select[name=decision]", "approve")
    page.fill(".human-request textarea[name=notes]", "Book the canal tour")
    page.click(".human-request button[type=submit]")
    page.wait_for_selector('#run-status [data-status="succeeded"]')
    assert "Book the canal tour" in page.inner_text("#run-status")
    assert Run.objects.get().status == "succeeded"


def test_a_workflow_node_changes_colour_live_as_it_retries_and_falls_back(
    page, live_server_url, alice, make_agent, make_swarm
):
    # The first attempt lasts long enough (2.5 s) that the page, however slowly
    # it loads, first draws the node as running rather than already retrying.
    agents = [
        make_agent("flaky", config={"replies": [{"error": "upstream down"}], "cycle": True, "delay_ms": 2500}),
        make_agent("steady", config={"replies": ["fetched"], "delay_ms": 300}),
        make_agent("summer", provider="skill", config={"skill": "echo", "template": "summary of {{ input }}"}),
    ]
    nodes = [
        {"name": "fetch", "agent": "flaky", "fallbacks": ["steady"], "retry": {"attempts": 1, "backoff_s": 0.3}},
        {"name": "sum", "agent": "summer", "depends_on": ["fetch"], "input": "{{ outputs.fetch }}"},
    ]
    swarm = make_swarm(name="flow", strategy="heist", agents=agents, strategy_config={"nodes": nodes})
    console = []
    page.on("console", lambda m: console.append(m.text))
    page.on("pageerror", lambda e: console.append(str(e)))
    page.goto(f"{live_server_url}/swarms/{swarm.pk}/")
    page.fill("textarea[name=task]", "nightly")
    page.click("#start-run-form button[type=submit]")
    page.wait_for_url("**/runs/*/")
    try:
        page.wait_for_function("window.swarmDag && window.swarmDag.status('fetch') === 'running'", timeout=15_000)
    except Exception:
        page.screenshot(path="/tmp/dag_fail.png")
        seen = page.evaluate("window.swarmDag && window.swarmDag.history('fetch')")
        raise AssertionError(f"statuses seen: {seen}, console: {console}")
    running = page.evaluate("window.swarmDag.color('fetch')")
    # Each status change arrives as its own websocket message, so the page's
    # trail of statuses holds the short-lived ones too (polling could miss them).
    page.wait_for_function("window.swarmDag.status('sum') === 'done'", timeout=20_000)
    assert page.evaluate("window.swarmDag.history('fetch')") == ["running", "retrying", "fallback", "done"]
    done = page.evaluate("window.swarmDag.color('fetch')")
    assert running != done and done == "rgb(55,178,77)"
    assert page.evaluate("window.swarmDag.label('fetch')") == "fetch\nsteady"  # the fallback that did it
    page.evaluate("window.swarmDag.show('fetch')")
    assert "upstream down" in page.inner_text("#dag-detail")
    page.wait_for_selector('#run-status [data-status="succeeded"]')


def test_training_started_from_the_form_draws_its_curves_live(page, live_server_url):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server_url}/training/")
    page.fill("#start input[name=name]", "browser-router")
    page.fill("#start input[name=epochs]", "2")
    page.fill("#start input[name=episodes_per_epoch]", "32")
    page.click("#start button[type=submit]")
    page.wait_for_url("**/training/*/")
    page.wait_for_selector("#live.on")
    page.wait_for_function("document.getElementById('epochs-done').textContent === '2'", timeout=120_000)
    page.wait_for_selector("#evaluation-table", timeout=120_000)
    assert page.locator("#charts .uplot").count() == 4
    policies = page.locator("#evaluation-table tbody td:first-child").all_inner_texts()
    assert policies[0] == "learned" and "oracle" in policies
    families = page.locator("#family-table tbody td:first-child").all_inner_texts()
    assert "arithmetic" in families and "lookup_compute" in families
    page.wait_for_selector("#topology-after canvas")
    assert "density" in page.inner_text("#topology-after-stats")
    assert errors == []


def test_members_are_reordered_with_the_arrows_when_editing_a_swarm(page, live_server_url, alice):
    from apps.swarms.models import Swarm

    swarm = Swarm.objects.get(owner=alice, name="Product meeting")
    before = swarm.member_names()
    assert len(before) >= 2
    page.goto(f"{live_server_url}/swarms/{swarm.pk}/")
    page.click("text=Edit")
    page.wait_for_url(f"**/swarms/{swarm.pk}/edit/")
    second = page.locator("[data-orderable] > div > div").nth(1)
    second.get_by_role("button", name="Move up").first.click()
    page.click("#swarm-form button[type=submit]")
    page.wait_for_url(f"**/swarms/{swarm.pk}/")
    swarm.refresh_from_db()
    assert swarm.member_names() == [before[1], before[0], *before[2:]]
