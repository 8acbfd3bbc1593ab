"""The memory REST endpoints: auth, scoping, writing, listing, searching, deleting, error shapes, schema."""

import pytest
from rest_framework.test import APIClient

from apps.memory import services
from apps.memory.models import MemoryEntry
from apps.runs.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(alice) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def team(make_agent, make_swarm):
    scout, scribe = make_agent("scout"), make_agent("scribe")
    return make_swarm(name="team", agents=[scout, scribe]), scout, scribe


def test_anonymous_requests_are_refused():
    for response in (APIClient().get("/api/memory/"), APIClient().post("/api/memory/search/", {"query": "x"})):
        assert response.status_code in (401, 403)
        assert response.json()["error"]["code"] == "not_authenticated"


def test_a_client_writes_then_finds_an_entry_with_its_score(api, alice, team):
    swarm, scout, _ = team
    run = Run.objects.create(owner=alice, swarm=swarm, task="t", strategy=swarm.strategy)
    response = api.post(
        "/api/memory/",
        {
            "swarm": swarm.pk,
            "text": "The cat sleeps on the warm windowsill.",
            "author": scout.pk,
            "run": run.pk,
            "tags": ["pets"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["scope"] == "swarm" and created["swarm"] == swarm.pk and created["agent"] is None
    assert created["author_name"] == "scout" and created["tags"] == ["pets"] and "embedding" not in created
    api.post("/api/memory/", {"swarm": swarm.pk, "text": "Invoices are due on Friday."}, format="json")

    response = api.post("/api/memory/search/", {"swarm": swarm.pk, "query": "where does the kitty nap", "k": 2})
    assert response.status_code == 200, response.json()
    hits = response.json()
    assert next(h["entry"]["id"] for h in hits) == created["id"]
    assert hits[0]["score"] > hits[1]["score"]

    by_get = api.get("/api/memory/search/", {"swarm": swarm.pk, "query": "where does the kitty nap", "tag": "pets"})
    assert by_get.status_code == 200 and [h["entry"]["id"] for h in by_get.json()] == [created["id"]]


def test_listing_filters_by_scope_author_run_and_tag(api, alice, team):
    swarm, scout, scribe = team
    services.write_memory(owner=alice, swarm=swarm, text="a", author=scout, tags=["x"])
    services.write_memory(owner=alice, swarm=swarm, text="b", author=scribe, tags=["xy"])
    services.write_memory(owner=alice, agent=scout, text="c", author=scout)

    def texts(**params):
        response = api.get("/api/memory/", params)
        assert response.status_code == 200, response.json()
        return sorted(e["text"] for e in response.json()["results"])

    assert texts() == ["a", "b", "c"]
    assert texts(swarm=swarm.pk) == ["a", "b"]
    assert texts(agent=scout.pk) == ["c"]
    assert texts(author=scout.pk) == ["a", "c"]
    assert texts(tag="x") == ["a"]  # a whole tag, not a prefix of "xy"
    assert api.get("/api/memory/", {"author": "scout"}).json()["error"]["fields"] == {
        "author": ["A valid integer is required."]
    }


def test_bad_input_is_a_400_with_field_errors_and_nothing_written(api, bob, team, make_agent):
    swarm, _, _ = team
    bobs_agent = make_agent("bobby", owner=bob)

    blank = api.post("/api/memory/", {"swarm": swarm.pk, "text": "  "}, format="json")
    assert blank.status_code == 400
    assert blank.json()["error"]["code"] == "invalid"
    assert "text" in blank.json()["error"]["fields"]

    no_scope = api.post("/api/memory/", {"text": "hello"}, format="json")
    assert no_scope.status_code == 400 and "scope" in no_scope.json()["error"]["fields"]

    foreign = api.post("/api/memory/", {"agent": bobs_agent.pk, "text": "hello"}, format="json")
    assert foreign.status_code == 400
    assert foreign.json()["error"] == {
        "code": "unknown_agent",
        "message": "The memory entry is not valid.",
        "fields": {"agent": ["No agent of yours has this id."]},
    }

    bad_tags = api.post("/api/memory/", {"swarm": swarm.pk, "text": "hi", "tags": ["a b"]}, format="json")
    assert bad_tags.status_code == 400 and "tags" in bad_tags.json()["error"]["fields"]
    assert not MemoryEntry.objects.exists()


@pytest.mark.parametrize(("k", "message"), [(0, "greater than or equal to 1"), (101, "less than or equal to 100")])
def test_a_bad_k_is_a_400(api, team, k, message):
    swarm, _, _ = team
    response = api.post("/api/memory/search/", {"swarm": swarm.pk, "query": "x", "k": k}, format="json")
    assert response.status_code == 400
    assert message in response.json()["error"]["fields"]["k"][0]


def test_a_search_of_another_users_swarm_is_refused(api, bob, make_agent, make_swarm):
    bobs = make_swarm(name="bobs", owner=bob, agents=[make_agent("bobby", owner=bob)])
    services.write_memory(owner=bob, swarm=bobs, text="bob's secret")
    response = api.post("/api/memory/search/", {"swarm": bobs.pk, "query": "secret"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"swarm": ["No swarm of yours has this id."]}


def test_entries_of_others_are_invisible_and_cannot_be_deleted(api, alice, bob, make_agent, make_swarm, team):
    swarm, _, _ = team
    mine = services.write_memory(owner=alice, swarm=swarm, text="mine")
    bobs = make_swarm(name="bobs", owner=bob, agents=[make_agent("bobby", owner=bob)])
    theirs = services.write_memory(owner=bob, swarm=bobs, text="theirs")

    assert [e["id"] for e in api.get("/api/memory/").json()["results"]] == [mine.pk]
    assert api.get(f"/api/memory/{theirs.pk}/").status_code == 404
    assert api.delete(f"/api/memory/{theirs.pk}/").status_code == 404
    assert MemoryEntry.objects.filter(pk=theirs.pk).exists()

    also = services.write_memory(owner=alice, swarm=swarm, text="also mine")
    search = {"swarm": swarm.pk, "query": "mine", "k": 1}
    assert [h["entry"]["id"] for h in api.post("/api/memory/search/", search, format="json").json()] == [mine.pk]

    assert api.delete(f"/api/memory/{mine.pk}/").status_code == 204
    assert not MemoryEntry.objects.filter(pk=mine.pk).exists()
    # The cached matrix forgot it too: the single place goes to the next entry.
    assert [h["entry"]["id"] for h in api.post("/api/memory/search/", search, format="json").json()] == [also.pk]


def test_the_schema_documents_the_memory_endpoints(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    assert {"/api/memory/", "/api/memory/{id}/", "/api/memory/search/"} <= set(schema["paths"])
    search = schema["paths"]["/api/memory/search/"]
    assert search["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "MemorySearchRequest"
    )
    assert {p["name"] for p in search["get"]["parameters"]} >= {"query", "k", "swarm", "agent", "author", "run", "tag"}
    hit = schema["components"]["schemas"]["MemoryHit"]
    assert set(hit["properties"]) == {"score", "entry"}
