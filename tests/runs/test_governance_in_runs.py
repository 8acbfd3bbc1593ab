"""Agents governing at run time: a director spawns and terminates workers through tools."""

import pytest

from apps.agents.models import Agent, AuditEntry
from apps.runs import services
from apps.runs.models import RunEvent, RunStatus
from tests.conftest import drive, wait_for_run

SPAWN = {
    "content": "Hired: {{ tool_results | map(attribute='content') | join(' ') }}",
    "tool_calls": [
        {
            "tool": "spawn_agent",
            "arguments": {"name": "w1", "provider": "skill", "config": {"skill": "echo", "template": "w1 on it"}},
        },
        {
            "tool": "spawn_agent",
            "arguments": {"name": "w2", "provider": "skill", "config": {"skill": "echo", "template": "w2 on it"}},
        },
        {
            "tool": "spawn_agent",
            "arguments": {"name": "w3", "provider": "skill", "privileges": ["broadcast"], "config": {"skill": "echo"}},
        },
    ],
}
TERMINATE = {
    "content": "{{ tool_results[0].content }}",
    "tool_calls": [{"tool": "terminate_agent", "arguments": {"name": "w2"}}],
}


@pytest.fixture
def director(make_agent, make_swarm):
    boss = make_agent(
        "director",
        config={"replies": [SPAWN, TERMINATE, {"content": "Wrapping up.", "done": True}]},
        privileges=["spawn", "terminate", "tool.echo"],
    )
    return make_swarm(agents=[boss], strategy_config={"max_turns": 12})


def speakers(run):
    return list(run.messages.exclude(sender__in=["task", "system"]).values_list("sender", flat=True))


@pytest.mark.django_db
def test_a_director_spawns_workers_then_terminates_one_mid_run(alice, director):
    run = drive(services.start_run(swarm=director, task="Ship it", user=alice))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert speakers(run) == ["director", "w1", "w2", "director", "w1", "director"]
    assert run.messages.filter(sender="director").first().content.startswith("Hired: Spawned w1 (level 2).")
    w2 = Agent.objects.get(name="w2")
    assert (w2.level, w2.parent.name, w2.status, w2.privileges) == (2, "director", "terminated", ["tool.echo"])
    # w3 asked for a privilege its creator lacks: refused, audited, reported back to the director
    assert not Agent.objects.filter(name="w3").exists()
    denial = AuditEntry.objects.get(allowed=False)
    assert (denial.action, denial.rule, denial.actor_label, denial.run_id) == (
        "spawn",
        "privilege_escalation",
        "agent director",
        run.pk,
    )
    step = run.steps.get(index=1)
    assert [c["ok"] for c in step.data["tool_calls"]] == [True, True, False]
    assert step.data["tool_calls"][2]["error_code"] == "privilege_escalation"
    kinds = list(RunEvent.objects.filter(run=run, kind__startswith="agent.").values_list("kind", "data__agent"))
    assert kinds == [("agent.joined", "w1"), ("agent.joined", "w2"), ("agent.left", "w2")]
    assert run.member_names() == ["director", "w1", "w2"]  # the roster keeps who took part


@pytest.mark.worker
def test_the_same_through_a_real_worker(alice, director, celery_worker):
    run = wait_for_run(services.start_run(swarm=director, task="Ship it", user=alice))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert speakers(run) == ["director", "w1", "w2", "director", "w1", "director"]
    assert AuditEntry.objects.filter(action="terminate", allowed=True, actor_label="agent director").count() == 1


@pytest.mark.django_db
def test_an_agent_without_the_privilege_cannot_use_the_tools(alice, make_agent, make_swarm):
    rogue = make_agent(
        "rogue",
        config={
            "replies": [
                {
                    "content": "{{ tool_results[0].content }}",
                    "tool_calls": [
                        {
                            "tool": "spawn_agent",
                            "arguments": {"name": "x", "provider": "scripted", "config": {"replies": ["x"]}},
                        }
                    ],
                }
            ]
        },
    )
    run = drive(
        services.start_run(swarm=make_swarm(agents=[rogue], strategy_config={"max_turns": 1}), task="t", user=alice)
    )
    assert run.result.startswith("Refused (missing_privilege)")
    assert not Agent.objects.filter(name="x").exists()


@pytest.mark.django_db
def test_direct_messages_follow_talks_to_and_broadcasts_need_the_privilege_and_the_room(alice, make_agent, make_swarm):
    calls = [
        {"tool": "send_message", "arguments": {"to": "bea", "content": "hi bea"}},
        {"tool": "send_message", "arguments": {"to": "cal", "content": "psst"}},
        {"tool": "broadcast", "arguments": {"room": "ops", "content": "all hands"}},
        {"tool": "broadcast", "arguments": {"room": "board", "content": "let me in"}},
    ]
    reply = {"content": "{{ tool_results | map(attribute='ok') | join(',') }}", "tool_calls": calls}
    ann = make_agent("ann", config={"replies": [reply]}, privileges=["message", "broadcast"])
    bea = make_agent("bea")
    make_agent("cal")
    ann.talks_to.add(bea)
    ann.rooms = ["ops"]
    ann.save()
    run = drive(
        services.start_run(swarm=make_swarm(agents=[ann], strategy_config={"max_turns": 1}), task="t", user=alice)
    )
    assert run.result == "True,False,True,False"
    assert list(run.messages.filter(room__name="dm:ann+bea").values_list("content", flat=True)) == ["hi bea"]
    assert list(run.messages.filter(room__name="ops").values_list("content", flat=True)) == ["all hands"]
    denials = AuditEntry.objects.filter(allowed=False).order_by("id")
    assert [(d.action, d.rule) for d in denials] == [("message", "not_in_talks_to"), ("broadcast", "not_a_room_member")]


@pytest.mark.django_db
def test_an_llm_director_spawns_a_worker_through_function_calling(alice, make_agent, make_swarm):
    import json

    from tests.support.openai_server import LocalOpenAIServer, ScriptedResponse

    server = LocalOpenAIServer().start()
    try:
        hire = {"name": "helper", "provider": "skill", "config": {"skill": "echo", "template": "helper: {{ input }}"}}
        server.responses += [
            ScriptedResponse(tool_calls=[("spawn_agent", json.dumps(hire))]),
            ScriptedResponse(content="I hired a helper."),
            ScriptedResponse(content="Thanks, helper. Done."),
        ]
        llm = make_agent(
            "chief",
            provider="openai",
            privileges=["spawn", "model.local-model", "tool.echo"],
            config={"base_url": server.base_url, "model": "local-model", "timeout_s": 5},
        )
        run = drive(
            services.start_run(
                swarm=make_swarm(agents=[llm], strategy_config={"max_turns": 3}), task="Get help", user=alice
            )
        )
    finally:
        server.stop()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert speakers(run) == ["chief", "helper", "chief"]
    offered = {t["function"]["name"] for t in server.requests[0]["tools"]}
    assert offered == {"spawn_agent"}  # only what its privileges allow
    helper = Agent.objects.get(name="helper")
    assert (helper.parent.name, helper.level, helper.privileges) == ("chief", 2, ["tool.echo"])
    assert run.steps.get(index=1).data["tool_calls"][0]["ok"] is True
