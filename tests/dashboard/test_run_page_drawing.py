"""The run page draws the swarm for every strategy: members with their roles, where the designer put
them, who acts now, and steps, messages and cost per member, live and the same after a reload."""

import json
import re

import pytest
from django.test import Client

from apps.runs import services as run_services
from apps.runs.models import RunStatus
from apps.runs.presenters import member_activity, run_drawing
from apps.swarms.patterns import create_from_pattern
from apps.swarms.services import update_swarm
from tests.conftest import drive


def page_json(html: str, element_id: str):
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(match.group(1)) if match else None


@pytest.mark.django_db
def test_a_boss_worker_run_draws_the_director_above_its_workers(alice):
    swarm = create_from_pattern(owner=alice, key="boss-worker", name="Crew", prefix="c")
    run = run_services.start_run(swarm=swarm, task="2 + 2", user=alice)
    drawing = run_drawing(run)
    assert [m["name"] for m in drawing["members"]] == ["c-boss", "c-calc", "c-scribe"]
    assert drawing["members"][0]["roles"] == ["director"] and drawing["members"][1]["roles"] == ["workers"]
    assert drawing["edges"] == [["c-boss", "c-calc"], ["c-boss", "c-scribe"]]
    # the pattern's picture is the swarm's first drawing: the director above, its workers below
    boss, calc, scribe = (m["position"] for m in drawing["members"])
    assert boss["y"] < calc["y"] == scribe["y"] and calc["x"] < boss["x"] < scribe["x"]


@pytest.mark.django_db
def test_a_swarm_nobody_drew_has_no_positions_and_the_page_lays_it_out(alice):
    swarm = create_from_pattern(owner=alice, key="orc-arena", name="Arena", prefix="o")
    assert swarm.layout == {}
    drawing = run_drawing(run_services.start_run(swarm=swarm, task="math drills", user=alice))
    assert all(m["position"] is None for m in drawing["members"])


@pytest.mark.django_db
def test_a_chat_room_is_drawn_as_a_ring_and_a_pipeline_as_a_chain(alice, make_agent, make_swarm):
    ann, ben, cy = make_agent("ann"), make_agent("ben"), make_agent("cy")
    room = make_swarm(name="room", strategy="chat_room", agents=[ann, ben, cy])
    pipeline = make_swarm(name="pipe", strategy="sequential", agents=[ann, ben, cy])
    assert run_drawing(run_services.start_run(swarm=room, task="t", user=alice))["edges"] == [
        ["ann", "ben"],
        ["ben", "cy"],
        ["cy", "ann"],
    ]
    assert run_drawing(run_services.start_run(swarm=pipeline, task="t", user=alice))["edges"] == [
        ["ann", "ben"],
        ["ben", "cy"],
    ]


@pytest.mark.django_db
def test_members_keep_the_positions_drawn_in_the_designer(alice):
    swarm = create_from_pattern(owner=alice, key="hive-vote", name="Vote", prefix="v")
    update_swarm(swarm, layout={"members": {"v-ann": {"x": 10, "y": 20}, "v-ben": {"x": 200.5, "y": 20}}})
    run = run_services.start_run(swarm=swarm, task="When?", user=alice)
    positions = {m["name"]: m["position"] for m in run_drawing(run)["members"]}
    assert positions == {"v-ann": {"x": 10.0, "y": 20.0}, "v-ben": {"x": 200.5, "y": 20.0}, "v-cat": None}


@pytest.mark.django_db
def test_activity_counts_each_members_steps_messages_and_cost(alice):
    swarm = create_from_pattern(owner=alice, key="haas-board", name="Board", prefix="b")
    run = drive(run_services.start_run(swarm=swarm, task="Open-source it?", user=alice))
    assert run.status == RunStatus.SUCCEEDED, run.error
    rows = {row["name"]: row for row in member_activity(run)}
    # chair, ethicist, strategist, chair (who closes): scripted calls cost $0.001 each
    assert {n: (r["steps"], r["messages"], r["cost"]) for n, r in rows.items()} == {
        "b-chair": (2, 2, "0.002"),
        "b-ethicist": (1, 1, "0.001"),
        "b-strategist": (1, 1, "0.001"),
    }
    assert not any(r["acting"] for r in rows.values())


@pytest.mark.django_db
def test_the_member_acting_now_is_marked_on_the_page(alice):
    swarm = create_from_pattern(owner=alice, key="boss-worker", name="Crew", prefix="c")
    run = run_services.start_run(swarm=swarm, task="2 + 2", user=alice)
    run_services.begin_run(run.pk)
    step = run.steps.get()
    run.steps.filter(pk=step.pk).update(status="running")
    client = Client()
    client.force_login(alice)
    html = client.get(f"/runs/{run.pk}/").content.decode()
    assert re.search(r'<tr data-member="c-boss" class="acting">', html)
    assert 'data-testid="run-canvas"' in html and 'id="member-activity"' in html
    assert 'data-agent="c-boss" data-status="running"' in html
    assert page_json(html, "run-drawing")["members"][0]["roles"] == ["director"]


@pytest.mark.django_db
def test_a_heist_run_keeps_its_workflow_graph_and_adds_the_members_table(alice):
    swarm = create_from_pattern(owner=alice, key="heist-pipeline", name="Pipe", prefix="h")
    update_swarm(swarm, layout={"nodes": {"fetch": {"x": 0, "y": 0}, "parse": {"x": 100, "y": 0}}})
    run = run_services.start_run(swarm=swarm, task="go", user=alice)
    client = Client()
    client.force_login(alice)
    html = client.get(f"/runs/{run.pk}/").content.decode()
    assert 'id="dag"' in html and 'id="member-activity"' in html and 'id="run-canvas"' not in html
    assert page_json(html, "dag-positions") == {"fetch": {"x": 0.0, "y": 0.0}, "parse": {"x": 100.0, "y": 0.0}}
