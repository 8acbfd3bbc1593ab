import pytest

pytestmark = pytest.mark.django_db


def test_the_admin_rejects_a_strategy_config_that_does_not_fit_the_members(client, admin_user, make_swarm):
    swarm = make_swarm(owner=admin_user, strategy_config={"max_turns": 2})
    client.force_login(admin_user)
    form = {
        "owner": admin_user.pk,
        "name": swarm.name,
        "description": "",
        "strategy": "chat_room",
        "strategy_config": '{"order": ["ghost"]}',
        "max_steps": "",
        "max_cost": "",
        "max_seconds": "",
        "members-TOTAL_FORMS": "0",
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "1000",
    }
    response = client.post(f"/admin/swarms/swarm/{swarm.pk}/change/", form)
    assert response.status_code == 200
    assert "Unknown agent &#x27;ghost&#x27;" in response.content.decode()
    swarm.refresh_from_db()
    assert swarm.strategy_config == {"max_turns": 2}


def test_the_agent_admin_validates_through_the_service(client, admin_user):
    client.force_login(admin_user)
    form = {
        "owner": admin_user.pk,
        "name": "calc",
        "description": "",
        "provider": "skill",
        "instructions": "",
        "config": '{"skill": "telepathy"}',
    }
    response = client.post("/admin/agents/agent/add/", form)
    assert response.status_code == 200
    assert "config.skill" in response.content.decode()
    response = client.post("/admin/agents/agent/add/", {**form, "config": '{"skill": "calculator"}'})
    assert response.status_code == 302
    from apps.agents.models import Agent, AuditEntry

    agent = Agent.objects.get(name="calc")
    assert (agent.level, agent.privileges) == (1, ["tool.calculator"])
    assert AuditEntry.objects.filter(target=agent, action="spawn", actor_label=f"user {admin_user.username}").exists()


def test_privileges_edited_in_the_admin_go_through_the_rules_and_are_audited(client, admin_user, make_agent):
    from apps.agents.models import Agent, AuditEntry

    parent = make_agent("lead", owner=admin_user, provider="skill", config={"skill": "echo"})
    child = make_agent("helper", owner=admin_user, provider="skill", config={"skill": "echo"}, parent=parent)
    client.force_login(admin_user)
    form = {
        "owner": admin_user.pk,
        "name": "helper",
        "description": "",
        "provider": "skill",
        "instructions": "",
        "config": '{"skill": "echo"}',
        "privileges": ["tool.echo", "spawn"],
    }
    client.post(f"/admin/agents/agent/{child.pk}/change/", form)
    assert Agent.objects.get(pk=child.pk).privileges == ["tool.echo"]  # its creator lacks 'spawn'
    denial = AuditEntry.objects.get(allowed=False)
    assert (denial.action, denial.rule, denial.privilege) == ("grant", "privilege_escalation", "spawn")


def test_the_admin_applies_the_board_rule_to_the_members(client, admin_user, make_swarm):
    swarm = make_swarm(owner=admin_user, strategy_config={"max_turns": 2})  # two level-1 agents
    client.force_login(admin_user)
    form = {
        "owner": admin_user.pk,
        "name": swarm.name,
        "description": "",
        "strategy": "board",
        "strategy_config": "{}",
        "max_steps": "",
        "max_cost": "",
        "max_seconds": "",
        "members-TOTAL_FORMS": "0",
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "1000",
    }
    response = client.post(f"/admin/swarms/swarm/{swarm.pk}/change/", form)
    assert response.status_code == 200
    assert "only level-0 agents sit on the board" in response.content.decode()
    swarm.refresh_from_db()
    assert swarm.strategy == "chat_room"
