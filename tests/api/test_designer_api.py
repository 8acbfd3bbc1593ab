"""The API the designer uses: catalogues of strategies and providers, validation that writes
nothing, and the swarm's drawing and version."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.agents.models import Agent, AuditEntry
from apps.engine.strategies import StrategyName
from apps.swarms.models import Swarm, SwarmMember

pytestmark = pytest.mark.django_db

HEIST = {
    "nodes": [
        {"name": "fetch", "agent": "fetcher", "retry": {"attempts": 2, "backoff_s": 0.5}},
        {"name": "report", "agent": "writer", "depends_on": ["fetch"], "input": "{{ outputs.fetch }}"},
    ]
}
LAYOUT = {
    "members": {"fetcher": {"x": 120.0, "y": 80.0}, "writer": {"x": 320.5, "y": 80.0}},
    "nodes": {"fetch": {"x": 40.0, "y": 200.0}, "report": {"x": 240.0, "y": 200.0}},
}


@pytest.fixture
def api(alice) -> APIClient:
    """A client as scripts use it: a real token in the Authorization header."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")
    return client


@pytest.fixture
def team(make_agent):
    return [make_agent("fetcher"), make_agent("writer")]


def _rows() -> dict[str, int]:
    return {
        "agents": Agent.objects.count(),
        "swarms": Swarm.objects.count(),
        "members": SwarmMember.objects.count(),
        "audit": AuditEntry.objects.count(),
    }


# ---- catalogues ---------------------------------------------------------------------------------


def test_strategies_lists_every_strategy_with_its_roles_and_config_schema(api):
    response = api.get("/api/strategies/")
    assert response.status_code == 200
    strategies = response.json()
    assert [s["name"] for s in strategies] == [name.value for name in StrategyName]
    heist = next(s for s in strategies if s["name"] == "heist")
    assert heist["label"] == "HEIST workflow (DAG)" and heist["description"]
    assert set(heist) == {"name", "label", "description", "roles", "config_schema"}
    assert heist["config_schema"]["type"] == "object" and "nodes" in heist["config_schema"]["properties"]
    assert all(set(role) == {"role", "key", "many", "description"} for s in strategies for role in s["roles"])


def test_providers_lists_every_provider_with_its_config_schema(api):
    response = api.get("/api/providers/")
    assert response.status_code == 200
    providers = {p["name"]: p for p in response.json()}
    assert list(providers) == ["skill", "scripted", "openai"]
    assert set(providers["openai"]) == {"name", "label", "description", "config_schema"}
    openai = providers["openai"]["config_schema"]["properties"]
    assert {"base_url", "model", "api_key_env", "temperature", "max_tokens", "prompt_price_per_1k"} <= set(openai)
    skills = [alt["properties"]["skill"]["const"] for alt in providers["skill"]["config_schema"]["oneOf"]]
    assert skills == ["calculator", "python", "echo", "judge", "terminator"]


def test_the_catalogues_need_a_login_but_no_particular_rights(bob):
    assert APIClient().get("/api/strategies/").status_code in (401, 403)
    assert APIClient().get("/api/providers/").status_code in (401, 403)
    client = APIClient()
    assert client.login(username="bob", password="builder-42")  # a session, as the browser has
    assert client.get("/api/strategies/").status_code == 200
    assert client.get("/api/providers/").status_code == 200


def test_the_new_endpoints_are_in_the_openapi_schema_with_their_types(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    paths, components = schema["paths"], schema["components"]["schemas"]

    def body(path, method, status):
        return paths[path][method]["responses"][status]["content"]["application/json"]["schema"]

    assert body("/api/strategies/", "get", "200") == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/StrategyInfo"},
    }
    assert body("/api/providers/", "get", "200")["items"] == {"$ref": "#/components/schemas/ProviderInfo"}
    strategy = components["StrategyInfo"]["properties"]
    assert strategy["config_schema"]["type"] == "object" and strategy["roles"]["type"] == "array"
    for path in ("/api/swarms/validate/", "/api/agents/validate/"):
        assert body(path, "post", "200") == {"$ref": "#/components/schemas/Valid"}
        assert body(path, "post", "400") == {"$ref": "#/components/schemas/Error"}
    assert body("/api/swarms/validate/", "post", "409") == {"$ref": "#/components/schemas/Error"}
    swarm = components["SwarmRequest"]["properties"]
    assert {"layout", "version"} <= set(swarm)
    assert swarm["layout"]["properties"]["members"]["additionalProperties"]["required"] == ["x", "y"]
    assert "id" in components["SwarmValidationRequest"]["properties"]


# ---- validating a swarm ---------------------------------------------------------------------------


def test_a_valid_swarm_validates_and_nothing_is_written(api, team):
    before = _rows()
    body = {"name": "pipeline", "strategy": "heist", "members": ["fetcher", "writer"], "strategy_config": HEIST}
    response = api.post("/api/swarms/validate/", {**body, "layout": LAYOUT}, format="json")
    assert response.status_code == 200 and response.json() == {"valid": True}
    assert _rows() == before


