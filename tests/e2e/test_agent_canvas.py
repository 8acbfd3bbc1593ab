"""The Agents page in Debian's chromium (Playwright), as a person who never read the README uses it:
from an empty account, agents are created in the side panel, children are drawn by dragging from an
agent on the canvas with the real mouse, and a refused privilege escalation shows on the canvas with
its rule. Screenshots go to $SWARMWEB_SHOTS when it is set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from apps.agents.models import Agent, AuditEntry
from apps.agents.services import create_agent

pytestmark = [pytest.mark.browser]

SHOTS = os.environ.get("SWARMWEB_SHOTS")


@pytest.fixture
def carol(django_user_model):
    return django_user_model.objects.create_user(username="carol", password="carol-canvas-42")


@pytest.fixture
def empty_page(browser, live_server_url, carol):
    """A page logged in as carol, who has nothing yet."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    page.goto(f"{live_server_url}/accounts/login/")
    page.fill("input[name=username]", "carol")
    page.fill("input[name=password]", "carol-canvas-42")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server_url}/")
    yield page
    page.close()


def _shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)
        # The side panel scrolls on its own: unroll it for a second picture of the whole form.
        page.evaluate("document.getElementById('agent-panel').classList.add('unrolled')")
        page.locator("#agent-panel").screenshot(path=f"{SHOTS}/{name}-panel.png")
        page.evaluate("document.getElementById('agent-panel').classList.remove('unrolled')")


def _wait_for_nodes(page, count: int) -> None:
    page.wait_for_selector(f'#agent-canvas[data-nodes="{count}"]')


def _position(page, name: str, *, plus: bool = False) -> dict:
    script = "([name, plus]) => plus ? agentCanvas.plusPosition(name) : agentCanvas.clientPosition(name)"
    point = page.evaluate(script, [name, plus])
    assert point is not None, f"{name} is not drawn"
    return point


def _drag_to_empty_space(page, start: dict, dx: float, dy: float) -> None:
    """A real drag: press on the agent, move in steps (as a hand does), release over empty canvas."""
    page.mouse.move(start["x"], start["y"])
    page.mouse.down()
    page.mouse.move(start["x"] + dx / 2, start["y"] + dy / 2, steps=8)
    page.mouse.move(start["x"] + dx, start["y"] + dy, steps=8)
    page.mouse.up()


def _set_settings(page, config: dict) -> None:
    """Type the provider settings as JSON (the "advanced" view, kept in sync with the generated form)."""
    details = page.locator("#agent-panel details[data-json-advanced]")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    page.fill("#agent-panel textarea[name=config]", json.dumps(config))


