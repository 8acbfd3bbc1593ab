"""Agents call registered tools during run steps: privileges at call time, schema checks, records, live notices."""

import pytest

from apps.agents.governance import Acting, revoke_privilege
from apps.agents.models import AuditEntry
from apps.engine.tools import ToolResult
from apps.runs import services
from apps.runs.models import HumanRequest, RunStatus
from apps.runs.presenters import step_data
from apps.tools import registry
from apps.tools.registry import Tool, object_schema
from tests.conftest import drive

pytestmark = pytest.mark.django_db


def calls(*tool_calls, content="{{ tool_results | map(attribute='content') | join(' | ') }}"):
    return {"content": content, "tool_calls": [{"tool": t, "arguments": a} for t, a in tool_calls]}


def run_one(make_agent, make_swarm, alice, reply, privileges, task="go"):
    agent = make_agent("worker", config={"replies": [reply]}, privileges=privileges)
    swarm = make_swarm(agents=[agent], strategy="sequential")
    return drive(services.start_run(swarm=swarm, task=task, user=alice))


def test_a_tool_call_is_checked_run_and_recorded_in_the_trajectory(alice, make_agent, make_swarm):
    reply = calls(
        ("calculator", {"expression": "6 * 7"}),
        ("calculator", {"expression": 42}),  # wrong type: rejected by the schema, never run
        ("calculator", {"expression": "1/0"}),  # the tool's own error goes back to the agent
        ("teleport", {}),
    )
    run = run_one(make_agent, make_swarm, alice, reply, ["tool.calculator"])
    assert run.status == RunStatus.SUCCEEDED, run.error
    step = run.steps.get()
    recorded = step.data["tool_calls"]
    assert [(c["tool"], c["ok"], c["error_code"]) for c in recorded] == [
        ("calculator", True, ""),
        ("calculator", False, "invalid_arguments"),
        ("calculator", False, "calculation_error"),
        ("teleport", False, "unknown_tool"),
    ]
    assert recorded[0]["content"] == "42" and recorded[0]["duration_ms"] >= 0
    assert "expression: 42 is not of type 'string'" in recorded[1]["content"]
    assert run.result.startswith("42 | Invalid arguments")
    assert step_data(step)["tool_calls"] == recorded  # what the run page renders


def test_a_tool_needs_its_privilege_at_the_moment_of_the_call(alice, make_agent, make_swarm):
    run = run_one(make_agent, make_swarm, alice, calls(("calculator", {"expression": "1+1"})), [])
    assert run.steps.get().data["tool_calls"][0]["error_code"] == "missing_privilege"
    denial = AuditEntry.objects.get(allowed=False)
    assert (denial.action, denial.rule, denial.run_id) == ("use", "missing_privilege", run.pk)


