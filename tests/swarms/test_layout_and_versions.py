"""A swarm's drawing (layout) and version: kept by saves, export and import; a stale save is refused."""

from __future__ import annotations

import threading
import time

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.core.errors import Conflict
from apps.engine.strategies import strategy_catalogue
from apps.swarms.models import Strategy, Swarm
from apps.swarms.services import update_swarm

LAYOUT = {
    "members": {"fetcher": {"x": 120.0, "y": 80.0}, "writer": {"x": 320.5, "y": -40.25}},
    "nodes": {"fetch": {"x": 40.0, "y": 200.0}, "report": {"x": 240.0, "y": 200.0}},
}
HEIST = {
    "nodes": [
        {"name": "fetch", "agent": "fetcher", "fallbacks": ["writer"], "retry": {"attempts": 2, "backoff_s": 0.5}},
        {"name": "report", "agent": "writer", "depends_on": ["fetch"], "input": "{{ outputs.fetch }}"},
    ]
}


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.django_db
def test_an_exported_drawn_swarm_imports_back_to_the_same_drawing(alice, bob, make_agent):
    make_agent("fetcher")
    make_agent("writer")
    alices = _client(alice)
    body = {
        "name": "Pipeline",
        "strategy": "heist",
        "members": ["fetcher", "writer"],
        "strategy_config": HEIST,
        "layout": LAYOUT,
    }
    created = alices.post("/api/swarms/", body, format="json")
    assert created.status_code == 201, created.json()
    exported = alices.get(f"/api/swarms/{created.json()['id']}/export/").content.decode()
    assert yaml.safe_load(exported)["layout"] == LAYOUT

    bobs = _client(bob)
    imported = bobs.post("/api/swarms/import/", {"yaml": exported}, format="json")
    assert imported.status_code == 201, imported.json()
    assert imported.json()["layout"] == LAYOUT
    assert Swarm.objects.get(owner=bob).layout == LAYOUT
    assert bobs.get(f"/api/swarms/{imported.json()['id']}/export/").content.decode() == exported


@pytest.mark.django_db
def test_a_bad_drawing_in_a_definition_is_reported_with_its_line_and_nothing_is_written(alice):
    text = """name: Drawn
strategy: chat_room
agents:
  - {name: ann, provider: scripted, config: {replies: [hi]}}
layout:
  members:
    ann: {x: left, y: 2}
  colours: {}
"""
    response = _client(alice).post("/api/swarms/import/", {"yaml": text}, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields["swarm.yaml:7 layout.members.ann.x"] == ["Must be a number."]
    assert "swarm.yaml:8 layout.colours" in fields
    assert Swarm.objects.count() == 0


@pytest.mark.django_db
def test_a_swarm_without_a_drawing_exports_no_layout_key(make_swarm):
    swarm = make_swarm()
    text = _client(swarm.owner).get(f"/api/swarms/{swarm.pk}/export/").content.decode()
    assert "layout" not in yaml.safe_load(text)


@pytest.mark.django_db
def test_the_service_refuses_a_stale_version_and_writes_nothing(make_swarm):
    swarm = make_swarm(name="crew", strategy_config={"max_turns": 2})
    update_swarm(swarm, expected_version=1, description="first")
    assert swarm.version == 2
    with pytest.raises(Conflict) as caught:
        update_swarm(Swarm.objects.get(pk=swarm.pk), expected_version=1, description="second", layout=LAYOUT)
    assert caught.value.code == "conflict" and "version" in caught.value.fields
    stored = Swarm.objects.get(pk=swarm.pk)
    assert (stored.description, stored.layout, stored.version) == ("first", {}, 2)


@pytest.mark.django_db(transaction=True)
def test_two_editors_of_the_same_version_cannot_both_save(make_swarm):
    """The version is compared under the row lock: the second save waits for the first to
    commit, then sees the new version. A check made before the lock would let both through."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises all writers anyway")
    swarm = make_swarm(name="crew")
    outcome: dict[str, object] = {}
    started = threading.Event()

    def second_editor():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                outcome["pid"] = cursor.fetchone()[0]
            started.set()
            update_swarm(Swarm.objects.get(pk=swarm.pk), expected_version=1, description="second")
            outcome["result"] = "saved"
        except Conflict as exc:
            outcome["result"] = exc
        finally:
            started.set()
            connection.close()

    with transaction.atomic():
        update_swarm(swarm, expected_version=1, description="first")  # holds the row lock until commit
        thread = threading.Thread(target=second_editor)
        thread.start()
        assert started.wait(10)
        deadline = time.monotonic() + 10
        with connection.cursor() as cursor:  # wait until the second save is blocked on the lock
            while time.monotonic() < deadline and "result" not in outcome:
                cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", [outcome["pid"]])
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.01)
    thread.join(30)
    assert isinstance(outcome["result"], Conflict), outcome
    stored = Swarm.objects.get(pk=swarm.pk)
    assert (stored.description, stored.version) == ("first", 2)


@pytest.mark.django_db
def test_the_strategy_field_offers_the_engines_strategies(make_swarm):
    catalogue = [(info.name, info.label) for info in strategy_catalogue()]
    assert Swarm._meta.get_field("strategy").choices == catalogue
    assert Strategy.choices == catalogue  # the dashboard's list names the same strategies
    swarm = make_swarm()
    swarm.strategy = "anarchy"
    with pytest.raises(ValidationError) as caught:
        swarm.full_clean()
    assert "strategy" in caught.value.message_dict


@pytest.mark.django_db
def test_a_save_in_the_admin_is_a_new_version_too(client, admin_user, make_swarm):
    swarm = make_swarm(owner=admin_user, strategy_config={"max_turns": 2})
    client.force_login(admin_user)
    form = {
        "owner": admin_user.pk,
        "name": swarm.name,
        "description": "edited in the admin",
        "strategy": "chat_room",
        "strategy_config": '{"max_turns": 3}',
        "max_steps": "",
        "max_cost": "",
        "max_seconds": "",
        "members-TOTAL_FORMS": "0",
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "1000",
    }
    assert client.post(f"/admin/swarms/swarm/{swarm.pk}/change/", form).status_code == 302
    swarm.refresh_from_db()
    assert (swarm.description, swarm.version) == ("edited in the admin", 2)
    with pytest.raises(Conflict):
        update_swarm(swarm, expected_version=1, description="stale")
