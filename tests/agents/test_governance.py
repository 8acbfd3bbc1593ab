"""Governed hierarchies through the services, the run engine and the REST API."""

import pytest
from rest_framework.test import APIClient

from apps.agents.governance import Acting, _hierarchy, grant_privilege, revoke_privilege, terminate_agent
from apps.agents.models import Agent, AuditEntry
from apps.engine.governance import GovernanceError, Rule, violations
from apps.runs import services as runs
from apps.runs.models import RunStatus, StepStatus
from tests.conftest import drive

pytestmark = pytest.mark.django_db

BOARD_PRIVILEGES = ["spawn", "terminate", "broadcast", "tool.calculator", "tool.echo"]


@pytest.fixture
def api(alice) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def org(api):
    """A board, an executive and a worker, built through the API."""
    board = api.post(
        "/api/agents/",
        {
            "name": "board",
            "provider": "scripted",
            "config": {"replies": ["ok"]},
            "level": 0,
            "privileges": BOARD_PRIVILEGES,
        },
        format="json",
    ).json()
    exec_ = api.post(
        f"/api/agents/{board['id']}/spawn/",
        {
            "name": "cto",
            "provider": "scripted",
            "config": {"replies": ["ok"]},
            "acting_agent": board["id"],
            "privileges": ["spawn", "terminate", "tool.calculator", "tool.echo"],
        },
        format="json",
    ).json()
    worker = api.post(
        f"/api/agents/{exec_['id']}/spawn/",
        {"name": "calc", "provider": "skill", "config": {"skill": "calculator"}, "acting_agent": exec_["id"]},
        format="json",
    ).json()
    return {"board": board, "cto": exec_, "calc": worker}


def test_a_person_builds_a_board_executive_worker_tree(org, alice):
    assert [org[n]["level"] for n in ("board", "cto", "calc")] == [0, 1, 2]
    assert org["calc"]["privileges"] == ["tool.calculator"]  # what its skill needs, by default
    assert org["calc"]["parent"] == org["cto"]["id"]
    assert violations(_hierarchy(alice, lock=False)) == []
    assert AuditEntry.objects.filter(action="spawn", allowed=True).count() == 3