def test_validate_gives_the_field_errors_a_save_gives_and_writes_nothing(api, team, make_swarm):
    make_swarm(name="taken", agents=team)
    config = {"nodes": [{"name": "fetch", "agent": "ghost"}, {"name": "report", "agent": "writer", "retries": 1}]}
    body = {"name": "taken", "strategy": "heist", "members": ["fetcher", "writer"], "strategy_config": config}
    before = _rows()
    checked = api.post("/api/swarms/validate/", body, format="json")
    assert _rows() == before
    saved = api.post("/api/swarms/", body, format="json")
    assert checked.status_code == saved.status_code == 400
    assert checked.json() == saved.json()
    assert {"name", "strategy_config.nodes[0].agent"} <= set(checked.json()["error"]["fields"])
    assert _rows() == before


def test_validate_refuses_unknown_members_and_a_bad_drawing_like_a_save(api, team):
    body = {"name": "s", "strategy": "chat_room", "members": ["fetcher", "ghost"]}
    response = api.post("/api/swarms/validate/", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_agent"
    layout = {"members": {"fetcher": {"x": "left", "y": 1}}, "colours": {}}
    body = {"name": "s", "strategy": "chat_room", "members": ["fetcher"], "layout": layout}
    checked = api.post("/api/swarms/validate/", body, format="json")
    saved = api.post("/api/swarms/", body, format="json")
    assert checked.json() == saved.json()
    assert set(checked.json()["error"]["fields"]) == {"layout.members.fetcher.x", "layout.colours"}
    assert Swarm.objects.count() == 0


def test_validate_with_an_id_checks_an_edit_of_that_swarm(api, alice, team, make_swarm, bob):
    swarm = make_swarm(name="pipeline", strategy="heist", agents=team, strategy_config=HEIST)
    other = make_swarm(name="other", agents=team)
    # its own name is no clash; only the fields sent change
    response = api.post("/api/swarms/validate/", {"id": swarm.pk, "description": "new"}, format="json")
    assert response.status_code == 200
    response = api.post("/api/swarms/validate/", {"id": swarm.pk, "name": other.name}, format="json")
    assert response.status_code == 400 and set(response.json()["error"]["fields"]) == {"name"}
    response = api.post("/api/swarms/validate/", {"id": swarm.pk, "members": ["writer"]}, format="json")
    assert "strategy_config.nodes[0].agent" in response.json()["error"]["fields"]
    response = api.post("/api/swarms/validate/", {"id": 10**9, "description": "x"}, format="json")
    assert response.status_code == 400 and set(response.json()["error"]["fields"]) == {"id"}
    swarm.refresh_from_db()
    assert (swarm.description, swarm.version) == ("", 1)


def test_validate_says_conflict_for_a_stale_version_as_a_save_would(api, team, make_swarm):
    swarm = make_swarm(name="pipeline", agents=team)
    assert api.patch(f"/api/swarms/{swarm.pk}/", {"description": "v2", "version": 1}, format="json").status_code == 200
    response = api.post("/api/swarms/validate/", {"id": swarm.pk, "description": "x", "version": 1}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "conflict"
    assert api.post("/api/swarms/validate/", {"id": swarm.pk, "version": 2}, format="json").status_code == 200


def test_validate_needs_a_login_and_csrf_for_a_session(alice, team):
    assert APIClient().post("/api/swarms/validate/", {}, format="json").status_code in (401, 403)
    browser = APIClient(enforce_csrf_checks=True)
    browser.login(username="alice", password="wonderland-42")
    body = {"name": "s", "strategy": "chat_room", "members": ["fetcher"]}
    response = browser.post("/api/swarms/validate/", body, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["error"]["message"]
    browser.get("/accounts/login/")  # any page that sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post("/api/swarms/validate/", body, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


# ---- the drawing and the version ------------------------------------------------------------------


def test_a_swarm_keeps_its_drawing(api, team):
    body = {
        "name": "pipeline",
        "strategy": "heist",
        "members": ["fetcher", "writer"],
        "strategy_config": HEIST,
        "layout": LAYOUT,
    }
    created = api.post("/api/swarms/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["layout"] == LAYOUT and created.json()["version"] == 1
    moved = {**LAYOUT, "nodes": {"fetch": {"x": 0, "y": 0}}}
    response = api.patch(f"/api/swarms/{created.json()['id']}/", {"layout": moved}, format="json")
    assert response.status_code == 200 and response.json()["layout"] == moved
    assert api.get(f"/api/swarms/{created.json()['id']}/").json()["layout"] == moved


def test_every_save_adds_one_to_the_version_and_a_stale_one_is_a_conflict(api, team, make_swarm):
    swarm = make_swarm(name="pipeline", agents=team, strategy_config={"max_turns": 2})
    assert api.get(f"/api/swarms/{swarm.pk}/").json()["version"] == 1
    first = api.patch(f"/api/swarms/{swarm.pk}/", {"description": "mine", "version": 1}, format="json")
    assert first.status_code == 200 and first.json()["version"] == 2
    before = _rows()
    second = api.patch(
        f"/api/swarms/{swarm.pk}/",
        {"description": "theirs", "members": ["writer"], "strategy_config": {"max_turns": 9}, "version": 1},
        format="json",
    )
    assert second.status_code == 409
    error = second.json()["error"]
    assert error["code"] == "conflict" and "Someone else saved this swarm first" in error["message"]
    swarm.refresh_from_db()
    assert (swarm.description, swarm.strategy_config, swarm.version) == ("mine", {"max_turns": 2}, 2)
    assert swarm.member_names() == ["fetcher", "writer"] and _rows() == before
    put = {"name": "pipeline", "strategy": "chat_room", "members": ["writer"], "version": 1}
    assert api.put(f"/api/swarms/{swarm.pk}/", put, format="json").status_code == 409
    # a client that sends no version is not checked (older clients keep working)
    third = api.patch(f"/api/swarms/{swarm.pk}/", {"description": "anyone"}, format="json")
    assert third.status_code == 200 and third.json()["version"] == 3


def test_a_version_sent_on_create_is_ignored(api, team):
    body = {"name": "s", "strategy": "chat_room", "members": ["fetcher"], "version": 7}
    response = api.post("/api/swarms/", body, format="json")
    assert response.status_code == 201 and response.json()["version"] == 1


# ---- validating an agent -------------------------------------------------------------------------


def test_a_valid_agent_validates_and_nothing_is_written(api, make_agent):
    lead = make_agent("lead", provider="skill", config={"skill": "echo"}, privileges=["spawn", "tool.echo"])
    before = _rows()
    body = {"name": "helper", "provider": "skill", "config": {"skill": "echo"}, "parent": lead.pk}
    response = api.post("/api/agents/validate/", body, format="json")
    assert response.status_code == 200 and response.json() == {"valid": True}
    assert _rows() == before


def test_validate_gives_an_agents_field_errors_as_a_save_does(api):
    body = {"name": "9lives", "provider": "skill", "config": {"skill": "python", "timeout_s": 0}}
    checked = api.post("/api/agents/validate/", body, format="json")
    saved = api.post("/api/agents/", body, format="json")
    assert checked.status_code == saved.status_code == 400
    assert checked.json() == saved.json()
    assert set(checked.json()["error"]["fields"]) == {"name", "config.timeout_s"}
    body = {"name": "m", "provider": "scripted", "config": {"replies": ["x"]}, "memory_top_k": 99}
    assert (
        api.post("/api/agents/validate/", body, format="json").json()
        == api.post("/api/agents/", body, format="json").json()
    )
    assert Agent.objects.count() == 0


def test_validate_gives_the_governance_refusal_a_save_meets_but_audits_nothing(api, make_agent):
    lead = make_agent("lead", provider="skill", config={"skill": "echo"}, privileges=["spawn", "tool.echo"])
    body = {
        "name": "helper",
        "provider": "skill",
        "config": {"skill": "echo"},
        "parent": lead.pk,
        "privileges": ["tool.echo", "terminate"],
    }
    before = _rows()
    checked = api.post("/api/agents/validate/", body, format="json")
    assert checked.status_code == 403 and checked.json()["error"]["code"] == "privilege_escalation"
    assert _rows() == before
    saved = api.post("/api/agents/", body, format="json")
    assert saved.status_code == 403 and saved.json() == checked.json()
    assert AuditEntry.objects.filter(allowed=False, rule="privilege_escalation").count() == 1  # the save's
    skip = {**body, "privileges": ["tool.echo"], "level": 3}
    assert api.post("/api/agents/validate/", skip, format="json").json()["error"]["code"] == "level_skip"


def test_validate_with_an_id_checks_an_edit_and_the_grants_it_needs(api, make_agent):
    lead = make_agent("lead", provider="skill", config={"skill": "echo"}, privileges=["spawn", "tool.echo"])
    helper = make_agent("helper", provider="skill", config={"skill": "echo"}, parent=lead)
    assert api.post("/api/agents/validate/", {"id": helper.pk, "name": "helper"}, format="json").status_code == 200
    assert api.post("/api/agents/validate/", {"id": helper.pk, "name": "lead"}, format="json").json()["error"][
        "fields"
    ] == {"name": ["You already have an agent named 'lead'."]}
    # a calculator needs tool.calculator, which the helper's creator lacks: the save would be refused
    change = {"id": helper.pk, "config": {"skill": "calculator"}}
    before = _rows()
    checked = api.post("/api/agents/validate/", change, format="json")
    assert checked.status_code == 403 and checked.json()["error"]["code"] == "privilege_escalation"
    assert _rows() == before
    saved = api.patch(f"/api/agents/{helper.pk}/", {"config": {"skill": "calculator"}}, format="json")
    assert saved.status_code == 403 and saved.json() == checked.json()
    helper.refresh_from_db()
    assert helper.config == {"skill": "echo"}
