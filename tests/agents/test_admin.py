"""The agent admin: changes go through the governance rules, and what it reports is what happened."""

from __future__ import annotations

import pytest

from apps.agents.models import Agent, AuditEntry

pytestmark = pytest.mark.django_db


def _form(agent: Agent, **changes) -> dict:
    return {
        "owner": agent.owner_id,
        "name": agent.name,
        "description": agent.description,
        "provider": agent.provider,
        "instructions": agent.instructions,
        "config": '{"skill": "echo"}' if agent.provider == "skill" else '{"replies": ["hi"]}',
        "privileges": list(agent.privileges),
        **changes,
    }


def test_a_refused_change_is_reported_as_refused_and_nothing_of_it_is_saved(client, admin_user, make_agent):
    lead = make_agent("lead", owner=admin_user, provider="skill", config={"skill": "echo"})
    helper = make_agent("helper", owner=admin_user, provider="skill", config={"skill": "echo"}, parent=lead)
    client.force_login(admin_user)
    # dropping tool.echo would be allowed; granting spawn, which its creator lacks, is not
    form = _form(helper, description="renamed role", privileges=["spawn"])
    response = client.post(f"/admin/agents/agent/{helper.pk}/change/", form, follow=True)
    page = response.content.decode()
    assert "Refused (privilege_escalation)" in page
    assert "changed successfully" not in page
    helper.refresh_from_db()
    assert (helper.privileges, helper.description) == (["tool.echo"], "")  # not half applied
    denial = AuditEntry.objects.get(allowed=False)
    assert (denial.action, denial.rule, denial.privilege, denial.target_id) == (
        "grant",
        "privilege_escalation",
        "spawn",
        helper.pk,
    )
    assert not AuditEntry.objects.filter(action="revoke").exists()


def test_an_allowed_change_is_reported_as_a_success(client, admin_user, make_agent):
    agent = make_agent("solo", owner=admin_user, provider="skill", config={"skill": "echo"})
    client.force_login(admin_user)
    response = client.post(
        f"/admin/agents/agent/{agent.pk}/change/", _form(agent, privileges=["tool.echo", "spawn"]), follow=True
    )
    page = response.content.decode()
    assert "changed successfully" in page and "Refused" not in page
    agent.refresh_from_db()
    assert agent.privileges == ["spawn", "tool.echo"]


def test_a_refused_new_agent_is_reported_once_and_not_created(client, admin_user, make_agent):
    lead = make_agent("lead", owner=admin_user, provider="skill", config={"skill": "echo"})
    client.force_login(admin_user)
    form = {
        "owner": admin_user.pk,
        "name": "greedy",
        "description": "",
        "provider": "skill",
        "instructions": "",
        "config": '{"skill": "echo"}',
        "parent": lead.pk,
        "privileges": ["tool.echo", "terminate"],
    }
    page = client.post("/admin/agents/agent/add/", form, follow=True).content.decode()
    assert "Refused (privilege_escalation)" in page and "added successfully" not in page
    assert not Agent.objects.filter(name="greedy").exists()


def test_every_real_privilege_is_offered_and_tool_make_tool_can_be_granted(client, admin_user, make_agent):
    from apps.tools.registry import builtin_tools

    agent = make_agent("maker", owner=admin_user)  # scripted: needs no privilege
    client.force_login(admin_user)
    page = client.get(f"/admin/agents/agent/{agent.pk}/change/").content.decode()
    for tool in builtin_tools().values():
        assert f'value="{tool.privilege}"' in page, tool.privilege
    assert 'value="tool.echo"' in page and 'value="memory.write"' in page
    form = _form(agent, privileges=["tool.make_tool", "tool.memory_search"])
    response = client.post(f"/admin/agents/agent/{agent.pk}/change/", form, follow=True)
    assert "changed successfully" in response.content.decode()
    agent.refresh_from_db()
    assert agent.privileges == ["tool.make_tool", "tool.memory_search"]
