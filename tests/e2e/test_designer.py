"""The swarm designer in Debian's chromium, driven with real mouse drags: a HEIST workflow drawn from the
palette, its edges drawn node to node, a cycle refused as it is drawn, saved, run and watched to the end;
undo/redo and keyboard deletion; roles given on the canvas; the JSON view in sync; a conflicting save."""

from __future__ import annotations

import pytest

from apps.runs.models import Run
from apps.swarms.models import Swarm
from apps.swarms.services import update_swarm

pytestmark = [pytest.mark.browser, pytest.mark.worker]

SHOTS = "/tmp/shots/designer"


def open_designer(page, url: str) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(url)
    page.wait_for_selector("#designer[data-ready=true]")
    page.evaluate("document.getElementById('designer-gallery')?.removeAttribute('open')")
    return problems


def point(page, name: str) -> dict:
    """Where node ``name`` is in the viewport (the canvas scrolled into view first)."""
    # Two frames after scrolling, so the scroll event has told Cytoscape where its canvas went.
    page.evaluate(
        """async () => {
            document.getElementById("designer-canvas").scrollIntoView({block: "center"});
            await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
        }"""
    )
    found = page.evaluate("(name) => window.swarmDesigner.point(name)", name)
    assert found, f"{name} is on the canvas"
    return found


