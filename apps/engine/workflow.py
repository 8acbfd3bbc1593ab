"""A small builder for HEIST workflows, for code that defines them programmatically.

    flow = (Workflow(planner="planner")
            .add_task("fetch", "fetcher", retry_attempts=2)
            .add_fallback("fetch", "mirror")
            .add_task("parse", "parser", depends_on=["fetch"], input="{{ outputs.fetch }}"))
    flow.config()   # the strategy config of a "heist" swarm

``apps.swarms.workflows.execute_workflow`` turns it into a swarm and starts a run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .strategies.heist import parse_nodes


class Workflow:
    def __init__(self, *, planner: str | None = None, max_replans: int | None = None) -> None:
        self.planner = planner
        self.max_replans = max_replans
        self._nodes: list[dict[str, Any]] = []

    def add_task(
        self,
        name: str,
        agent: str,
        *,
        input: str = "{{ task }}",
        depends_on: Iterable[str] = (),
        retry_attempts: int = 0,
        backoff_s: float = 0.5,
        timeout_s: float | None = None,
    ) -> Workflow:
        node: dict[str, Any] = {"name": name, "agent": agent, "input": input, "depends_on": list(depends_on)}
        if retry_attempts or backoff_s != 0.5:
            node["retry"] = {"attempts": retry_attempts, "backoff_s": backoff_s}
        if timeout_s is not None:
            node["timeout_s"] = timeout_s
        self._nodes.append(node)
        return self

    def add_fallback(self, task: str, agent: str) -> Workflow:
        """Try ``agent`` when ``task``'s agent (and any earlier fallback) has failed."""
        for node in self._nodes:
            if node["name"] == task:
                node.setdefault("fallbacks", []).append(agent)
                return self
        raise KeyError(f"No task named {task!r}; add it first.")

    def agents(self) -> list[str]:
        names = [n["agent"] for n in self._nodes] + [f for n in self._nodes for f in n.get("fallbacks", [])]
        return list(dict.fromkeys([*names, *([self.planner] if self.planner else [])]))

    def config(self, members: Sequence[str] | None = None) -> dict[str, Any]:
        """The strategy config, validated (raises ``StrategyConfigError`` listing every problem)."""
        parse_nodes(self._nodes, list(members) if members is not None else self.agents())
        config: dict[str, Any] = {"nodes": [dict(n) for n in self._nodes]}
        if self.planner:
            config["planner"] = self.planner
        if self.max_replans is not None:
            config["max_replans"] = self.max_replans
        return config
