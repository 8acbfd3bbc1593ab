"""Sequential pipeline: stages run one after another, each fed the previous output.

A stage is an agent step or a human checkpoint. Every stage's ``input`` is a
template with ``task``, ``previous`` (the last agent output), ``outputs``
(stage name -> output) and ``answers`` (stage name -> answer fields).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from .. import templating
from ..config import ConfigReader
from ..errors import EngineError, StrategyConfigError, StrategyError
from ..human import parse_question
from ..values import HumanQuestion
from . import schema_parts as sp
from .base import (
    AskHuman,
    Fact,
    Fail,
    Finish,
    HumanAnswered,
    MembersChanged,
    PostMessage,
    RunStep,
    StepFinished,
    Transition,
)

DEFAULT_INPUT = "{{ previous }}"


@dataclass(frozen=True)
class Stage:
    name: str
    agent: str | None = None
    input: str = DEFAULT_INPUT
    retries: int = 0
    question: HumanQuestion | None = None


@dataclass
class SequentialState:
    task: str
    stage: int = 0
    attempt: int = 0
    previous: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)


class SequentialStrategy:
    """Config keys: ``stages`` (list; default: every member once, in order), ``room``."""

    name: ClassVar[str] = "sequential"
    config_only: ClassVar[bool] = True  # built from its config and members alone (see registry)
    roles: ClassVar[tuple[dict[str, Any], ...]] = (
        {"role": "stage", "key": "stages", "many": True, "description": "Members run in the order of the stages."},
    )
    config_schema: ClassVar[dict[str, Any]] = sp.config(
        {
            "stages": {
                "title": "Stages",
                "description": "Run one after another, each fed the previous output (default: every member once).",
                "type": "array",
                "minItems": 1,
                "x-messages": {
                    "type": "Must be a non-empty list (or omit it to run every member once).",
                    "minItems": "Must be a non-empty list (or omit it to run every member once).",
                },
                "items": {
                    "title": "Stage",
                    "description": "An agent's step, or a person's checkpoint.",
                    "type": "object",
                    "oneOf": [
                        {
                            "title": "Agent step",
                            "type": "object",
                            "properties": {
                                "name": sp.text(
                                    "Name", "Names the stage's output for later inputs (default: agent-N)."
                                ),
                                "agent": sp.member("Agent", "The member that runs this stage.", role="stage"),
                                "input": sp.template(
                                    "Input",
                                    "What the agent is given: task, previous, outputs.<stage>, answers.<stage>.",
                                    default=DEFAULT_INPUT,
                                ),
                                "retries": sp.integer(
                                    "Retries",
                                    "How often a failed step is tried again.",
                                    default=0,
                                    minimum=0,
                                    maximum=10,
                                    **{"x-error": "Must be a whole number from 0 to 10."},
                                ),
                            },
                            "required": ["agent"],
                            "additionalProperties": False,
                            "x-messages": {"additionalProperties": "Unknown keys: {keys}."},
                        },
                        {
                            "title": "Ask a person",
                            "type": "object",
                            "properties": {
                                "name": sp.text("Name", "Names the answer for later inputs (default: human-N)."),
                                "ask_human": sp.human_question(),
                            },
                            "required": ["ask_human"],
                            "additionalProperties": False,
                            "x-messages": {"additionalProperties": "Unknown keys: {keys}."},
                        },
                    ],
                    "x-messages": {
                        "type": "Each stage must be an object with 'agent' or 'ask_human'.",
                        "oneOf": "Give exactly one of 'agent' or 'ask_human'.",
                    },
                },
            },
            "room": sp.room("main"),
        }
    )

    def __init__(self, config: Mapping[str, Any] | None, members: Sequence[str]) -> None:
        reader = ConfigReader(config, allowed={"stages", "room"}, error=StrategyConfigError)
        self.room = reader.string("room", "main", required=True)
        raw_stages = reader.config.get("stages")
        if raw_stages is None:
            raw_stages = [{"agent": m} for m in members]
        self.stages: list[Stage] = []
        if not isinstance(raw_stages, list) or not raw_stages:
            reader.error("stages", "Must be a non-empty list (or omit it to run every member once).")
            raw_stages = []
        names: set[str] = set()
        for i, raw in enumerate(raw_stages):
            stage = self._parse_stage(reader, i, raw, members)
            if stage is None:
                continue
            if stage.name in names:
                reader.error(f"stages[{i}].name", f"Duplicate stage name {stage.name!r}.")
            names.add(stage.name)
            self.stages.append(stage)
        reader.raise_if_invalid("sequential")

    @staticmethod
    def _parse_stage(reader: ConfigReader, i: int, raw: Any, members: Sequence[str]) -> Stage | None:
        where = f"stages[{i}]"
        if not isinstance(raw, Mapping):
            reader.error(where, "Each stage must be an object with 'agent' or 'ask_human'.")
            return None
        unknown = set(raw) - {"name", "agent", "input", "retries", "ask_human"}
        if unknown:
            reader.error(where, f"Unknown keys: {', '.join(sorted(unknown))}.")
        if ("agent" in raw) == ("ask_human" in raw):
            reader.error(where, "Give exactly one of 'agent' or 'ask_human'.")
            return None
        template = raw.get("input", DEFAULT_INPUT)
        try:
            templating.check_template(str(template))
        except EngineError as exc:
            reader.error(f"{where}.input", exc.message)
        retries = raw.get("retries", 0)
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            reader.error(f"{where}.retries", "Must be a whole number from 0 to 10.")
            retries = 0
        if "agent" in raw:
            agent = raw["agent"]
            if agent not in members:
                reader.error(f"{where}.agent", f"Unknown agent {agent!r}: not a member of this swarm.")
            name = str(raw.get("name") or f"{agent}-{i + 1}")
            return Stage(name=name, agent=agent, input=str(template), retries=retries)
        if not isinstance(raw["ask_human"], Mapping):
            reader.error(f"{where}.ask_human", sp.QUESTION_SHAPE)
            return None
        try:
            question = parse_question(raw["ask_human"], where=f"{where}.ask_human")
        except EngineError as exc:
            for key, messages in exc.fields.items():
                for message in messages:
                    reader.error(key, message)
            return None
        try:
            templating.check_template(question.prompt)
        except EngineError as exc:
            reader.error(f"{where}.ask_human.prompt", exc.message)
        return Stage(name=str(raw.get("name") or f"human-{i + 1}"), question=question)

    # ---- transitions -----------------------------------------------------

    def start(self, task: str) -> Transition:
        state = SequentialState(task=task, previous=task)
        return self._enter_stage(state, [PostMessage(self.room, "task", task, is_human=True)])

    def on_fact(self, state: Mapping[str, Any], fact: Fact) -> Transition:
        if isinstance(fact, MembersChanged):
            return Transition(dict(state))  # a pipeline's stages are fixed; newcomers are not in it
        s = SequentialState(**state)
        stage = self.stages[s.stage]
        if isinstance(fact, StepFinished):
            if stage.agent is None or fact.key != self._step_key(s):
                raise StrategyError(f"Unexpected step result {fact.key!r} at stage {stage.name!r}.")
            result = fact.result
            if not result.ok:
                if s.attempt < stage.retries:
                    s.attempt += 1
                    return self._enter_stage(s, [])
                return Transition(
                    asdict(s),
                    (Fail(f"Stage {stage.name!r} ({stage.agent}) failed: {result.error or result.outcome.value}"),),
                )
            s.previous = result.content
            s.outputs[stage.name] = result.content
            actions = [PostMessage(self.room, stage.agent, result.content)]
            return self._advance(s, actions)
        if isinstance(fact, HumanAnswered):
            if stage.question is None or fact.key != self._step_key(s):
                raise StrategyError(f"Unexpected human answer {fact.key!r} at stage {stage.name!r}.")
            s.answers[stage.name] = dict(fact.answer)
            summary = "; ".join(f"{k}: {v}" for k, v in fact.answer.items())
            return self._advance(s, [PostMessage(self.room, "human", summary, is_human=True)])
        raise StrategyError(f"Sequential strategy cannot handle {type(fact).__name__}.")

    # ---- helpers -----------------------------------------------------------

    def _step_key(self, s: SequentialState) -> str:
        stage = self.stages[s.stage]
        return f"{stage.name}#{s.attempt + 1}" if stage.agent else stage.name

    def _context(self, s: SequentialState) -> dict[str, Any]:
        answers = templating.Namespace({k: templating.Namespace(v) for k, v in s.answers.items()})
        return {"task": s.task, "previous": s.previous, "outputs": templating.Namespace(s.outputs), "answers": answers}

    def _advance(self, s: SequentialState, actions: list) -> Transition:
        s.stage += 1
        s.attempt = 0
        if s.stage >= len(self.stages):
            return Transition(asdict(s), (*actions, Finish(s.previous)))
        return self._enter_stage(s, actions)

    def _enter_stage(self, s: SequentialState, actions: list) -> Transition:
        stage = self.stages[s.stage]
        try:
            if stage.agent:
                text = templating.render(stage.input, self._context(s))
                action = RunStep(key=self._step_key(s), agent=stage.agent, input=text, room=self.room)
            else:
                assert stage.question is not None
                prompt = templating.render(stage.question.prompt, self._context(s))
                question = HumanQuestion(prompt=prompt, fields=stage.question.fields)
                action = AskHuman(key=self._step_key(s), question=question)
        except EngineError as exc:
            return Transition(asdict(s), (*actions, Fail(f"Stage {stage.name!r}: {exc.message}")))
        return Transition(asdict(s), (*actions, action))
