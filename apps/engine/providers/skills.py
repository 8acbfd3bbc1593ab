"""Built-in skills: agents that do real work offline, with no model and no key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .. import templating
from ..calculator import CalculationError, evaluate_in_text, format_number
from ..config import ConfigReader
from ..errors import AgentConfigError, ConfigError, EngineError, ProviderError, ProviderTimeout
from ..judging import RuleMode, check
from ..sandbox import run_python
from ..tools import ToolHost
from ..values import AgentSpec, StepRequest
from .base import Reply, TokenSink, parsed_config


class SkillName(StrEnum):
    CALCULATOR = "calculator"
    PYTHON = "python"
    ECHO = "echo"
    JUDGE = "judge"
    TERMINATOR = "terminator"


SKILL_DESCRIPTIONS = {
    SkillName.CALCULATOR: "Evaluates the arithmetic in its input (safely, without eval).",
    SkillName.PYTHON: "Runs its input as Python in a sandboxed subprocess and returns what it printed.",
    SkillName.ECHO: "Replies with a template filled with its input, the task and its name.",
    SkillName.JUDGE: "Checks its input against an expected answer (exact, numeric, contains, regex).",
    SkillName.TERMINATOR: "Replies with a closing message and ends the conversation.",
}


@dataclass(frozen=True)
class SkillConfig:
    skill: SkillName
    template: str = "{{ input }}"
    mode: RuleMode = RuleMode.EXACT
    expected: str = ""
    case_sensitive: bool = False
    tolerance: float = 1e-6
    timeout_s: float = 5.0
    memory_mb: int = 256


_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL)


def extract_code(text: str) -> str:
    """The code inside the first fenced block of ``text``, or ``text`` itself."""
    match = _FENCE.search(text)
    return match.group(1) if match else text


class SkillProvider:
    uses_history = False
    uses_tools = False

    def parse_config(self, config: Mapping[str, Any]) -> SkillConfig:
        allowed = {"skill", "template", "mode", "expected", "case_sensitive", "tolerance", "timeout_s", "memory_mb"}
        reader = ConfigReader(config, allowed=allowed, error=AgentConfigError)
        skill = reader.choice("skill", SkillName.ECHO, tuple(SkillName))
        if "skill" not in reader.config:
            reader.error("skill", f"Choose a skill: {', '.join(SkillName)}.")
        template = reader.string("template", "{{ input }}")
        try:
            templating.check_template(template)
        except ConfigError as exc:
            reader.error("template", exc.message)
        mode = reader.choice("mode", RuleMode.EXACT, tuple(RuleMode))
        expected = reader.string("expected", "")
        if skill == SkillName.JUDGE and not expected:
            reader.error("expected", "A judge needs the expected answer.")
        if skill == SkillName.JUDGE and mode == RuleMode.REGEX:
            try:
                re.compile(expected)
            except re.error as exc:
                reader.error("expected", f"Invalid regular expression: {exc}")
        parsed = SkillConfig(
            skill=SkillName(skill),
            template=template,
            mode=RuleMode(mode),
            expected=expected,
            case_sensitive=reader.boolean("case_sensitive", False),
            tolerance=reader.number("tolerance", 1e-6, minimum=0, maximum=1e6) or 0.0,
            timeout_s=reader.number("timeout_s", 5.0, minimum=0.1, maximum=300) or 5.0,
            memory_mb=reader.integer("memory_mb", 256, minimum=32, maximum=8192) or 256,
        )
        reader.raise_if_invalid("skill")
        return parsed

    def is_instant(self, config: Mapping[str, Any]) -> bool:
        # Everything but ``python``, which starts a process and may run for seconds.
        return config.get("skill") in {SkillName.CALCULATOR, SkillName.ECHO, SkillName.JUDGE, SkillName.TERMINATOR}

    def waits_async(self, config: Mapping[str, Any]) -> bool:
        return False  # skills compute (or run a sandboxed process): nothing to await

    async def areply(self, spec: AgentSpec, request: StepRequest, *, on_token: TokenSink | None = None) -> Reply:
        raise ProviderError("Skills reply on a thread of their own (waits_async is false).")

    def reply(
        self, spec: AgentSpec, request: StepRequest, *, on_token: TokenSink | None = None, tools: ToolHost | None = None
    ) -> Reply:
        config = parsed_config(self, spec.config)
        handler = getattr(self, f"_{config.skill.value}")
        return handler(config, spec, request)

    @staticmethod
    def _context(spec: AgentSpec, request: StepRequest) -> dict[str, Any]:
        return {"input": request.input, "task": request.task, "agent": spec.name, "call_index": request.call_index}

    def _calculator(self, config: SkillConfig, spec: AgentSpec, request: StepRequest) -> Reply:
        try:
            value = evaluate_in_text(request.input)
        except CalculationError as exc:
            raise ProviderError(exc.message) from None
        return Reply(format_number(value), data={"value": value})

    def _python(self, config: SkillConfig, spec: AgentSpec, request: StepRequest) -> Reply:
        timeout = min(config.timeout_s, request.timeout_s)
        result = run_python(extract_code(request.input), timeout_s=timeout, memory_mb=config.memory_mb)
        if result.timed_out:
            raise ProviderTimeout(f"The code ran longer than {timeout:g}s and was stopped.")
        if result.killed_reason == "output_limit":  # stopped for printing too much: keep what fits
            return Reply(result.stdout.rstrip("\n") + "\n[output truncated]", data={"stderr": result.stderr[-2000:]})
        if result.exit_code != 0:
            tail = result.stderr.strip().splitlines()[-1:] or [f"exit code {result.exit_code}"]
            refused = f" (refused: {'; '.join(result.denied[:3])})" if result.denied else ""
            raise ProviderError(f"The code failed: {tail[0]}{refused}")
        suffix = "\n[output truncated]" if result.truncated else ""
        return Reply(result.stdout.rstrip("\n") + suffix, data={"stderr": result.stderr[-2000:]})

    def _echo(self, config: SkillConfig, spec: AgentSpec, request: StepRequest) -> Reply:
        try:
            return Reply(templating.render(config.template, self._context(spec, request)))
        except EngineError as exc:
            raise ProviderError(exc.message) from None

    def _judge(self, config: SkillConfig, spec: AgentSpec, request: StepRequest) -> Reply:
        try:
            expected = templating.render(config.expected, self._context(spec, request))
            verdict = check(
                config.mode, request.input, expected, case_sensitive=config.case_sensitive, tolerance=config.tolerance
            )
        except EngineError as exc:
            raise ProviderError(exc.message) from None
        label = "PASS" if verdict.passed else "FAIL"
        return Reply(f"{label}: {verdict.reason}", data={"passed": verdict.passed, "score": verdict.score})

    def _terminator(self, config: SkillConfig, spec: AgentSpec, request: StepRequest) -> Reply:
        try:
            content = templating.render(config.template, self._context(spec, request))
        except EngineError as exc:
            raise ProviderError(exc.message) from None
        return Reply(content, done=True)
