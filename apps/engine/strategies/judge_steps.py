"""Driving a judge from a strategy: LLM judges become agent steps.

A :class:`JudgeSession` is a small pure state machine a strategy embeds in its
own state: ``begin`` computes what the engine can (rule and metrics judges)
and returns the agent steps the LLM judges need; ``on_result`` takes their
replies, asks again after a malformed one (up to the judge's ``retries``),
then records a tie with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..judges import ConsensusJudge, Judge, JudgeReplyError, LLMJudge, Submission, Verdict
from ..values import StepResult
from .base import RunStep


@dataclass
class JudgeSession:
    """One judging of ``submissions``, as a pure state machine strategies embed.

    ``begin`` returns the session (a dict to keep in the strategy's state), the
    agent steps to run (keys start with ``prefix``) and the verdict if no agent
    is needed. ``on_result`` takes an LLM judge's step result.
    """

    judge: Judge
    prefix: str
    room: str | None = None
    timeout_s: float | None = None

    def _leaves(self) -> list[Judge]:
        return list(self.judge.judges) if isinstance(self.judge, ConsensusJudge) else [self.judge]

    def begin(
        self, task: str, submissions: Sequence[Submission], *, expected: str | None = None
    ) -> tuple[dict[str, Any], list[RunStep], Verdict | None]:
        state: dict[str, Any] = {
            "task": task,
            "expected": expected,
            "submissions": [s.to_dict() for s in submissions],
            "verdicts": {},
            "attempts": {},
        }
        steps: list[RunStep] = []
        for index, leaf in enumerate(self._leaves()):
            if isinstance(leaf, LLMJudge):
                state["attempts"][str(index)] = 0
                steps.append(self._ask(state, index, leaf))
            else:
                try:
                    verdict = leaf.judge(task, submissions, expected=expected)
                except ConfigError as exc:
                    verdict = Verdict(
                        None, {s.id: 0.0 for s in submissions}, f"Judge error: {exc.message}", 0.0, "rule"
                    )
                state["verdicts"][str(index)] = verdict.to_dict()
        return state, steps, self._maybe_done(state)

    def owns(self, key: str) -> bool:
        return key.startswith(f"{self.prefix}judge-")

    def on_result(
        self, state: Mapping[str, Any], key: str, result: StepResult
    ) -> tuple[dict[str, Any], list[RunStep], Verdict | None]:
        s = json.loads(json.dumps(state))
        index = int(key.removeprefix(f"{self.prefix}judge-").split("#")[0])
        leaf = self._leaves()[index]
        assert isinstance(leaf, LLMJudge)
        submissions = [Submission.from_dict(d) for d in s["submissions"]]
        if result.ok:
            try:
                verdict = leaf.parse(result.content, submissions)
            except JudgeReplyError as exc:
                problem = exc.message
            else:
                s["verdicts"][str(index)] = verdict.to_dict()
                return s, [], self._maybe_done(s)
        else:
            problem = f"the judge agent failed: {result.error or result.outcome.value}"
        attempts = s["attempts"][str(index)]
        if attempts < leaf.retries:
            s["attempts"][str(index)] = attempts + 1
            return s, [self._ask(s, index, leaf, error=problem)], None
        tie = Verdict(
            None,
            {sub.id: 0.0 for sub in submissions},
            f"Counted as a tie: {problem} (after {attempts + 1} attempts).",
            0.0,
            f"llm:{leaf.agent}",
        )
        s["verdicts"][str(index)] = tie.to_dict()
        return s, [], self._maybe_done(s)

    def _ask(self, state: Mapping[str, Any], index: int, leaf: LLMJudge, *, error: str = "") -> RunStep:
        submissions = [Submission.from_dict(d) for d in state["submissions"]]
        attempt = state["attempts"][str(index)]
        return RunStep(
            key=f"{self.prefix}judge-{index}#{attempt}",
            agent=leaf.agent,
            input=LLMJudge.prompt(state["task"], submissions, expected=state.get("expected"), error=error),
            room=self.room,
            timeout_s=self.timeout_s,
        )

    def _maybe_done(self, state: Mapping[str, Any]) -> Verdict | None:
        leaves = self._leaves()
        if len(state["verdicts"]) < len(leaves):
            return None
        verdicts = [Verdict.from_dict(state["verdicts"][str(i)]) for i in range(len(leaves))]
        if isinstance(self.judge, ConsensusJudge):
            submissions = [Submission.from_dict(d) for d in state["submissions"]]
            return ConsensusJudge.combine(verdicts, submissions)
        return verdicts[0]
