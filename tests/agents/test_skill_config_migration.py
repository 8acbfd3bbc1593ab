"""Agents saved before skill configs were checked per skill keep running after the upgrade."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.engine.providers import validate_agent_config

BEFORE = [("agents", "0003_agent_memory_scope_agent_memory_top_k")]
AFTER = [("agents", "0004_skill_configs_keep_their_own_options")]


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_drops_the_options_a_skill_never_read_and_keeps_the_rest(django_user_model):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    owner = old.get_model("auth", "User").objects.create(username="old-timer")
    Agent = old.get_model("agents", "Agent")
    calc = Agent.objects.create(
        owner_id=owner.pk, name="calc", provider="skill", config={"skill": "calculator", "template": "{{ input }}"}
    )
    judge = Agent.objects.create(
        owner_id=owner.pk,
        name="judge",
        provider="skill",
        config={"skill": "judge", "mode": "numeric", "expected": "42", "timeout_s": 3},
    )
    parrot = Agent.objects.create(owner_id=owner.pk, name="parrot", provider="scripted", config={"replies": ["hi"]})

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps.get_model("agents", "Agent")
    assert new.objects.get(pk=calc.pk).config == {"skill": "calculator"}
    assert new.objects.get(pk=judge.pk).config == {"skill": "judge", "mode": "numeric", "expected": "42"}
    assert new.objects.get(pk=parrot.pk).config == {"replies": ["hi"]}
    for agent in new.objects.filter(provider="skill"):
        validate_agent_config("skill", agent.config)  # raises if the engine would refuse it

    MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())
