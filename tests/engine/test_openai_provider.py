"""The OpenAI-compatible provider against a local server speaking the protocol."""

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
