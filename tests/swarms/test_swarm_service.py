"""Changing swarms through the service: all or nothing, one edit at a time."""

import threading

import pytest
from django.db import connection

from apps.core.errors import FieldsError
from apps.swarms.models import Swarm
from apps.swarms.services import update_swarm


@pytest.mark.django_db
def test_a_rejected_change_leaves_the_callers_swarm_as_stored(make_swarm, make_agent):
    swarm = make_swarm(name="crew")
    make_swarm(name="taken", agents=[make_agent("other")])
    with pytest.raises(FieldsError) as caught:
        update_swarm(swarm, name="taken", strategy_config={"max_turns": 3})
    assert "name" in caught.value.fields
    assert swarm.name == "crew" and swarm.strategy_config == {}  # not the rejected values
    update_swarm(swarm, name="renamed", strategy_config={"max_turns": 3})
    assert swarm.name == "renamed" and Swarm.objects.get(pk=swarm.pk).strategy_config == {"max_turns": 3}


@pytest.mark.django_db(transaction=True)
def test_two_edits_at_once_apply_one_after_the_other(make_swarm, make_agent):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises all writers anyway")
    swarm = make_swarm(name="crew")
    extra = [make_agent(f"x{i}") for i in range(2)]
    base = list(swarm.member_objects())
    errors: list[BaseException] = []

    def edit(agent):
        try:
            update_swarm(Swarm.objects.get(pk=swarm.pk), members=[*base, agent])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=(agent,)) for agent in extra]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    names = Swarm.objects.get(pk=swarm.pk).member_names()
    assert names in ([*[m.name for m in base], "x0"], [*[m.name for m in base], "x1"])  # one whole edit, not a mix


@pytest.mark.django_db
def test_every_problem_is_reported_at_once(alice, make_swarm, make_agent):
    from apps.swarms.services import create_swarm

    ada = make_agent("ada")
    make_swarm(name="taken", agents=[ada])
    cyclic = {"nodes": [{"name": "a", "agent": "ada", "depends_on": ["a"]}]}
    with pytest.raises(FieldsError) as caught:
        create_swarm(owner=alice, name="taken", strategy="heist", members=[ada], strategy_config=cyclic)
    assert {"name", "strategy_config.nodes[0].depends_on"} <= set(caught.value.fields)
    with pytest.raises(FieldsError) as caught:
        create_swarm(owner=alice, name="", strategy="chat_room", members=["nobody"])
    assert {"name", "members"} <= set(caught.value.fields)
    assert not Swarm.objects.filter(owner=alice, name="").exists()

    swarm = make_swarm(name="crew", agents=[ada])
    with pytest.raises(FieldsError) as caught:
        update_swarm(swarm, name="taken", strategy="heist", strategy_config=cyclic, members=[ada])
    assert {"name", "strategy_config.nodes[0].depends_on"} <= set(caught.value.fields)
    stored = Swarm.objects.get(pk=swarm.pk)
    assert (stored.name, stored.strategy) == ("crew", "chat_room")
