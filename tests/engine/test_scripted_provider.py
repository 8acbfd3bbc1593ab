import pytest

from apps.engine.errors import AgentConfigError
from apps.engine.executor import run_agent_step
from apps.engine.providers import validate_agent_config
from apps.engine.values import AgentSpec, ProviderKind, StepOutcome, StepRequest


def scripted(**config) -> AgentSpec:
    return AgentSpec(name="bot", provider=ProviderKind.SCRIPTED, config=config)


def reply(spec, text="hi", call_index=0):
    return run_agent_step(spec, StepRequest(task="t", input=text, call_index=call_index))


def test_the_nth_call_gets_the_nth_reply_then_the_default():
    spec = scripted(replies=["one", "two"], default="enough")
    assert [reply(spec, call_index=i).content for i in range(4)] == ["one", "two", "enough", "enough"]


def test_replies_can_cycle():
    spec = scripted(replies=["a", "b"], cycle=True)
    assert [reply(spec, call_index=i).content for i in range(5)] == ["a", "b", "a", "b", "a"]


def test_a_matching_rule_wins_over_the_list():
    spec = scripted(replies=["generic"], rules=[{"match": "price", "reply": "It costs $3."}])
    assert reply(spec, "What's the PRICE?").content == "It costs $3."
    assert reply(spec, "hello").content == "generic"


def test_replies_are_templates_and_can_end_the_conversation():
    spec = scripted(replies=[{"content": "Re: {{ input }}", "done": True}])
    result = reply(spec, "plan")
    assert result.content == "Re: plan" and result.done


def test_an_error_reply_fails_the_step():
    result = reply(scripted(replies=[{"error": "model overloaded"}]))
    assert result.outcome is StepOutcome.ERROR and "model overloaded" in result.error


def test_cost_and_tokens_per_call_are_reported():
    result = reply(scripted(replies=["x"], cost_per_call="0.002", tokens_per_call=30))
    assert str(result.usage.cost) == "0.002" and result.usage.total_tokens == 30


def test_every_config_problem_is_reported_at_once():
    with pytest.raises(AgentConfigError) as caught:
        validate_agent_config("scripted", {"replies": [3], "rules": [{"match": "("}], "delay_ms": -1})
    assert set(caught.value.fields) >= {"replies[0]", "rules[0]", "delay_ms"}


def test_scripted_agents_are_instant_unless_a_reply_waits():
    from apps.engine.providers import get_provider

    provider = get_provider("scripted")
    assert provider.is_instant({"replies": ["a", {"content": "b"}]})
    assert not provider.is_instant({"replies": ["a"], "delay_ms": 100})
    assert not provider.is_instant({"replies": [{"content": "b", "delay_ms": 5}]})
    assert not provider.is_instant({"rules": [{"match": "x", "reply": {"content": "y", "delay_ms": 5}}]})


def test_a_config_is_parsed_once_per_content_and_a_changed_one_again(monkeypatch):
    from apps.engine.providers.scripted import ScriptedProvider

    parsed: list[dict] = []
    parse = ScriptedProvider.parse_config

    def counting(self, config):
        parsed.append(dict(config))
        return parse(self, config)

    monkeypatch.setattr(ScriptedProvider, "parse_config", counting)
    config = {"replies": ["first {{ input }}"], "cycle": True, "tokens_per_call": 7}
    spec = AgentSpec(name="bot", provider=ProviderKind.SCRIPTED, config=config)
    assert [reply(spec, f"x{i}", call_index=i).content for i in range(3)] == ["first x0", "first x1", "first x2"]
    same = AgentSpec(name="bot", provider=ProviderKind.SCRIPTED, config={**config})  # equal content, another dict
    assert reply(same).usage.completion_tokens == 7
    assert len(parsed) == 1
    config["replies"] = ["changed"]  # the same dict, edited: its content is the key, so it is parsed again
    assert reply(spec).content == "changed" and len(parsed) == 2
    broken = scripted(replies="not a list")
    for _ in range(2):  # a config that fails is never remembered
        assert reply(broken).outcome is StepOutcome.ERROR
    assert len(parsed) == 4


def test_a_scripted_reply_awaited_is_the_reply_made_on_a_thread_and_waits_as_long():
    import asyncio
    import time

    from apps.engine.executor import arun_agent_step
    from apps.engine.providers import get_provider

    spec = scripted(replies=["one {{ input }}", {"content": "two", "done": True, "delay_ms": 120}], cost_per_call="0.5")
    for i in range(2):
        request = StepRequest(task="t", input="x", call_index=i)
        started = time.perf_counter()
        awaited = asyncio.run(arun_agent_step(spec, request))
        took = time.perf_counter() - started
        made = run_agent_step(spec, request)
        assert (awaited.content, awaited.done, awaited.usage) == (made.content, made.done, made.usage)
        assert took >= (0.12 if i else 0)
    failing = scripted(replies=[{"error": "model down", "delay_ms": 10}])
    assert asyncio.run(arun_agent_step(failing, StepRequest(task="t", input="x"))).outcome is StepOutcome.ERROR
    provider = get_provider("scripted")
    assert provider.waits_async({"replies": ["a"], "delay_ms": 100})
    assert not provider.waits_async({"replies": [{"content": "b", "tool_calls": [{"tool": "t", "arguments": {}}]}]})
    assert not provider.waits_async({"default": {"content": "b", "tool_calls": [{"tool": "t", "arguments": {}}]}})
