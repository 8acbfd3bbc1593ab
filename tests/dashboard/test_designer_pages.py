"""The designer's pages: what they give the canvas to draw (strategies with their schemas, the owner's
palette, the swarm being edited) and who may open them."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from apps.engine.strategies import StrategyName

pytestmark = pytest.mark.django_db


def designer_data(response) -> dict:
    match = re.search(
        r'<script id="designer-data" type="application/json">(.*?)</script>', response.content.decode(), re.S
    )
    assert match, "the page carries the designer's data"
    return json.loads(match.group(1))


def test_the_new_swarm_page_is_the_designer_with_every_strategy_and_its_schema(client, alice, make_agent):
    make_agent("writer")
    client.force_login(alice)
    response = client.get(reverse("dashboard:swarm-new"))
    assert response.status_code == 200
    assert 'id="designer-canvas"' in response.content.decode()
    data = designer_data(response)
    assert [s["name"] for s in data["catalogue"]] == [name.value for name in StrategyName]
    heist = next(s for s in data["catalogue"] if s["name"] == "heist")
    assert heist["config_schema"]["properties"]["nodes"]["type"] == "array"
    assert heist["description"] and heist["label"]
    assert data["swarm"] is None
    assert data["urls"]["validate"] == "/api/swarms/validate/"


def test_the_palette_offers_the_owners_active_agents_and_swarms_only(client, alice, bob, make_agent, make_swarm):
    make_agent("writer")
    make_agent("bobs-agent", owner=bob)
    gone = make_agent("retired")
    gone.status = "terminated"
    gone.save(update_fields=["status"])
    team = make_swarm(name="Research Team")
    client.force_login(alice)
    palette = designer_data(client.get(reverse("dashboard:swarm-new")))["palette"]
    by_name = {item["name"]: item for item in palette}
    assert {"writer", "a1", "a2", "research-team"} <= set(by_name)
    assert "bobs-agent" not in by_name and "retired" not in by_name
    # A swarm is a member by its API reference; its config name is its slug.
    assert by_name["research-team"]["ref"] == f"swarm:{team.pk}"
    assert by_name["writer"]["ref"] == "writer" and by_name["writer"]["kind"] == "agent"


def test_designing_a_swarm_gives_its_config_members_and_drawing(client, alice, make_agent, make_swarm):
    fetcher, parser = make_agent("fetcher"), make_agent("parser")
    nodes = [
        {"name": "fetch", "agent": "fetcher"},
        {"name": "parse", "agent": "parser", "depends_on": ["fetch"]},
    ]
    swarm = make_swarm(name="flow", strategy="heist", agents=[fetcher, parser], strategy_config={"nodes": nodes})
    client.force_login(alice)
    response = client.get(reverse("dashboard:swarm-design", args=[swarm.pk]))
    assert response.status_code == 200
    data = designer_data(response)
    assert data["swarm"]["id"] == swarm.pk
    assert data["swarm"]["strategy_config"] == {"nodes": nodes}
    assert [m["ref"] for m in data["swarm"]["members"]] == ["fetcher", "parser"]
    # A swarm is not offered as a member of itself.
    assert "flow" not in {item["name"] for item in data["palette"]}


def test_someone_elses_swarm_cannot_be_designed(client, bob, make_swarm):
    swarm = make_swarm(name="alices")
    client.force_login(bob)
    assert client.get(reverse("dashboard:swarm-design", args=[swarm.pk])).status_code == 404


def test_the_designer_needs_a_login(client):
    response = client.get(reverse("dashboard:swarm-new"))
    assert response.status_code == 302 and "/login/" in response.url


def test_the_plain_json_form_stays_reachable_from_the_designer(client, alice):
    client.force_login(alice)
    page = client.get(reverse("dashboard:swarm-new")).content.decode()
    assert reverse("dashboard:swarm-new-json") in page
    assert client.get(reverse("dashboard:swarm-new-json")).status_code == 200


def test_the_new_swarm_page_shows_the_pattern_gallery(client, alice):
    client.force_login(alice)
    page = client.get(reverse("dashboard:swarm-new")).content.decode()
    assert 'id="designer-gallery"' in page


def test_a_swarms_page_links_to_its_designer(client, alice, make_swarm):
    team = make_swarm(name="team")
    client.force_login(alice)
    page = client.get(reverse("dashboard:swarm-detail", args=[team.pk])).content.decode()
    assert f'href="{reverse("dashboard:swarm-design", args=[team.pk])}">Design</a>' in page
