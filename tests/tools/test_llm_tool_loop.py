"""An LLM agent (OpenAI protocol, local server) using the platform's real tools inside a run step."""

import json

import pytest

from apps.memory.models import MemoryEntry
from apps.runs import services
from apps.runs.models import RunStatus
from tests.conftest import drive
from tests.support.openai_server import LocalOpenAIServer, ScriptedResponse

pytestmark = pytest.mark.django_db


@pytest.fixture
def server():
    srv = LocalOpenAIServer().start()
    yield srv
    srv.stop()


def test_parallel_tool_calls_in_one_turn_are_all_answered_in_order(alice, make_agent, make_swarm, server):
    server.responses += [
        ScriptedResponse(
            tool_calls=[
                ("calculator", '{"expression": "19 * 23"}'),
                ("memory_write", '{"text": "19 times 23 is 437", "tags": ["math"]}'),
                ("calculator", '{"expression": 5}'),  # bad arguments
                ("spawn_agent", '{"name": "helper", "provider": "scripted", "config": {}}'),  # not offered
            ]
        ),
        ScriptedResponse(content="It is 437."),
    ]
    llm = make_agent(
        "analyst",
        provider="openai",
        config={"base_url": server.base_url, "model": "local-model", "max_retries": 0, "stream": False},
        privileges=["model.local-model", "tool.calculator", "memory.write"],
    )
    run = drive(services.start_run(swarm=make_swarm(agents=[llm], strategy="sequential"), task="19*23?", user=alice))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.result == "It is 437."
    offered = {t["function"]["name"] for t in server.requests[0]["tools"]}
    assert offered == {"calculator", "memory_write"}  # only what it holds privileges for
    answers = [json.loads(m["content"]) for m in server.requests[1]["messages"] if m["role"] == "tool"]
    assert [(a["ok"], a["error_code"]) for a in answers] == [
        (True, ""),
        (True, ""),
        (False, "invalid_arguments"),
        (False, "unknown_tool"),  # never offered (no privilege), so the provider refuses it
    ]
    assert answers[0]["content"] == "437"
    assert MemoryEntry.objects.get().text == "19 times 23 is 437"
    recorded = run.steps.get().data["tool_calls"]
    assert [c["tool"] for c in recorded] == ["calculator", "memory_write", "calculator", "spawn_agent"]
