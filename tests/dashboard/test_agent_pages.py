"""The agent pages: create, edit, grant, revoke and terminate in the dashboard, through Django's test client.

Every change goes through the agent and governance services, so each test checks what was written
(the agent rows and the audit log) as well as what the page says; a refusal writes nothing but its
audit entry and shows the rule beside the field it concerns.
"""

from __future__ import annotations

import json

import pytest

from apps.agents.models import Agent, AgentStatus, AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def _create(client, htmx=False, **fields):
    data = {
        "name": "ceo",
        "provider": "scripted",
        "config": json.dumps({"replies": ["Yes."]}),
        "memory_top_k": "0",
        "memory_scope": "swarm",
        **fields,
    }
    return client.post("/agents/new/", data, **({"HTTP_HX_REQUEST": "true"} if htmx else {}))


def test_the_agents_page_draws_an_empty_account_with_a_way_to_start(logged_in):
    page = logged_in.get("/agents/").content.decode()
    assert 'id="agent-canvas"' in page and 'id="agent-panel"' in page
    assert 'ws-connect="/ws/agents/"' in page and 'id="agent-graph"' in page
    assert 'href="/agents/new/"' in page and "No agents yet." in page
    assert "vendor/cytoscape-edgehandles/cytoscape-edgehandles.js" in page


def test_the_canvas_data_lists_every_agent_and_parent_link(logged_in, make_agent):
    ceo = make_agent("ceo", privileges=["spawn"])
    worker = make_agent("worker", parent=ceo, privileges=[])
    page = logged_in.get("/agents/").content.decode()
    start = page.index('<script id="agent-graph" type="application/json">') + len(
        '<script id="agent-graph" type="application/json">'
    )
    graph = json.loads(page[start : page.index("</script>", start)])
    assert [n["name"] for n in graph["nodes"]] == ["ceo", "worker"]
    assert graph["edges"] == [{"source": ceo.pk, "target": worker.pk}]


def test_a_person_creates_a_root_agent_with_its_tools_memory_rooms_and_privileges(logged_in, alice):
    response = _create(
        logged_in,
        description="Runs the company",
        level="1",
        instructions="You are {{ name }}.",
        tools=["calculator", "send_message"],
        memory_top_k="3",
        memory_scope="both",
        rooms="ops, board",
        privileges=["spawn", "message"],
    )
    agent = Agent.objects.get(name="ceo")
    assert response.status_code == 302 and response["Location"] == f"/agents/{agent.pk}/"
    assert (agent.level, agent.parent, agent.description) == (1, None, "Runs the company")
    assert agent.privileges == ["message", "spawn"]
    assert (agent.tools, agent.rooms) == (["calculator", "send_message"], ["ops", "board"])
    assert (agent.memory_top_k, agent.memory_scope) == (3, "both")
    entry = AuditEntry.objects.get(action="spawn")
    assert entry.allowed and entry.target == agent and entry.actor_user == alice