def test_a_child_with_more_privileges_than_its_creator_is_refused_and_audited(api, org):
    response = api.post(
        f"/api/agents/{org['cto']['id']}/spawn/",
        {
            "name": "rogue",
            "provider": "scripted",
            "config": {"replies": ["x"]},
            "acting_agent": org["cto"]["id"],
            "privileges": ["broadcast"],
        },
        format="json",
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "privilege_escalation" and error["fields"] == {"privilege": ["broadcast"]}
    assert not Agent.objects.filter(name="rogue").exists()
    entry = AuditEntry.objects.get(allowed=False)
    assert (entry.action, entry.rule, entry.privilege, entry.actor_label) == (
        "spawn",
        "privilege_escalation",
        "broadcast",
        "agent cto",
    )


def test_level_skips_and_missing_spawn_privilege_are_refused(api, org):
    response = api.post(
        "/api/agents/",
        {
            "name": "deep",
            "provider": "scripted",
            "config": {"replies": ["x"]},
            "parent": org["board"]["id"],
            "level": 2,
        },
        format="json",
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "level_skip"
    response = api.post(
        f"/api/agents/{org['calc']['id']}/spawn/",
        {"name": "sub", "provider": "scripted", "config": {"replies": ["x"]}, "acting_agent": org["calc"]["id"]},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "missing_privilege",
        "message": "Spawning needs 'spawn'.",
        "fields": {"privilege": ["spawn"]},
    }


def test_agents_terminate_only_their_descendants(api, org, alice):
    other = api.post(
        "/api/agents/",
        {"name": "cfo", "provider": "scripted", "config": {"replies": ["x"]}, "privileges": ["terminate"]},
        format="json",
    ).json()
    response = api.post(f"/api/agents/{org['calc']['id']}/terminate/", {"acting_agent": other["id"]}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_a_descendant"
    response = api.post(
        f"/api/agents/{org['cto']['id']}/terminate/",
        {"acting_agent": org["board"]["id"], "reason": "reorg"},
        format="json",
    )
    assert response.status_code == 200
    assert sorted(a["name"] for a in response.json()) == ["calc", "cto"]
    assert set(Agent.objects.filter(status="terminated").values_list("name", flat=True)) == {"calc", "cto"}
    assert violations(_hierarchy(alice, lock=False)) == []


def test_revoking_cascades_and_blocks_the_very_next_step(alice, org, make_swarm):
    calc = Agent.objects.get(pk=org["calc"]["id"])
    swarm = make_swarm(
        strategy="sequential",
        agents=[calc],
        strategy_config={"stages": [{"agent": "calc", "input": "1 + 1"}, {"agent": "calc", "input": "2 + 2"}]},
    )
    run = runs.start_run(swarm=swarm, task="sums", user=alice)
    runs.begin_run(run.pk)
    runs.execute_step(run.steps.get(index=1).pk)
    revoke_privilege(Acting(user=alice), Agent.objects.get(name="cto"), "tool.calculator")
    assert "tool.calculator" not in Agent.objects.get(name="calc").privileges
    run = drive(run)
    second = run.steps.get(index=2)
    assert second.status == StepStatus.FAILED
    assert second.error.startswith("Permission denied (missing_privilege)")
    assert AuditEntry.objects.filter(action="use", allowed=False, target=calc, run=run).exists()


def test_terminating_an_agent_cancels_its_queued_step_which_never_executes(alice, org, make_agent, make_swarm):
    calc = Agent.objects.get(pk=org["calc"]["id"])
    talker = make_agent("talker", config={"replies": ["2 + 3"], "cycle": True})
    swarm = make_swarm(agents=[talker, calc], strategy_config={"max_turns": 6, "on_error": "skip"})
    run = runs.start_run(swarm=swarm, task="count", user=alice)
    runs.begin_run(run.pk)
    runs.execute_step(run.steps.get(index=1).pk)  # talker speaks; calc's turn is queued
    queued = run.steps.get(index=2)
    assert (queued.agent_name, queued.status) == ("calc", StepStatus.QUEUED)
    terminate_agent(Acting(user=alice, agent=Agent.objects.get(name="cto")), calc, reason="budget")
    queued.refresh_from_db()
    assert queued.status == StepStatus.CANCELLED and "terminated" in queued.error
    assert runs.execute_step(queued.pk) is False  # a late delivery does nothing
    run = drive(run)
    assert run.status == RunStatus.SUCCEEDED
    later_calc_steps = run.steps.filter(agent_name="calc", index__gt=2)
    assert all(s.status == StepStatus.FAILED and "agent_terminated" in s.error for s in later_calc_steps)


def test_the_board_overrides_but_grants_only_what_it_holds(alice, org):
    board = Agent.objects.get(name="board")
    calc = Agent.objects.get(name="calc")
    with pytest.raises(GovernanceError) as caught:
        grant_privilege(Acting(user=alice, agent=board), calc, "model.gpt-4o")
    assert caught.value.rule is Rule.PRIVILEGE_ESCALATION
    grant_privilege(Acting(user=alice, agent=board), calc, "tool.echo")
    assert "tool.echo" in Agent.objects.get(name="calc").privileges


def test_the_audit_log_lists_every_decision_and_cannot_be_changed(api, org):
    entries = api.get("/api/audit/", {"agent": org["calc"]["id"]}).json()["results"]
    assert [(e["action"], e["allowed"]) for e in entries] == [("spawn", True)]
    entry = AuditEntry.objects.first()
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()


def test_agents_are_terminated_not_deleted(api, org):
    response = api.delete(f"/api/agents/{org['calc']['id']}/")
    assert response.status_code == 400 and "terminate" in response.json()["error"]["message"]


@pytest.mark.django_db(transaction=True)
async def test_the_agent_tree_page_updates_live_when_agents_are_spawned(alice):
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from apps.agents.services import create_agent
    from swarmweb.asgi import application

    def cookie():
        client = Client()
        client.force_login(alice)
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    headers = [(b"origin", b"http://localhost"), (b"cookie", await sync_to_async(cookie)())]
    comm = WebsocketCommunicator(application, "/ws/agents/", headers=headers)
    assert (await comm.connect())[0]
    await sync_to_async(create_agent)(owner=alice, name="newcomer", provider="scripted", config={"replies": ["hi"]})
    html = await comm.receive_from(timeout=3)
    assert 'id="agent-tree"' in html and "hx-swap-oob" in html and "<strong>newcomer</strong>" in html
    await comm.disconnect()
    anonymous = WebsocketCommunicator(application, "/ws/agents/", headers=[(b"origin", b"http://localhost")])
    assert not (await anonymous.connect())[0]


@pytest.mark.parametrize(
    ("setup", "expected_code"),
    [
        ("max_depth", "max_depth_exceeded"),
        ("grant_by_executive", "not_the_board"),
        ("spawn_under_terminated", "agent_terminated"),
        ("unknown_privilege", "unknown_privilege"),
    ],
)
def test_each_rule_has_its_own_403_code(api, org, settings, setup, expected_code):
    ids = {name: org[name]["id"] for name in org}
    if setup == "max_depth":
        settings.SWARMWEB = {**settings.SWARMWEB, "MAX_DEPTH": 2}
        api.post(f"/api/agents/{ids['calc']}/grant/", {"privilege": "spawn"}, format="json")
        response = api.post(
            f"/api/agents/{ids['calc']}/spawn/",
            {"name": "deeper", "provider": "scripted", "config": {"replies": ["x"]}, "acting_agent": ids["calc"]},
            format="json",
        )
    elif setup == "grant_by_executive":
        response = api.post(
            f"/api/agents/{ids['calc']}/grant/", {"privilege": "tool.echo", "acting_agent": ids["cto"]}, format="json"
        )
    elif setup == "spawn_under_terminated":
        api.post(f"/api/agents/{ids['calc']}/terminate/", {}, format="json")
        response = api.post(
            "/api/agents/",
            {"name": "orphan", "provider": "scripted", "config": {"replies": ["x"]}, "parent": ids["calc"]},
            format="json",
        )
    else:
        response = api.post(f"/api/agents/{ids['board']}/grant/", {"privilege": "fly"}, format="json")
    assert response.status_code == 403, response.json()
    assert response.json()["error"]["code"] == expected_code
    assert AuditEntry.objects.filter(allowed=False, rule=expected_code).exists()
