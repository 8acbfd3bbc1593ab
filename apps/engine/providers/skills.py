"""Built-in skills: agents that do real work offline, with no model and no key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from .. import templating
from ..calculator import CalculationError, evaluate_in_text, format_number
from ..errors import ConfigError, EngineError, ProviderError, ProviderTimeout
from ..judging import RuleMode, check
from ..sandbox import run_python
from ..tools import ToolHost
from ..values import AgentSpec, StepRequest
from .base import ConfigProblems, Reply, TokenSink, parsed_config, schema_defaults


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


_TEMPLATE = {
    "type": "string",
    "format": "template",
    "title": "Reply template",
    "description": "What the agent replies: a Jinja template of its input, the task, its name "
    "and the call index ({{ input }}, {{ task }}, {{ agent }}, {{ call_index }}).",
    "default": "{{ input }}",
}

# The settings each skill reads. A skill's config holds ``skill`` and only these.
SKILL_OPTIONS: dict[SkillName, dict[str, Any]] = {
    SkillName.CALCULATOR: {},
    SkillName.PYTHON: {
        "timeout_s": {
            "type": "number",
            "title": "Time limit (seconds)",
            "description": "The code is stopped after this long (or the step's own limit, if shorter).",
            "minimum": 0.1,
            "maximum": 300,
            "default": 5.0,
        },
        "memory_mb": {
            "type": "integer",
            "title": "Memory limit (MB)",
            "description": "The most memory the sandboxed process may use.",
            "minimum": 32,
            "maximum": 8192,
            "default": 256,
        },
    },
    SkillName.ECHO: {"template": _TEMPLATE},
    SkillName.JUDGE: {
        "mode": {
            "type": "string",
            "title": "Rule",
            "description": "exact: the same text; numeric: the last number within the tolerance; "
            "contains: the expected text appears; regex: the expected regular expression matches.",
            "enum": list(RuleMode),
            "default": RuleMode.EXACT.value,
        },
        "expected": {
            "type": "string",
            "format": "template",
            "title": "Expected answer",
            "description": "What the input is checked against (a template: {{ task }} is the task).",
            "minLength": 1,
            "x-messages": {"minLength": "A judge needs the expected answer."},
        },
        "case_sensitive": {
            "type": "boolean",
            "title": "Case sensitive",
            "description": "Whether exact, contains and regex checks tell upper from lower case.",
            "default": False,
        },
        "tolerance": {
            "type": "number",
            "title": "Tolerance",
            "description": "How far a numeric answer may be from the expected number and still pass.",
            "minimum": 0,
            "maximum": 1e6,
            "default": 1e-6,
        },
    },
    SkillName.TERMINATOR: {
        "template": {
            **_TEMPLATE,
            "title": "Closing message",
            "description": "The message that ends the conversation (a template, like echo's).",
        }
    },
}

_SKILL_TITLES = {
    SkillName.CALCULATOR: "Calculator",
    SkillName.PYTHON: "Python",
    SkillName.ECHO: "Echo",
    SkillName.JUDGE: "Judge",
    SkillName.TERMINATOR: "Terminator",
}


def _skill_schema(skill: SkillName) -> dict[str, Any]:
    """One skill's config: ``skill`` fixed to its name, then its own options."""
    required = ["skill", "expected"] if skill == SkillName.JUDGE else ["skill"]
    schema: dict[str, Any] = {
        "type": "object",
        "title": _SKILL_TITLES[skill],
        "description": SKILL_DESCRIPTIONS[skill],
        "properties": {
            "skill": {"const": skill.value, "title": "Skill", "description": SKILL_DESCRIPTIONS[skill]},
            **SKILL_OPTIONS[skill],
        },
        "required": required,
        "additionalProperties": False,
    }
    return schema


SKILL_SCHEMAS: dict[SkillName, dict[str, Any]] = {skill: _skill_schema(skill) for skill in SkillName}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "title": "Built-in skill",
    "description": "An agent that does real work offline: pick the skill, then its options.",
    "oneOf": [SKILL_SCHEMAS[skill] for skill in SkillName],
    "x-discriminator": "skill",
}


_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL)


def extract_code(text: str) -> str:
    """The code inside the first fenced block of ``text``, or ``text`` itself."""
    match = _FENCE.search(text)
    return match.group(1) if match else text


class SkillProvider:
    uses_history = False
    uses_tools = False

    config_schema: ClassVar[dict[str, Any]] = CONFIG_SCHEMA

    def parse_config(self, config: Mapping[str, Any]) -> SkillConfig:
        # The schema picks the alternative by ``skill`` and reports that skill's problems.
        problems = ConfigProblems(CONFIG_SCHEMA, config, what="skill")
        skill = config.get("skill")
        values = {**schema_defaults(SKILL_SCHEMAS[skill]), **config} if problems.passed("skill") else dict(config)
        for key in ("template", "expected"):
            if key in config and problems.passed(key):
                try:
                    templating.check_template(config[key])
                except ConfigError as exc:
                    problems.add(key, exc.message)
        if skill == SkillName.JUDGE and values.get("mode") == RuleMode.REGEX and problems.passed("expected"):
            try:
                re.compile(values["expected"])
            except re.error as exc:
                problems.add("expected", f"Invalid regular expression: {exc}")
        problems.raise_if_any()
        return SkillConfig(
            skill=SkillName(skill),
            template=values.get("template", SkillConfig.template),
            mode=RuleMode(values.get("mode", SkillConfig.mode)),
            expected=values.get("expected", ""),
            case_sensitive=values.get("case_sensitive", False),
            tolerance=float(values.get("tolerance", SkillConfig.tolerance)),
            timeout_s=float(values.get("timeout_s", SkillConfig.timeout_s)),
            memory_mb=values.get("memory_mb", SkillConfig.memory_mb),
        )

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