def drag_from_palette(page, member: str, x: float, y: float) -> None:
    """Press on the palette item, move onto the canvas (at x, y of the canvas box) and let go."""
    item = page.locator(f'[data-testid="palette-{member}"] .palette-name')
    item.scroll_into_view_if_needed()
    box = item.bounding_box()
    canvas = page.locator("#designer-canvas").bounding_box()
    page.mouse.move(box["x"] + 10, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(canvas["x"] + x, canvas["y"] + y, steps=8)
    page.mouse.up()


def draw_edge(page, source: str, target: str) -> None:
    """Select the source node (its handle shows), press on the handle, drag to the target and let go."""
    start, end = point(page, source), point(page, target)
    page.mouse.click(start["x"], start["y"])
    page.wait_for_selector(f'#designer-edge-handle[data-node="{source}"]:not([hidden])')
    page.mouse.move(start["handleX"], start["handleY"], steps=3)
    page.mouse.down()
    page.mouse.move((start["x"] + end["x"]) / 2, (start["y"] + end["y"]) / 2 + 5, steps=6)
    page.mouse.move(end["x"], end["y"], steps=6)
    page.mouse.up()


def config(page) -> dict:
    return page.evaluate("window.swarmDesigner.state().config")


def node(page, name: str) -> dict:
    return next(n for n in config(page)["nodes"] if n["name"] == name)


def wait_valid(page) -> None:
    page.wait_for_function("window.swarmDesigner.validity() === 'valid'")


def test_a_person_draws_a_workflow_with_a_retry_and_a_fallback_saves_it_and_watches_it_run(
    page, live_server_url, make_agent
):
    make_agent("fetcher", config={"replies": [{"error": "upstream down"}], "cycle": True})
    make_agent("mirror", config={"replies": ["mirrored page"]})
    make_agent("parser", config={"replies": ["parsed"]})
    make_agent("checker", config={"replies": ["licence ok"]})
    make_agent("writer", provider="skill", config={"skill": "echo", "template": "report: {{ input }}"})
    problems = open_designer(page, f"{live_server_url}/swarms/new/")
    assert page.input_value("#designer-strategy") == "heist"

    # Four nodes dragged from the palette.
    drag_from_palette(page, "fetcher", 90, 200)
    drag_from_palette(page, "parser", 330, 110)
    drag_from_palette(page, "checker", 330, 300)
    drag_from_palette(page, "writer", 570, 200)
    page.wait_for_function("window.swarmDesigner.cy.nodes().length === 4")
    assert [n["name"] for n in config(page)["nodes"]] == ["fetcher", "parser", "checker", "writer"]
    assert [n["agent"] for n in config(page)["nodes"]] == ["fetcher", "parser", "checker", "writer"]

    # Edges drawn node to node: the target depends on the source.
    for source, target in [("fetcher", "parser"), ("fetcher", "checker"), ("parser", "writer"), ("checker", "writer")]:
        draw_edge(page, source, target)
        page.wait_for_function(
            "([s, t]) => (window.swarmDesigner.state().config.nodes.find(n => n.name === t).depends_on || [])"
            ".includes(s)",
            arg=[source, target],
        )
    assert page.evaluate("window.swarmDesigner.cy.edges().length") == 4

    # A cycle is refused as it is drawn, naming it; the edge is not added.
    draw_edge(page, "writer", "fetcher")
    page.wait_for_selector("#designer-canvas-message.bad:not([hidden])")
    message = page.inner_text("#designer-canvas-message")
    assert "Cycle" in message and "fetcher" in message and "writer" in message
    assert "depends_on" not in node(page, "fetcher")
    assert page.evaluate("window.swarmDesigner.cy.edges().length") == 4

    # The first node gets a retry and a fallback in its side panel.
    p = point(page, "fetcher")
    page.mouse.click(p["x"], p["y"])
    page.wait_for_selector("#designer-node-form")
    page.fill("#node-retry-attempts", "1")
    page.fill("#node-retry-backoff_s", "0.1")
    page.click('#designer-node-form button[data-action=add][data-path="fallbacks"]')
    page.select_option("#node-fallbacks-0", label="mirror")
    # The writer's input is offered its upstream outputs.
    p = point(page, "writer")
    page.mouse.click(p["x"], p["y"])
    page.wait_for_selector('#designer-node-form button[data-insert="outputs.parser"]')
    assert page.locator('#designer-node-form button[data-insert="outputs.fetcher"]').count() == 1
    page.fill("#node-input", "")
    page.click('#designer-node-form button[data-insert="outputs.parser"]')
    page.click('#designer-node-form button[data-insert="outputs.checker"]')

    page.fill("#designer-name", "Nightly pipeline")
    wait_valid(page)
    page.screenshot(path=f"{SHOTS}/heist-drawn-1280.png", full_page=True)
    page.click("#designer-save")
    page.wait_for_function("window.swarmDesigner.swarmId() !== null")
    swarm = Swarm.objects.get(name="Nightly pipeline")
    assert page.url.endswith(f"/swarms/{swarm.pk}/design/")
    assert swarm.member_names() == ["fetcher", "parser", "checker", "writer", "mirror"]
    saved = {n["name"]: n for n in swarm.strategy_config["nodes"]}
    assert saved["fetcher"]["retry"] == {"attempts": 1, "backoff_s": 0.1}
    assert saved["fetcher"]["fallbacks"] == ["mirror"]
    assert saved["writer"]["depends_on"] == ["parser", "checker"]
    assert saved["writer"]["input"] == "{{ outputs.parser }}{{ outputs.checker }}"
    assert set(swarm.layout["nodes"]) == {"fetcher", "parser", "checker", "writer"}

    # The drawing comes back as it was saved.
    page.reload()
    page.wait_for_selector("#designer[data-ready=true]")
    assert page.evaluate("window.swarmDesigner.cy.edges().length") == 4
    positions = page.evaluate("window.swarmDesigner.state().layout.nodes")
    assert positions == swarm.layout["nodes"]

    # Run it from the canvas and watch every node finish.
    page.click("#designer-run")
    page.fill("#designer-run-task", "tonight's build")
    page.fill("#designer-run-max-steps", "30")
    page.click("#designer-run-start")
    page.wait_for_url("**/runs/*/")
    run = Run.objects.get(swarm=swarm)
    assert run.max_steps == 30
    for name in ["fetcher", "parser", "checker", "writer"]:
        page.wait_for_function(
            "(n) => window.swarmDag && window.swarmDag.status(n) === 'done'", arg=name, timeout=30_000
        )
    page.wait_for_selector('#run-status [data-status="succeeded"]')
    assert problems == []


def test_undo_redo_and_the_delete_key_work_on_the_drawing(page, live_server_url, make_agent):
    make_agent("fetcher")
    make_agent("parser")
    problems = open_designer(page, f"{live_server_url}/swarms/new/")
    drag_from_palette(page, "fetcher", 120, 200)
    drag_from_palette(page, "parser", 420, 200)
    draw_edge(page, "fetcher", "parser")
    page.wait_for_function("window.swarmDesigner.cy.edges().length === 1")

    # Select the edge (its middle) and delete it with the keyboard.
    a, b = point(page, "fetcher"), point(page, "parser")
    page.mouse.click((a["x"] + b["x"]) / 2, (a["y"] + b["y"]) / 2)
    page.keyboard.press("Delete")
    page.wait_for_function("window.swarmDesigner.cy.edges().length === 0")
    page.keyboard.press("Control+z")
    page.wait_for_function("window.swarmDesigner.cy.edges().length === 1")
    page.keyboard.press("Control+Shift+z")
    page.wait_for_function("window.swarmDesigner.cy.edges().length === 0")
    page.click("#designer-undo")
    page.wait_for_function("window.swarmDesigner.cy.edges().length === 1")

    # A node deleted with Backspace takes its dependencies with it.
    b = point(page, "parser")
    page.mouse.click(b["x"], b["y"])
    page.keyboard.press("Backspace")
    page.wait_for_function("window.swarmDesigner.cy.nodes().length === 1")
    assert [n["name"] for n in config(page)["nodes"]] == ["fetcher"]
    page.click("#designer-undo")
    page.wait_for_function("window.swarmDesigner.cy.nodes().length === 2")

    # Auto-layout moves the nodes (an undoable edit) and keeps the graph.
    before = page.evaluate("window.swarmDesigner.state().layout.nodes")
    page.click("#designer-layout")
    page.wait_for_function("(b) => JSON.stringify(window.swarmDesigner.state().layout.nodes) !== b", arg=str(before))
    assert page.evaluate("window.swarmDesigner.cy.edges().length") == 1
    assert problems == []


def test_a_boss_worker_team_gets_its_roles_on_the_canvas(page, live_server_url, make_agent):
    make_agent("boss", config={"replies": ['{"answer": "done"}']})
    make_agent("calc")
    make_agent("scribe")
    problems = open_designer(page, f"{live_server_url}/swarms/new/")
    page.select_option("#designer-strategy", "boss_worker")
    assert "director" in page.inner_text("#designer-strategy-description").lower()
    for i, name in enumerate(["boss", "calc", "scribe"]):
        drag_from_palette(page, name, 150 + 200 * i, 200)
    page.wait_for_function("window.swarmDesigner.cy.nodes().length === 3")

    p = point(page, "boss")
    page.mouse.click(p["x"], p["y"])
    page.check("#designer-role-director")
    for name in ["calc", "scribe"]:
        p = point(page, name)
        page.mouse.click(p["x"], p["y"])
        page.check("#designer-role-workers")
    assert config(page) == {"director": "boss", "workers": ["calc", "scribe"]}
    labels = page.evaluate("window.swarmDesigner.cy.nodes().map(n => n.data('label'))")
    assert "boss\n[director]" in labels and "calc\n[workers]" in labels
    # The form shows the same roles, and a setting typed there lands in the config.
    assert page.locator("#cfg-director option:checked").inner_text() == "boss"
    page.fill("#cfg-max_loops", "3")
    assert config(page)["max_loops"] == 3

    # The JSON view follows, and an edit in it redraws the canvas.
    page.click("#designer-json-panel summary")
    assert '"director": "boss"' in page.input_value("#designer-json")
    text = (
        page.input_value("#designer-json")
        .replace('"scribe"\n  ]', '"scribe"\n  ]')
        .replace('"workers": [\n      "calc",\n      "scribe"\n    ]', '"workers": [\n      "calc"\n    ]')
    )
    page.fill("#designer-json", text)
    page.wait_for_function("window.swarmDesigner.state().config.workers.length === 1")
    labels = page.evaluate("window.swarmDesigner.cy.nodes().map(n => n.data('label'))")
    assert "scribe" in labels
    page.fill("#designer-name", "Team")
    wait_valid(page)
    page.screenshot(path=f"{SHOTS}/boss-worker-1280.png", full_page=True)
    # Another strategy starts from its own config; coming back finds this one as it was.
    page.select_option("#designer-strategy", "hive")
    assert config(page) == {}
    page.select_option("#designer-strategy", "boss_worker")
    assert config(page) == {"director": "boss", "workers": ["calc"], "max_loops": 3}
    assert problems == []


def test_every_strategy_draws_its_form_without_errors(page, live_server_url, make_agent):
    make_agent("ann")
    problems = open_designer(page, f"{live_server_url}/swarms/new/")
    drag_from_palette(page, "ann", 200, 200)
    strategies = page.evaluate("[...document.querySelectorAll('#designer-strategy option')].map(o => o.value)")
    assert len(strategies) == 10
    for strategy in strategies:
        page.select_option("#designer-strategy", strategy)
        page.wait_for_function("(s) => document.getElementById('designer').dataset.strategy === s", arg=strategy)
        assert page.locator("#designer-config-form .sf-field, #designer-config-form .sf-object").count() > 0, strategy
    assert problems == []


def test_a_second_save_of_the_same_swarm_is_a_conflict_and_overwrites_nothing(
    page, live_server_url, make_agent, make_swarm
):
    team = make_swarm(name="team", strategy="chat_room", strategy_config={"max_turns": 4})
    problems = open_designer(page, f"{live_server_url}/swarms/{team.pk}/design/")
    wait_valid(page)
    # Someone else saves it meanwhile.
    update_swarm(team, description="their change")
    page.fill("#designer-description", "my change")
    wait_valid(page)
    page.click("#designer-save")
    page.wait_for_selector('#designer-status[data-tone="conflict"]')
    assert "someone else saved this swarm" in page.inner_text("#designer-status").lower()
    team.refresh_from_db()
    assert team.description == "their change"
    assert problems == []


def test_a_problem_shows_on_its_node_and_beside_its_field_and_saving_waits_for_a_fix(
    page, live_server_url, make_agent, make_swarm
):
    agents = [make_agent("fetcher"), make_agent("parser")]
    nodes = [{"name": "fetch", "agent": "fetcher"}, {"name": "parse", "agent": "parser", "depends_on": ["fetch"]}]
    flow = make_swarm(name="flow", strategy="heist", agents=agents, strategy_config={"nodes": nodes})
    problems = open_designer(page, f"{live_server_url}/swarms/{flow.pk}/design/")
    wait_valid(page)
    p = point(page, "parse")
    page.mouse.click(p["x"], p["y"])
    page.fill("#node-input", "{{ outputs.fetch ")
    page.wait_for_function("window.swarmDesigner.validity() === 'invalid'")
    assert page.locator('#designer-node-form [data-error-for="input"] li').count() == 1
    assert page.evaluate("window.swarmDesigner.cy.$('.has-error').map(n => n.data('name'))") == ["parse"]
    assert page.locator("#designer-save").is_disabled()
    assert "node parse > input: Template syntax error" in page.inner_text(
        '#designer-errors [data-error-key="strategy_config.nodes[1].input"]'
    )
    page.screenshot(path=f"{SHOTS}/node-error-1280.png", full_page=True)

    page.fill("#node-input", "{{ outputs.fetch }}")
    wait_valid(page)
    assert page.evaluate("window.swarmDesigner.cy.$('.has-error').length") == 0
    page.click("#designer-save")
    page.wait_for_function("window.swarmDesigner.saves() === 1")
    assert page.evaluate("window.swarmDesigner.version()") == 2
    flow.refresh_from_db()
    assert flow.strategy_config["nodes"][1]["input"] == "{{ outputs.fetch }}"
    assert flow.version == 2
    assert problems == []


def test_a_run_the_server_refuses_says_why_beside_the_field_and_starts_nothing(page, live_server_url, make_swarm):
    team = make_swarm(name="team", strategy="chat_room", strategy_config={"max_turns": 2})
    problems = open_designer(page, f"{live_server_url}/swarms/{team.pk}/design/")
    wait_valid(page)
    page.click("#designer-run")
    assert page.inner_text("#designer-run-note") == ""  # nothing to save first
    page.fill("#designer-run-task", "   ")
    page.click("#designer-run-start")
    page.wait_for_selector('[data-run-error="task"] li')
    assert "blank" in page.inner_text('[data-run-error="task"]')
    page.screenshot(path=f"{SHOTS}/run-dialog-1280.png")
    assert not Run.objects.exists()
    assert problems == []
