"""An ``Environment`` over local skill functions, with a memo so repeated calls are free."""

from __future__ import annotations

from collections.abc import Sequence

from ...judging import last_number
from ..environment import AgentOption, Outcome, OutcomeKind, Task, check_answer, last_usable_output
from .skills import Skill, SkillFailure


def outcome_kind(output: str) -> OutcomeKind:
    if not output.strip():
        return OutcomeKind.EMPTY
    head = output.strip().split()[0]
    return OutcomeKind.NUMBER if last_number(head) is not None and head[-1].isdigit() else OutcomeKind.TEXT


class SkillEnvironment:
    """Agents are skills; an agent sees the task and the episode's latest usable output.

    The episode's answer is its latest usable output, so an agent that fails does
    not erase an earlier answer. Skills are deterministic, so outcomes are memoised
    on (agent, task text, latest usable output).
    """

    def __init__(self, agents: Sequence[tuple[AgentOption, Skill]]) -> None:
        self._options = tuple(option for option, _ in agents)
        self._skills = tuple(skill for _, skill in agents)
        self._memo: dict[tuple[int, str, str | None], Outcome] = {}

    @property
    def agents(self) -> Sequence[AgentOption]:
        return self._options

    def act(self, task: Task, history: Sequence[Outcome], agent_index: int) -> Outcome:
        previous = last_usable_output(history)
        key = (agent_index, task.text, previous)
        outcome = self._memo.get(key)
        if outcome is None:
            option = self._options[agent_index]
            try:
                output = self._skills[agent_index](task.text, previous)
            except SkillFailure as exc:
                outcome = Outcome(option.name, str(exc), option.cost, False, OutcomeKind.ERROR.value)
            else:
                kind = outcome_kind(output)
                outcome = Outcome(option.name, output, option.cost, kind is not OutcomeKind.EMPTY, kind.value)
            self._memo[key] = outcome
        return outcome

    def solved(self, task: Task, history: Sequence[Outcome]) -> bool:
        answer = last_usable_output(history)
        return answer is not None and check_answer(task.checker, task.expected, answer)