def test_a_new_user_draws_a_hierarchy_and_sees_a_refused_escalation_on_the_canvas(empty_page, live_server_url, carol):
    page = empty_page
    page.goto(f"{live_server_url}/agents/")
    page.wait_for_selector("#agent-canvas[data-drawn]")
    assert page.locator("#agent-canvas-empty").is_visible()
    _shot(page, "01-empty")

    # The board, made from the side panel.
    page.click("[data-testid=new-root-agent]")
    page.wait_for_selector("[data-testid=agent-create-form]")
    page.fill("#agent-panel input[name=name]", "board")
    page.select_option("#agent-panel select[name=level]", "0")
    for privilege in ("spawn", "message", "terminate"):
        page.check(f'#agent-panel input[name=privileges][value="{privilege}"]')
    page.click("[data-testid=agent-create-submit]")
    page.wait_for_selector("[data-testid=agent-edit-form]")
    _wait_for_nodes(page, 1)

    # A child: dragged from the board's "+" handle to empty space below it.
    _drag_to_empty_space(page, _position(page, "board", plus=True), 0, 140)
    page.wait_for_selector("[data-testid=agent-create-form]")
    assert page.evaluate("agentCanvas.cy.$('#draft').nonempty()")  # drawn where it was dropped
    board = Agent.objects.get(owner=carol, name="board")
    assert page.input_value("#agent-panel select[name=parent]") == str(board.pk)
    assert page.input_value("#agent-panel select[name=level]") == "1"
    offered = page.eval_on_selector_all("#agent-panel input[name=privileges]", "els => els.map(e => e.value)")
    assert sorted(offered) == ["message", "spawn", "terminate"]  # only what the board holds
    page.fill("#agent-panel input[name=name]", "ceo")
    page.check('#agent-panel input[name=privileges][value="spawn"]')
    page.click("[data-testid=agent-create-submit]")
    page.wait_for_selector("[data-testid=agent-edit-form]")
    _wait_for_nodes(page, 2)
    _shot(page, "02-two")

    # A grandchild, dragged from ceo's body, whose settings (the calculator skill) need a privilege
    # ceo lacks: refused, with the rule on the canvas and beside the field; nothing is created.
    ceo_at = _position(page, "ceo")
    _drag_to_empty_space(page, ceo_at, 160, 130)
    page.wait_for_selector("[data-testid=agent-create-form]")
    ceo = Agent.objects.get(owner=carol, name="ceo")
    assert page.input_value("#agent-panel select[name=parent]") == str(ceo.pk)
    page.fill("#agent-panel input[name=name]", "analyst")
    page.select_option("#agent-panel select[name=provider]", "skill")
    _set_settings(page, {"skill": "calculator"})
    page.click("[data-testid=agent-create-submit]")
    note = page.wait_for_selector('[data-testid=canvas-refusal][data-rule="privilege_escalation"]')
    assert "tool.calculator" in note.inner_text()
    assert page.evaluate("agentCanvas.cy.$('#draft').hasClass('refused')")
    assert "privilege_escalation" in page.inner_text("[data-testid=error-privileges]")
    assert not Agent.objects.filter(owner=carol, name="analyst").exists()
    assert AuditEntry.objects.filter(owner=carol, allowed=False, rule="privilege_escalation").count() == 1
    _shot(page, "03-refused")

    # Changed to settings ceo can give: created; the canvas redraws with three agents.
    page.select_option("#agent-panel select[name=provider]", "scripted")
    _set_settings(page, {"replies": ["2 + 2 = 4"]})
    page.click("[data-testid=agent-create-submit]")
    page.wait_for_selector("[data-testid=agent-edit-form]")
    _wait_for_nodes(page, 3)
    assert page.locator("[data-testid=canvas-refusal]").count() == 0
    analyst = Agent.objects.get(owner=carol, name="analyst")
    assert (analyst.parent, analyst.level) == (ceo, 2)
    assert page.evaluate("agentCanvas.cy.edges().length") == 2

    # Selecting an agent on the canvas opens it in the side panel; terminating previews the subtree.
    ceo_at = _position(page, "ceo")
    page.mouse.click(ceo_at["x"], ceo_at["y"])
    page.wait_for_selector(f'[data-testid=agent-panel-head][data-agent="{ceo.pk}"]')
    page.click("[data-testid=terminate-link]")
    preview = page.inner_text("[data-testid=terminate-preview]")
    assert "ceo" in preview and "analyst" in preview and "board" not in preview
    _shot(page, "04-terminate")
    page.click("[data-testid=terminate-confirm]")
    page.wait_for_selector("[data-testid=notice]")
    page.wait_for_function("agentCanvas.cy.$('node.terminated').length === 2")
    assert set(Agent.objects.filter(owner=carol, status="terminated").values_list("name", flat=True)) == {
        "ceo",
        "analyst",
    }

    # Agents made elsewhere (the API, a run, another tab) appear without a reload, over the websocket.
    create_agent(owner=carol, name="auditor", provider="scripted", config={"replies": ["ok"]}, parent=board)
    _wait_for_nodes(page, 4)
    assert page.evaluate("agentCanvas.cy.edges().length") == 3


def test_the_agents_page_fits_a_phone(browser, live_server_url, carol):
    board = create_agent(
        owner=carol, name="board", provider="scripted", config={"replies": ["Hi."]}, level=0, privileges=["spawn"]
    )
    create_agent(
        owner=carol, name="ceo", provider="scripted", config={"replies": ["Hi."]}, parent=board, privileges=["spawn"]
    )
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{live_server_url}/accounts/login/")
    page.fill("input[name=username]", "carol")
    page.fill("input[name=password]", "carol-canvas-42")
    page.click("button[type=submit]")
    page.goto(f"{live_server_url}/agents/")
    _wait_for_nodes(page, 2)
    page.mouse.click(*_position(page, "ceo").values())
    page.wait_for_selector("[data-testid=agent-edit-form]")
    _shot(page, "05-phone")
    wide = page.evaluate(
        """() => [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > 391)
                   .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 12)"""
    )
    assert wide == []
    page.close()
