"""The REST API: auth, scoping, starting runs, nested reads, answers, errors, schema."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.runs import services
from apps.runs.models import Run
from tests.conftest import drive

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(alice) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def test_anonymous_requests_are_refused():
    response = APIClient().get("/api/runs/")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"


def test_token_auth_works(alice):
    token = Token.objects.create(user=alice)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/swarms/").status_code == 200


def test_an_api_client_can_build_a_swarm_and_run_it(api):
    for name in ("ann", "ben"):
        response = api.post(
            "/api/agents/", {"name": name, "provider": "scripted", "config": {"replies": [f"{name}!"]}}, format="json"
        )
        assert response.status_code == 201, response.json()
    response = api.post(
        "/api/swarms/",
        {"name": "duo", "strategy": "chat_room", "members": ["ann", "ben"], "strategy_config": {"max_turns": 2}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["members"] == ["ann", "ben"]
    response = api.post("/api/runs/", {"swarm": response.json()["id"], "task": "hello"}, format="json")
    assert response.status_code == 201 and response.json()["status"] == "queued"
    run_id = response.json()["id"]
    drive(Run.objects.get(pk=run_id))
    assert api.get(f"/api/runs/{run_id}/").json()["status"] == "succeeded"
    assert [s["agent_name"] for s in api.get(f"/api/runs/{run_id}/steps/").json()] == ["ann", "ben"]
    assert [m["content"] for m in api.get(f"/api/runs/{run_id}/messages/").json()] == ["hello", "ann!", "ben!"]
    events = api.get(f"/api/runs/{run_id}/events/", {"after": 2}).json()
    assert events[0]["seq"] == 3


def test_invalid_agent_config_is_a_400_with_field_errors_and_nothing_written(api):
    response = api.post(
        "/api/agents/", {"name": "9lives", "provider": "skill", "config": {"skill": "telepathy"}}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_agent_config"
    assert set(error["fields"]) == {"name", "config.skill"}
    assert api.get("/api/agents/").json()["count"] == 0


def test_unknown_strategy_and_unknown_agents_are_400s(api, make_agent):
    make_agent("ann")
    response = api.post("/api/swarms/", {"name": "s", "strategy": "anarchy", "members": ["ann"]}, format="json")
    assert response.status_code == 400 and "strategy" in response.json()["error"]["fields"]
    response = api.post(
        "/api/swarms/", {"name": "s", "strategy": "chat_room", "members": ["ann", "ghost"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_agent"
    response = api.post(
        "/api/swarms/",
        {"name": "s", "strategy": "chat_room", "members": ["ann"], "strategy_config": {"max_turns": -1}},
        format="json",
    )
    assert response.json()["error"]["fields"] == {"strategy_config.max_turns": ["Must be between 1 and 1000."]}


def test_malformed_run_input_is_a_400_and_no_run_is_created(api, make_swarm):
    swarm = make_swarm()
    response = api.post("/api/runs/", {"swarm": swarm.pk, "task": "", "max_steps": 0}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"task", "max_steps"}
    response = api.post("/api/runs/", {"swarm": 999999, "task": "x"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["fields"]["swarm"]
    assert Run.objects.count() == 0


def test_users_only_see_their_own_runs(api, bob, make_agent, make_swarm):
    bobs_swarm = make_swarm(name="bobs", owner=bob, agents=[make_agent("b1", owner=bob)])
    bobs_run = services.start_run(swarm=bobs_swarm, task="secret", user=bob)
    assert api.get(f"/api/runs/{bobs_run.pk}/").status_code == 404
    assert api.get("/api/runs/").json()["count"] == 0
    response = api.post("/api/runs/", {"swarm": bobs_swarm.pk, "task": "x"}, format="json")
    assert response.status_code == 400


def test_a_human_request_is_answered_through_the_api(api, alice, make_agent, make_swarm):
    config = {
        "stages": [
            {"name": "ok", "ask_human": {"prompt": "Go?", "fields": [{"name": "n", "kind": "number"}]}},
            {"agent": "a1", "input": "{{ answers.ok.n }}"},
        ]
    }
    swarm = make_swarm(
        strategy="sequential",
        agents=[make_agent("a1", provider="skill", config={"skill": "calculator"})],
        strategy_config=config,
    )
    run = drive(services.start_run(swarm=swarm, task="x", user=alice))
    (pending,) = api.get("/api/human-requests/", {"status": "pending"}).json()["results"]
    response = api.post(f"/api/human-requests/{pending['id']}/answer/", {"answer": {"n": "seven"}}, format="json")
    assert response.status_code == 400 and response.json()["error"]["fields"] == {"n": ["Must be a number."]}
    response = api.post(f"/api/human-requests/{pending['id']}/answer/", {"answer": {"n": 6}}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "answered"
    drive(run)
    assert api.get(f"/api/runs/{run.pk}/").json()["result"] == "6"
    response = api.post(f"/api/human-requests/{pending['id']}/answer/", {"answer": {"n": 1}}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "human_request_closed"


def test_cancel_ends_a_run_and_a_second_cancel_is_a_conflict(api, alice, make_swarm):
    run = services.start_run(swarm=make_swarm(), task="x", user=alice)
    response = api.post(f"/api/runs/{run.pk}/cancel/", {"reason": "changed my mind"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert response.json()["error"] == "changed my mind"
    response = api.post(f"/api/runs/{run.pk}/cancel/", {}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "run_not_active"


def test_the_openapi_schema_and_docs_are_served(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/runs/", "/api/runs/{id}/cancel/", "/api/human-requests/{id}/answer/"} <= set(schema["paths"])
    docs = api.get("/api/docs/")
    assert docs.status_code == 200 and b"cdn" not in docs.content.lower()


def test_staff_reach_anyones_swarm_over_the_api_as_on_the_pages(api, alice, bob, django_user_model, make_agent):
    bobs = make_agent("b1", owner=bob)
    bobs_client = APIClient()
    bobs_client.force_authenticate(bob)
    created = bobs_client.post(
        "/api/swarms/", {"name": "bobs", "strategy": "chat_room", "members": ["b1"]}, format="json"
    )
    assert created.status_code == 201, created.json()
    swarm_id = created.json()["id"]

    assert api.get(f"/api/swarms/{swarm_id}/").status_code == 404  # alice is not staff
    assert swarm_id not in [row["id"] for row in api.get("/api/swarms/").json()["results"]]
    refused = api.post("/api/runs/", {"swarm": swarm_id, "task": "x"}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["fields"] == {
        "swarm": ["No swarm you can see has this id."]
    }

    admin = django_user_model.objects.create_user(username="admin", password="x", is_staff=True)
    make_agent("admins-agent", owner=admin)
    staff = APIClient()
    staff.force_authenticate(admin)
    assert swarm_id in [row["id"] for row in staff.get("/api/swarms/").json()["results"]]
    changed = staff.patch(f"/api/swarms/{swarm_id}/", {"description": "checked by staff"}, format="json")
    assert changed.status_code == 200, changed.json()
    # members are still the owner's agents: another user's agent is not one of them
    foreign = staff.patch(f"/api/swarms/{swarm_id}/", {"members": ["admins-agent"]}, format="json")
    assert foreign.status_code == 400 and "members" in foreign.json()["error"]["fields"]
    started = staff.post("/api/runs/", {"swarm": swarm_id, "task": "audit"}, format="json")
    assert started.status_code == 201, started.json()
    run = Run.objects.get(pk=started.json()["id"])
    assert run.swarm_id == swarm_id and run.owner == admin and bobs.owner == bob
    assert staff.get(f"/api/swarms/{swarm_id}/export/").status_code == 200