def test_a_child_dragged_from_an_agent_opens_with_its_parent_and_level_filled_in(logged_in, make_agent):
    ceo = make_agent("ceo", privileges=["spawn", "message"])
    page = logged_in.get(f"/agents/new/?parent={ceo.pk}", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in page  # the side panel's content only
    assert f'<option value="{ceo.pk}" selected>' in page
    assert '<option value="2" selected>' in page
    # Only what ceo holds is offered to its child.
    offered = {line.split('value="')[1].split('"')[0] for line in page.splitlines() if 'name="privileges"' in line}
    assert offered == {"spawn", "message"}


def test_a_root_may_be_offered_every_privilege(logged_in):
    page = logged_in.get("/agents/new/").content.decode()
    for privilege in ("spawn", "terminate", "tool.calculator", "tool.make_tool", "human.ask"):
        assert f'value="{privilege}"' in page


def test_a_child_whose_settings_need_a_privilege_its_parent_lacks_is_refused_with_the_rule(logged_in, make_agent):
    ceo = make_agent("ceo", privileges=["spawn"])
    response = _create(
        logged_in,
        htmx=True,
        name="calc",
        parent=str(ceo.pk),
        provider="skill",
        config=json.dumps({"skill": "calculator"}),
    )
    page = response.content.decode()
    assert response.status_code == 200  # htmx swaps the form back in, with the rule beside the fields
    assert 'data-testid="error-privileges"' in page and "privilege_escalation: A child cannot hold" in page
    assert 'data-testid="error-config"' in page and "tool.calculator" in page
    assert json.loads(response["HX-Trigger"]) == {
        "agent-refused": {
            "agent": ceo.pk,
            "rule": "privilege_escalation",
            "message": "A child cannot hold privileges its creator lacks: tool.calculator.",
        }
    }
    assert not Agent.objects.filter(name="calc").exists()
    denied = AuditEntry.objects.get(allowed=False)
    assert (denied.action, denied.rule, denied.target) == ("spawn", "privilege_escalation", ceo)


def test_a_child_placed_two_levels_down_is_refused_as_a_level_skip(logged_in, make_agent):
    ceo = make_agent("ceo", privileges=["spawn"])
    response = _create(logged_in, name="deep", parent=str(ceo.pk), level="3", config=json.dumps({"replies": ["x"]}))
    page = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="error-level"' in page and "level_skip: A child of a level 1 agent is level 2." in page
    assert not Agent.objects.filter(name="deep").exists()
    assert AuditEntry.objects.filter(allowed=False, rule="level_skip").count() == 1


def test_bad_settings_show_beside_the_field_and_write_nothing(logged_in):
    response = _create(logged_in, name="9lives", provider="skill", config="{not json")
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-testid="error-name"' not in page  # the form stops at the JSON first
    assert 'data-testid="error-config"' in page and "Not valid JSON" in page
    response = _create(logged_in, name="9lives", provider="skill", config=json.dumps({"skill": "nope"}))
    page = response.content.decode()
    assert 'data-testid="error-name"' in page and 'data-testid="error-config"' in page
    assert '"skill"' in page.split('id="config-errors"')[1].split("</script>")[0]  # for SchemaForm, by path
    assert Agent.objects.count() == 0 and AuditEntry.objects.count() == 0


def test_editing_an_agent_changes_its_definition_talks_to_and_rooms(logged_in, make_agent):
    ceo = make_agent("ceo", privileges=["spawn", "message"])
    peer = make_agent("peer")
    data = {
        "name": "chief",
        "description": "",
        "provider": "scripted",
        "config": json.dumps({"replies": ["Done."]}),
        "instructions": "Hi",
        "memory_top_k": "2",
        "memory_scope": "agent",
        "talks_to": [str(peer.pk)],
        "rooms": "ops",
        "tools": ["send_message"],
    }
    response = logged_in.post(f"/agents/{ceo.pk}/", data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Saved chief." in response.content.decode()
    assert json.loads(response["HX-Trigger"]) == {"agent-saved": {"agent": ceo.pk}}
    ceo.refresh_from_db()
    assert (ceo.name, ceo.config, ceo.memory_top_k, ceo.memory_scope) == ("chief", {"replies": ["Done."]}, 2, "agent")
    assert list(ceo.talks_to.all()) == [peer] and ceo.rooms == ["ops"] and ceo.tools == ["send_message"]


def test_an_edit_whose_model_needs_a_privilege_the_parent_lacks_changes_nothing(logged_in, make_agent):
    ceo = make_agent("ceo", privileges=["spawn"])
    worker = make_agent("worker", parent=ceo, privileges=[])
    data = {
        "name": "worker",
        "provider": "openai",
        "config": json.dumps({"model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1"}),
        "memory_top_k": "0",
        "memory_scope": "swarm",
    }
    response = logged_in.post(f"/agents/{worker.pk}/", data)
    page = response.content.decode()
    assert response.status_code == 400 and 'data-rule="privilege_escalation"' in page
    assert 'data-testid="error-config"' in page and "model.gpt-4o-mini" in page
    worker.refresh_from_db()
    assert (worker.provider, worker.privileges) == ("scripted", [])
    assert AuditEntry.objects.filter(allowed=False, action="grant", target=worker).count() == 1


def test_the_privileges_checklist_grants_and_revokes_with_audit_entries(logged_in, make_agent, alice):
    ceo = make_agent("ceo", privileges=["spawn", "message", "broadcast"])
    worker = make_agent("worker", parent=ceo, privileges=["message"])
    response = logged_in.post(f"/agents/{worker.pk}/privileges/", {"privileges": ["broadcast"]})
    assert response.status_code == 302
    worker.refresh_from_db()
    assert worker.privileges == ["broadcast"]
    entries = AuditEntry.objects.filter(target=worker).exclude(action="spawn")
    assert sorted((e.action, e.privilege, e.allowed) for e in entries) == [
        ("grant", "broadcast", True),
        ("revoke", "message", True),
    ]
    page = logged_in.get(response["Location"]).content.decode()
    assert "worker: granted broadcast; revoked message." in page


def test_the_checklist_offers_only_what_the_parent_holds(logged_in, make_agent):
    ceo = make_agent("ceo", privileges=["spawn", "message"])
    worker = make_agent("worker", parent=ceo, privileges=[])
    page = logged_in.get(f"/agents/{worker.pk}/", HTTP_HX_REQUEST="true").content.decode()
    form = page.split('data-testid="agent-privileges-form"')[1].split("</form>")[0]
    assert 'value="message"' in form and 'value="spawn"' in form and 'value="broadcast"' not in form


def test_a_refused_grant_among_several_changes_applies_none_of_them(logged_in, make_agent):
    ceo = make_agent("ceo", privileges=["spawn", "message"])
    worker = make_agent("worker", parent=ceo, privileges=["message"])
    # A stale or tampered form: revoke message, grant spawn (allowed) and broadcast (ceo lacks it).
    response = logged_in.post(
        f"/agents/{worker.pk}/privileges/", {"privileges": ["spawn", "broadcast"]}, HTTP_HX_REQUEST="true"
    )
    page = response.content.decode()
    assert 'data-testid="error-privileges"' in page and "privilege_escalation:" in page
    assert "broadcast" in page.split('data-testid="error-privileges"')[1].split("</ul>")[0]
    assert json.loads(response["HX-Trigger"])["agent-refused"]["agent"] == worker.pk
    worker.refresh_from_db()
    assert worker.privileges == ["message"]
    changes = AuditEntry.objects.filter(target=worker).exclude(action="spawn")
    assert [(e.action, e.privilege, e.allowed, e.rule) for e in changes] == [
        ("grant", "broadcast", False, "privilege_escalation")
    ]


def test_revoking_from_an_agent_takes_it_from_its_descendants(logged_in, make_agent):
    board = make_agent("board", level=0, privileges=["spawn", "message"])
    ceo = make_agent("ceo", parent=board, privileges=["spawn", "message"])
    worker = make_agent("worker", parent=ceo, privileges=["message"])
    logged_in.post(f"/agents/{ceo.pk}/privileges/", {"privileges": ["spawn"]})
    worker.refresh_from_db()
    ceo.refresh_from_db()
    assert ceo.privileges == ["spawn"] and worker.privileges == []


def test_terminating_previews_the_subtree_then_terminates_it(logged_in, make_agent):
    ceo = make_agent("ceo", privileges=["spawn"])
    lead = make_agent("lead", parent=ceo, privileges=["spawn"])
    dev = make_agent("dev", parent=lead, privileges=[])
    other = make_agent("other")
    page = logged_in.get(f"/agents/{lead.pk}/terminate/").content.decode()
    preview = page.split('data-testid="terminate-preview"')[1].split("</ul>")[0]
    assert "lead" in preview and "dev" in preview and "ceo" not in preview and "other" not in preview
    assert "Terminate 2 agents" in page
    assert Agent.objects.filter(status=AgentStatus.TERMINATED).count() == 0  # the preview writes nothing
    response = logged_in.post(f"/agents/{lead.pk}/terminate/", {"reason": "reorg"})
    assert response.status_code == 302 and response["Location"] == "/agents/"
    assert set(Agent.objects.filter(status=AgentStatus.TERMINATED)) == {lead, dev}
    other.refresh_from_db()
    assert other.is_active
    entry = AuditEntry.objects.get(action="terminate")
    assert (entry.target, entry.reason, entry.allowed) == (lead, "reorg", True)


def test_the_instructions_preview_renders_the_template_with_the_agent_fields(logged_in, make_agent):
    ceo = make_agent("ceo", privileges=["spawn"])
    data = {
        "name": "analyst",
        "parent": str(ceo.pk),
        "provider": "scripted",
        "config": "{}",
        "memory_top_k": "0",
        "memory_scope": "swarm",
        "instructions": "I am {{ name }} at level {{ level }}, reporting to {{ parent }}.",
        "_preview": "1",
    }
    page = logged_in.post("/agents/new/", data, HTTP_HX_REQUEST="true").content.decode()
    assert "I am analyst at level 2, reporting to ceo." in page
    assert not Agent.objects.filter(name="analyst").exists()
    data["instructions"] = "Hello {{ nobody }}"
    page = logged_in.post("/agents/new/", data, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="preview-error"' in page and "nobody" in page


def test_another_persons_agent_is_not_found(client, bob, make_agent):
    ceo = make_agent("ceo")
    client.force_login(bob)
    assert client.get(f"/agents/{ceo.pk}/").status_code == 404
    assert client.post(f"/agents/{ceo.pk}/terminate/").status_code == 404
    assert client.post(f"/agents/{ceo.pk}/privileges/", {"privileges": []}).status_code == 404
    assert client.get(f"/agents/new/?parent={ceo.pk}").status_code == 200
    response = client.post(
        "/agents/new/",
        {
            "name": "x",
            "parent": str(ceo.pk),
            "provider": "scripted",
            "config": "{}",
            "memory_top_k": "0",
            "memory_scope": "swarm",
        },
    )
    assert response.status_code == 400 and not Agent.objects.filter(name="x").exists()
