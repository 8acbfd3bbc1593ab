"""The memory browser page: login, navigation, search results with scores, filters, htmx partials, errors."""

import re

import pytest

from apps.memory import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def remembered(client, alice, make_agent, make_swarm):
    client.force_login(alice)
    scout, scribe = make_agent("scout"), make_agent("scribe")
    swarm = make_swarm(name="team", agents=[scout, scribe])
    services.write_memory(
        owner=alice, swarm=swarm, text="The cat sleeps on the warm windowsill.", author=scout, tags=["pets"]
    )
    services.write_memory(owner=alice, swarm=swarm, text="Invoices are due on Friday.", author=scribe)
    services.write_memory(owner=alice, agent=scribe, text="My own note about invoices.", author=scribe)
    return client, swarm, scout, scribe


def result_texts(html: str) -> list[str]:
    return re.findall(r'<div class="memory-hit" id="memory-entry-\d+">.*?<div>\s*<div>(.*?)</div>', html, re.S)


def test_the_page_needs_a_login_and_is_in_the_navigation(client, alice):
    assert client.get("/memory/").status_code == 302
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert 'href="/memory/"' in page


def test_a_search_shows_ranked_results_with_scores(remembered):
    client, swarm, _, _ = remembered
    response = client.get("/memory/", {"scope": f"swarm:{swarm.pk}", "query": "where does the kitty nap", "k": 5})
    html = response.content.decode()
    assert response.status_code == 200
    assert '<form id="memory-search"' in html and 'method="get"' in html and 'hx-get="/memory/"' in html
    assert result_texts(html) == ["The cat sleeps on the warm windowsill.", "Invoices are due on Friday."]
    scores = [float(s) for s in re.findall(r'<span class="score"[^>]*>(-?\d\.\d{3})</span>', html)]
    assert len(scores) == 2 and scores[0] > scores[1]
    assert "My own note" not in html  # the agent's own memory is another scope


def test_filters_and_the_agent_scope(remembered):
    client, swarm, _scout, scribe = remembered
    by_scribe = client.get("/memory/", {"scope": f"swarm:{swarm.pk}", "query": "cats", "author": scribe.pk})
    assert result_texts(by_scribe.content.decode()) == ["Invoices are due on Friday."]
    tagged = client.get("/memory/", {"scope": f"swarm:{swarm.pk}", "tag": "pets"}).content.decode()
    assert result_texts(tagged) == ["The cat sleeps on the warm windowsill."]
    own = client.get("/memory/", {"scope": f"agent:{scribe.pk}", "query": "invoices"}).content.decode()
    assert result_texts(own) == ["My own note about invoices."]


def test_htmx_gets_only_the_results_partial(remembered):
    client, swarm, _, _ = remembered
    response = client.get("/memory/", {"scope": f"swarm:{swarm.pk}", "query": "kitty"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "<form" not in html
    assert result_texts(html)[0] == "The cat sleeps on the warm windowsill."


def test_an_empty_query_lists_the_latest_entries(remembered):
    client, swarm, _, _ = remembered
    html = client.get("/memory/", {"scope": f"swarm:{swarm.pk}"}).content.decode()
    assert result_texts(html) == ["Invoices are due on Friday.", "The cat sleeps on the warm windowsill."]


def test_another_users_swarm_is_not_offered_and_is_refused(remembered, bob, make_agent, make_swarm):
    client, _, _, _ = remembered
    bobs = make_swarm(name="bobs", owner=bob, agents=[make_agent("bobby", owner=bob)])
    services.write_memory(owner=bob, swarm=bobs, text="bob's secret plan")
    page = client.get("/memory/").content.decode()
    assert f'value="swarm:{bobs.pk}"' not in page
    response = client.get("/memory/", {"scope": f"swarm:{bobs.pk}", "query": "secret plan"})
    assert response.status_code == 400
    assert "secret plan" not in result_texts(response.content.decode())
    assert "Select a valid choice" in response.content.decode()


def test_a_bad_k_is_shown_beside_the_form(remembered):
    client, swarm, _, _ = remembered
    response = client.get("/memory/", {"scope": f"swarm:{swarm.pk}", "query": "cats", "k": 500})
    assert response.status_code == 400
    assert 'id="memory-errors"' in response.content.decode()
    partial = client.get("/memory/", {"scope": f"swarm:{swarm.pk}", "query": "x", "k": 0}, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200 and 'id="memory-errors"' in partial.content.decode()


def test_the_admin_lists_entries_without_raw_vectors_and_deletes_through_the_service(
    client, django_user_model, alice, make_swarm
):
    swarm = make_swarm()
    entry = services.write_memory(owner=alice, swarm=swarm, text="an admin-visible note")
    services.search_memory(owner=alice, swarm=swarm, query="note")  # warm the cache
    admin_user = django_user_model.objects.create_superuser(username="root", password="x")
    client.force_login(admin_user)
    assert "an admin-visible note" in client.get("/admin/memory/memoryentry/").content.decode()
    detail = client.get(f"/admin/memory/memoryentry/{entry.pk}/change/").content.decode()
    assert "384 float32 values" in detail and "\\x" not in detail

    response = client.post(
        "/admin/memory/memoryentry/", {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert services.search_memory(owner=alice, swarm=swarm, query="note") == []
