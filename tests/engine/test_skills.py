import pytest

from apps.engine.errors import AgentConfigError
from apps.engine.executor import run_agent_step
from apps.engine.providers import validate_agent_config
from apps.engine.values import AgentSpec, ProviderKind, StepOutcome, StepRequest


def skill(name: str, **config) -> AgentSpec:
    return AgentSpec(name=f"{name}-agent", provider=ProviderKind.SKILL, config={"skill": name, **config})


def step(spec: AgentSpec, text: str, task: str = "the task"):
    return run_agent_step(spec, StepRequest(task=task, input=text))


def test_calculator_answers_with_the_number():
    result = step(skill("calculator"), "What is 6 * 7?")
    assert result.ok and result.content == "42"


def test_calculator_failure_is_a_failed_step_not_an_exception():
    result = step(skill("calculator"), "no numbers here")
    assert result.outcome is StepOutcome.ERROR
    assert "Not an arithmetic expression" in result.error


def test_python_runs_code_from_a_fenced_block():
    result = step(skill("python"), "Here:\n```python\nprint(sum(range(101)))\n```")
    assert result.ok and result.content == "5050"


def test_python_stops_an_infinite_loop_with_a_timeout():
    result = step(skill("python", timeout_s=1), "while True: pass")
    assert result.outcome is StepOutcome.TIMEOUT


def test_python_enforces_the_memory_limit():
    result = step(skill("python", memory_mb=64), "x = bytearray(512 * 1024 * 1024)\nprint('allocated')")
    assert result.outcome is StepOutcome.ERROR
    assert "MemoryError" in result.error


def test_python_reports_the_exception_line():
    result = step(skill("python"), "raise ValueError('nope')")
    assert result.outcome is StepOutcome.ERROR and "ValueError: nope" in result.error


def test_python_sees_no_secrets_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    result = step(skill("python"), "import os; print(os.environ.get('OPENAI_API_KEY'))")
    assert result.content == "None"


def test_echo_fills_its_template():
    result = step(skill("echo", template="{{ agent }} got '{{ input }}' for {{ task }}"), "hello")
    assert result.content == "echo-agent got 'hello' for the task"


@pytest.mark.parametrize(
    ("mode", "expected", "answer", "passed"),
    [
        ("exact", "Paris", " paris ", True),
        ("numeric", "42", "The answer is 42.0", True),
        ("numeric", "42", "about 41", False),
        ("contains", "blue", "The sky is blue today", True),
        ("regex", r"^\d{3}$", "123", True),
        ("regex", r"^\d{3}$", "12a", False),
    ],
)
def test_judge_checks_answers_by_rule(mode, expected, answer, passed):
    result = step(skill("judge", mode=mode, expected=expected), answer)
    assert result.ok
    assert result.data["passed"] is passed
    assert result.content.startswith("PASS" if passed else "FAIL")


def test_terminator_signals_done():
    result = step(skill("terminator", template="Goodbye."), "anything")
    assert result.ok and result.done and result.content == "Goodbye."


def test_skill_config_errors_are_collected_per_field():
    with pytest.raises(AgentConfigError) as caught:
        validate_agent_config("skill", {"skill": "judge", "mode": "fuzzy", "template": "{{ oops", "colour": 1})
    assert set(caught.value.fields) >= {"mode", "template", "colour", "expected"}


def test_only_local_pure_skills_are_instant():
    from apps.engine.providers import get_provider

    provider = get_provider("skill")
    assert all(provider.is_instant({"skill": s}) for s in ("calculator", "echo", "judge", "terminator"))
    assert not provider.is_instant({"skill": "python"})
