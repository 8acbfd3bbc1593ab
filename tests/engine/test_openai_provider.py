"""The OpenAI-compatible provider against a local server speaking the protocol."""

import json

import pytest

from apps.engine.executor import run_agent_step
from apps.engine.values import AgentSpec, ChatMessage, ProviderKind, StepOutcome, StepRequest
from tests.support.openai_server import LocalOpenAIServer, ScriptedResponse


@pytest.fixture
def server():
    srv = LocalOpenAIServer().start()
    yield srv
    srv.stop()


def agent(server, **config) -> AgentSpec:
    base = {"base_url": server.base_url, "model": "local-model", "max_retries": 1, "timeout_s": 5}
    return AgentSpec(name="writer", provider=ProviderKind.OPENAI, instructions="Be brief.", config={**base, **config})


def test_a_streamed_reply_arrives_in_deltas_with_usage_and_cost(server):
    server.responses.append(ScriptedResponse(content="Streaming works fine.", usage=(100, 50)))
    deltas = []
    spec = agent(server, prompt_price_per_1k="0.01", completion_price_per_1k="0.02")
    result = run_agent_step(spec, StepRequest(task="t", input="hi"), on_token=deltas.append)
    assert result.ok and result.content == "Streaming works fine."
    assert len(deltas) > 1 and "".join(deltas) == result.content
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (100, 50)
    assert str(result.usage.cost) == "0.002"
    assert server.requests[0]["stream"] is True


def test_a_non_streamed_reply_is_read_whole(server):
    server.responses.append(ScriptedResponse(content="Whole reply."))
    result = run_agent_step(agent(server, stream=False), StepRequest(task="t", input="hi"))
    assert result.content == "Whole reply." and result.usage.total_tokens == 19


def test_the_request_carries_instructions_history_settings_and_the_key(server, monkeypatch):
    monkeypatch.setenv("LOCAL_LLM_KEY", "sk-local")
    history = (
        ChatMessage("task", "Plan a party", is_human=True),
        ChatMessage("writer", "Cake?"),
        ChatMessage("bob", "Yes"),
    )
    spec = agent(server, api_key_env="LOCAL_LLM_KEY", temperature=0.2, max_tokens=64)
    run_agent_step(spec, StepRequest(task="t", input="Yes", history=history))
    body, headers = server.requests[0], server.headers[0]
    assert headers["authorization"] == "Bearer sk-local"
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("local-model", 0.2, 64)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Plan a party"},
        {"role": "assistant", "content": "Cake?"},
        {"role": "user", "content": "bob: Yes"},
    ]


def test_server_errors_are_retried(server):
    server.responses += [ScriptedResponse(status=503, error_message="busy"), ScriptedResponse(content="second try")]
    result = run_agent_step(agent(server), StepRequest(task="t", input="hi"))
    assert result.content == "second try" and len(server.requests) == 2


def test_client_errors_fail_the_step_with_the_server_message(server):
    server.responses.append(ScriptedResponse(status=401, error_message="invalid api key"))
    result = run_agent_step(agent(server), StepRequest(task="t", input="hi"))
    assert result.outcome is StepOutcome.ERROR and "401" in result.error and "invalid api key" in result.error
    assert len(server.requests) == 1


def test_a_slow_server_times_out(server):
    server.responses += [ScriptedResponse(delay_s=2.5), ScriptedResponse(delay_s=2.5)]
    result = run_agent_step(agent(server, timeout_s=1, max_retries=0), StepRequest(task="t", input="hi"))
    assert result.outcome is StepOutcome.TIMEOUT


def test_a_missing_api_key_variable_is_a_clear_error(server, monkeypatch):
    monkeypatch.delenv("NOT_SET_KEY", raising=False)
    result = run_agent_step(agent(server, api_key_env="NOT_SET_KEY"), StepRequest(task="t", input="hi"))
    assert "NOT_SET_KEY" in result.error and server.requests == []


def test_an_unreachable_endpoint_fails_cleanly():
    spec = AgentSpec(
        name="w",
        provider=ProviderKind.OPENAI,
        config={"base_url": "http://127.0.0.1:9/v1", "model": "m", "max_retries": 0},
    )
    result = run_agent_step(spec, StepRequest(task="t", input="hi"))
    assert result.outcome is StepOutcome.ERROR and "Could not reach" in result.error


class Adder:
    """A real ToolHost with one tool, recording what it was asked."""

    def __init__(self):
        self.calls = []

    def specs(self):
        from apps.engine.tools import ToolSpec

        params = {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
            "additionalProperties": False,
        }
        return [ToolSpec("add", "Add two numbers.", params)]

    def call(self, call):
        from apps.engine.tools import ToolResult

        self.calls.append(dict(call.arguments))
        return ToolResult(True, str(call.arguments["a"] + call.arguments["b"]))


def test_the_model_calls_tools_and_gets_their_results_back(server):
    server.responses += [
        ScriptedResponse(tool_calls=[("add", '{"a": 2, "b": 3}'), ("add", '{"a": "two"}')], usage=(10, 5)),
        ScriptedResponse(content="2 + 3 = 5", usage=(20, 4)),
    ]
    host = Adder()
    result = run_agent_step(agent(server), StepRequest(task="t", input="add 2 and 3"), tools=host)
    assert result.ok and result.content == "2 + 3 = 5", result.error
    assert host.calls == [{"a": 2, "b": 3}]  # the invalid call never reached the tool
    first, second = server.requests
    assert first["tools"][0]["function"]["name"] == "add" and first["stream"] is False
    tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
    assert json.loads(tool_messages[0]["content"]) == {"ok": True, "content": "5", "error_code": ""}
    assert json.loads(tool_messages[1]["content"])["error_code"] == "invalid_arguments"
    assert second["messages"][-3]["tool_calls"][0]["id"] == "call_0"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (30, 9)
    assert [c["ok"] for c in result.data["tool_calls"]] == [True, False]


def test_three_identical_failing_calls_stop_the_loop(server):
    server.responses += [ScriptedResponse(tool_calls=[("nope", "{}")]) for _ in range(4)]
    result = run_agent_step(agent(server), StepRequest(task="t", input="go"), tools=Adder())
    assert result.outcome is StepOutcome.ERROR and "three times" in result.error


def test_without_tools_on_offer_no_tools_are_sent(server):
    run_agent_step(agent(server), StepRequest(task="t", input="hi"))
    assert "tools" not in server.requests[0]


def test_every_call_shares_one_tls_context_instead_of_loading_the_certificates_again(server, monkeypatch):
    import httpx

    from apps.engine.providers import openai_compat

    built = []
    create = httpx.create_ssl_context

    def counting(*args, **kwargs):
        built.append(1)
        return create(*args, **kwargs)

    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    monkeypatch.setattr(openai_compat, "_tls_context", None)
    server.responses += [ScriptedResponse(content=f"reply {i}") for i in range(4)]
    spec = agent(server)
    replies = [run_agent_step(spec, StepRequest(task="t", input="hi")).content for _ in range(4)]
    assert replies == [f"reply {i}" for i in range(4)]
    assert len(built) == 1  # built once, for the first call (a client building its own took 44 ms of CPU)