def test_revoking_a_privilege_blocks_the_next_call(alice, make_agent, make_swarm):
    agent = make_agent(
        "worker",
        config={
            "replies": [calls(("calculator", {"expression": "2+2"})), calls(("calculator", {"expression": "3+3"}))]
        },
        privileges=["tool.calculator"],
    )
    swarm = make_swarm(agents=[agent], strategy="chat_room", strategy_config={"max_turns": 2})
    run = services.start_run(swarm=swarm, task="go", user=alice)
    services.begin_run(run.pk)
    first = run.steps.get()
    services.execute_step(first.pk)
    revoke_privilege(Acting(user=alice), agent, "tool.calculator")
    second = run.steps.exclude(pk=first.pk).get()
    services.execute_step(second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.data["tool_calls"][0]["ok"] is True
    assert second.data["tool_calls"][0]["error_code"] == "missing_privilege"


def test_only_tools_the_agent_holds_privileges_for_are_offered(alice, make_agent, make_swarm):
    from apps.runs.tools import RunToolHost

    agent = make_agent("worker", privileges=["tool.calculator", "memory.write"])
    swarm = make_swarm(agents=[agent], strategy="sequential")
    run = services.start_run(swarm=swarm, task="go", user=alice)
    services.begin_run(run.pk)
    names = {spec.name for spec in RunToolHost(run.steps.get(), agent).specs()}
    assert names == {"calculator", "memory_write"}


def test_async_tools_work_like_sync_ones(alice, make_agent, make_swarm, monkeypatch):
    async def shout(ctx, args):
        return ToolResult(True, args["text"].upper() + f" from {ctx.agent.name}")

    monkeypatch.setitem(
        registry._BUILTINS,
        "shout",
        Tool("shout", "Shout.", object_schema({"text": {"type": "string"}}, ["text"]), "tool.shout", shout),
    )
    run = run_one(make_agent, make_swarm, alice, calls(("shout", {"text": "hey"})), ["tool.shout"])
    assert run.result == "HEY from worker"


def test_ask_human_puts_a_question_to_people_and_posts_the_answer_later(alice, make_agent, make_swarm):
    asker = make_agent(
        "asker",
        config={"replies": [calls(("ask_human", {"question": "Which colour?"})), "still working", "done"]},
        privileges=["human.ask"],
    )
    swarm = make_swarm(agents=[asker], strategy="chat_room", strategy_config={"max_turns": 3})
    run = services.start_run(swarm=swarm, task="paint", user=alice)
    services.begin_run(run.pk)
    services.execute_step(run.steps.get().pk)
    request = HumanRequest.objects.get(run=run)
    assert request.prompt == "asker asks: Which colour?"
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING  # the question does not hold up the conversation
    services.answer_human_request(request_id=request.pk, answer={"answer": "Teal"}, user=alice)
    answer = run.messages.get(is_human=True, sender="alice")
    assert answer.room.name == "main" and "Teal" in answer.content and answer.sender == "alice"


def test_memory_written_by_one_agent_is_found_by_another_with_filters(alice, make_agent, make_swarm):
    writer = make_agent(
        "scout",
        config={
            "replies": [
                calls(
                    ("memory_write", {"text": "The bridge on route 9 is closed for repairs.", "tags": ["roads"]}),
                    ("memory_write", {"text": "Lunch is served at noon in the canteen.", "tags": ["food"]}),
                )
            ]
        },
        privileges=["memory.write"],
    )
    reader = make_agent(
        "planner",
        config={
            "replies": [
                calls(
                    ("memory_search", {"query": "can trucks cross the river?", "k": 1}),
                    ("memory_search", {"query": "can trucks cross the river?", "tag": "food"}),
                    ("memory_search", {"query": "anything", "author": "nobody"}),
                )
            ]
        },
        privileges=["tool.memory_search"],
    )
    swarm = make_swarm(agents=[writer, reader], strategy="sequential")
    run = drive(services.start_run(swarm=swarm, task="plan the delivery", user=alice))
    assert run.status == RunStatus.SUCCEEDED, run.error
    searches = run.steps.get(agent_name="planner").data["tool_calls"]
    assert "bridge on route 9" in searches[0]["content"] and "Lunch" not in searches[0]["content"]
    assert "Lunch" in searches[1]["content"] and "bridge" not in searches[1]["content"]
    assert searches[2]["error_code"] == "unknown_agent"


def test_a_refused_memory_write_writes_nothing(alice, make_agent, make_swarm):
    from apps.memory.models import MemoryEntry

    run = run_one(make_agent, make_swarm, alice, calls(("memory_write", {"text": "secret"})), ["tool.memory_search"])
    assert run.steps.get().data["tool_calls"][0]["error_code"] == "missing_privilege"
    assert not MemoryEntry.objects.exists()


def test_an_agent_with_memory_recall_gets_the_most_relevant_memories_in_its_input(alice, make_agent, make_swarm):
    from apps.agents.services import update_agent
    from apps.memory.services import write_memory

    echo = make_agent("echoer", provider="skill", config={"skill": "echo"})
    update_agent(echo, memory_top_k=1)
    swarm = make_swarm(agents=[echo], strategy="sequential")
    write_memory(owner=alice, swarm=swarm, text="The client prefers invoices in euros.")
    write_memory(owner=alice, swarm=swarm, text="The office cat is called Miso.")
    run = drive(services.start_run(swarm=swarm, task="Which currency should the invoice use?", user=alice))
    step = run.steps.get()
    assert "invoices in euros" in step.input or "invoices in euros" in step.output
    assert "Miso" not in step.output
    assert [m["text"] for m in step.data["recalled_memory"]] == ["The client prefers invoices in euros."]


def test_bad_memory_settings_create_no_agent(alice):
    from apps.agents.models import Agent
    from apps.agents.services import create_agent
    from apps.core.errors import FieldsError

    with pytest.raises(FieldsError) as caught:
        create_agent(
            owner=alice,
            name="x",
            provider="scripted",
            config={"replies": ["hi"]},
            memory_top_k=99,
            memory_scope="everywhere",
        )
    assert set(caught.value.fields) == {"memory_top_k", "memory_scope"}
    assert not Agent.objects.filter(name="x").exists()
