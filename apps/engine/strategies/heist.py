"""HEIST: dependency-aware workflows with retries, fallbacks and replanning.

A workflow is a DAG of nodes. Each node names an agent, an input template
(``task`` and ``outputs.<node>`` of its upstream nodes), ``depends_on``,
fallback agents in order, a retry policy and a timeout. Every node whose
dependencies are done is dispatched at once, so independent work runs in
parallel on the workers.

When a node fails: retry it (with exponential backoff) up to
``retry.attempts`` times per agent; then try the next fallback agent; then,
if the workflow has a ``planner`` agent, ask it for a revised sub-graph (a
JSON ``{"nodes": [...]}`` replacing the failed node and everything not yet
started), validated like any workflow; otherwise, or if the planner gives up
or answers with something invalid, skip the failed node's dependents and
finish with partial results listing what failed and why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from .. import templating
from ..errors import EngineError, StrategyConfigError, StrategyError
from ..values import StepOutcome
from .base import Fact, Finish, MembersChanged, PostMessage, Progress, RunStep, StepFinished, Transition
from .heist_schema import CONFIG_SCHEMA, MAX_NODES, MAX_REPLANS, NODE_NAME, RETRY_SHAPE


class NodeStatus(StrEnum):
    WAITING = "waiting"
    READY = "ready"
    RUNNING = "running"
    RETRYING = "retrying"
    FALLBACK = "fallback"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


ACTIVE = {NodeStatus.RUNNING, NodeStatus.RETRYING, NodeStatus.FALLBACK}
SETTLED = {NodeStatus.DONE, NodeStatus.FAILED, NodeStatus.SKIPPED}


@dataclass(frozen=True)
class Node:
    name: str
    agent: str
    input: str = "{{ task }}"
    depends_on: tuple[str, ...] = ()
    fallbacks: tuple[str, ...] = ()
    attempts: int = 0  # retries per agent after the first try
    backoff_s: float = 0.5
    timeout_s: float | None = None

    def agents(self) -> tuple[str, ...]:
        return (self.agent, *self.fallbacks)

    def as_config(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "agent": self.agent, "input": self.input}
        if self.depends_on:
            data["depends_on"] = list(self.depends_on)
        if self.fallbacks:
            data["fallbacks"] = list(self.fallbacks)
        if self.attempts or self.backoff_s != 0.5:
            data["retry"] = {"attempts": self.attempts, "backoff_s": self.backoff_s}
        if self.timeout_s is not None:
            data["timeout_s"] = self.timeout_s
        return data


def parse_nodes(
    raw_nodes: Any, members: Sequence[str], *, done: Sequence[str] = (), where: str = "nodes"
) -> list[Node]:
    """Validate a list of node configs; raise ``StrategyConfigError`` with every problem.

    ``done`` names nodes that already exist (finished) and may be depended on.
    """
    errors: dict[str, list[str]] = {}

    def error(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise StrategyConfigError("A workflow needs nodes.", fields={where: ["Must be a non-empty list of nodes."]})
    if len(raw_nodes) > MAX_NODES:
        raise StrategyConfigError("Too many nodes.", fields={where: [f"At most {MAX_NODES} nodes."]})
    nodes: list[Node] = []
    seen: set[str] = set(done)
    for i, raw in enumerate(raw_nodes):
        key = f"{where}[{i}]"
        if not isinstance(raw, Mapping):
            error(key, "Each node is an object with name, agent, depends_on, ...")
            continue
        unknown = set(raw) - {"name", "agent", "input", "depends_on", "fallbacks", "retry", "timeout_s"}
        if unknown:
            error(key, f"Unknown keys: {', '.join(sorted(unknown))}.")
        name = raw.get("name")
        if not isinstance(name, str) or not re.match(NODE_NAME, name):
            error(f"{key}.name", "A node needs a name (letters, digits, '-', '_', '.').")
            continue
        if name in seen:
            error(f"{key}.name", f"Duplicate node name {name!r}.")
        seen.add(name)
        agent = raw.get("agent")
        if agent not in members:
            error(f"{key}.agent", f"Unknown agent {agent!r}: not a member of this swarm.")
        fallbacks = raw.get("fallbacks", [])
        if not isinstance(fallbacks, list) or not all(isinstance(f, str) for f in fallbacks):
            error(f"{key}.fallbacks", "Must be a list of agent names.")
            fallbacks = []
        for fallback in fallbacks:
            if fallback not in members:
                error(f"{key}.fallbacks", f"Unknown agent {fallback!r}: not a member of this swarm.")
        depends_on = raw.get("depends_on", [])
        if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
            error(f"{key}.depends_on", "Must be a list of node names.")
            depends_on = []
        template = raw.get("input", "{{ task }}")
        try:
            templating.check_template(str(template))
        except EngineError as exc:
            error(f"{key}.input", exc.message)
        retry = raw.get("retry", {}) or {}
        if not isinstance(retry, Mapping):
            error(f"{key}.retry", RETRY_SHAPE)
            retry = {}
        attempts, backoff = retry.get("attempts", 0), retry.get("backoff_s", 0.5)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 0 <= attempts <= 10:
            error(f"{key}.retry.attempts", "Must be a whole number from 0 to 10.")
            attempts = 0
        if isinstance(backoff, bool) or not isinstance(backoff, int | float) or not 0 <= backoff <= 300:
            error(f"{key}.retry.backoff_s", "Must be between 0 and 300 seconds.")
            backoff = 0.5
        timeout = raw.get("timeout_s")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
            error(f"{key}.timeout_s", "Must be a positive number of seconds.")
            timeout = None
        nodes.append(
            Node(
                name,
                str(agent),
                str(template),
                tuple(depends_on),
                tuple(fallbacks),
                attempts,
                float(backoff),
                float(timeout) if timeout is not None else None,
            )
        )
    names = {n.name for n in nodes} | set(done)
    for i, node in enumerate(nodes):
        for dependency in node.depends_on:
            if dependency not in names:
                error(f"{where}[{i}].depends_on", f"Unknown node {dependency!r}.")
            elif dependency == node.name:
                error(f"{where}[{i}].depends_on", "A node cannot depend on itself.")
    cycle = find_cycle(nodes)
    if cycle:
        error(where, f"Cycle: {' -> '.join(cycle)}.")
    if errors:
        raise StrategyConfigError("Invalid workflow.", fields=errors)
    return nodes


def find_cycle(nodes: Sequence[Node]) -> list[str]:
    """A dependency cycle as ``[a, b, c, a]``, or ``[]``."""
    graph = {n.name: [d for d in n.depends_on if d != n.name] for n in nodes}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = finished
    stack: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        stack.append(name)
        for dependency in graph.get(name, []):
            if dependency not in graph:
                continue
            if state.get(dependency) == 1:
                return [*stack[stack.index(dependency) :], dependency]
            if dependency not in state and (found := visit(dependency)):
                return found
        stack.pop()
        state[name] = 2
        return []

    for name in graph:
        if name not in state and (found := visit(name)):
            return found
    return []


@dataclass
class HeistState:
    task: str
    graph: list[dict[str, Any]]
    nodes: dict[str, dict[str, Any]]
    replans: int = 0
    planning_for: str | None = None
    replaced: list[dict[str, Any]] = field(default_factory=list)  # nodes a replan dropped, with their history

    @classmethod
    def load(cls, state: Mapping[str, Any]) -> HeistState:
        """A working copy of saved state: node states are copied (they are mutated), the rest shared."""
        return cls(
            task=state["task"],
            graph=list(state["graph"]),
            nodes={name: {**st, "errors": list(st["errors"])} for name, st in state["nodes"].items()},
            replans=state.get("replans", 0),
            planning_for=state.get("planning_for"),
            replaced=list(state.get("replaced", [])),
        )

    def dump(self) -> dict[str, Any]:
        # Shallow on purpose: dataclasses.asdict deep-copies every node and
        # made each step of a 200-node workflow cost ~35 ms under the run lock.
        return {
            "task": self.task,
            "graph": self.graph,
            "nodes": self.nodes,
            "replans": self.replans,
            "planning_for": self.planning_for,
            "replaced": self.replaced,
        }


class HeistStrategy:
    """Config keys: ``nodes`` (the DAG), ``planner`` (an agent; optional), ``max_replans``, ``room``."""

    name: ClassVar[str] = "heist"
    config_only: ClassVar[bool] = True  # built from its config and members alone (see registry)
    roles: ClassVar[tuple[dict[str, Any], ...]] = (
        {"role": "planner", "key": "planner", "many": False, "description": "Revises the graph when a node fails."},
        {"role": "node", "key": "nodes", "many": True, "description": "Each node's agent (and its fallbacks)."},
    )
    config_schema: ClassVar[dict[str, Any]] = CONFIG_SCHEMA

    def __init__(self, config: Mapping[str, Any] | None, members: Sequence[str]) -> None:
        config = dict(config or {})
        unknown = set(config) - {"nodes", "planner", "max_replans", "room"}
        problems: dict[str, list[str]] = {k: ["Unknown setting."] for k in sorted(unknown)}
        self.members = list(members)
        self.planner = config.get("planner")
        if self.planner is not None and self.planner not in members:
            problems["planner"] = [f"Unknown agent {self.planner!r}: not a member of this swarm."]
        self.max_replans = config.get("max_replans", MAX_REPLANS)
        if (
            isinstance(self.max_replans, bool)
            or not isinstance(self.max_replans, int)
            or not 0 <= self.max_replans <= 10
        ):
            problems["max_replans"] = ["Must be a whole number from 0 to 10."]
        self.room = str(config.get("room", "main"))
        try:
            self.nodes = parse_nodes(config.get("nodes"), members)
        except StrategyConfigError as exc:
            problems.update({f"{k}": v for k, v in exc.fields.items()})
        if problems:
            raise StrategyConfigError("Invalid HEIST workflow.", fields=problems)
        self._configured = {node.name: node for node in self.nodes}

    # ---- transitions -----------------------------------------------------------

    def start(self, task: str) -> Transition:
        s = HeistState(
            task=task,
            graph=[n.as_config() for n in self.nodes],
            nodes={n.name: _new_node_state() for n in self.nodes},
        )
        actions = [PostMessage(self.room, "task", task, is_human=True)]
        return self._advance(s, actions, before=None)

    def on_fact(self, state: Mapping[str, Any], fact: Fact) -> Transition:
        return self.on_facts(state, (fact,))

    def on_facts(self, state: Mapping[str, Any], facts: Sequence[Fact]) -> Transition:
        """Several facts at once (step completions that arrived together).

        Equivalent to feeding them one by one, but the state is copied once and
        the graph walked once for the whole batch: a wide workflow's hundreds of
        completions cost one pass, not one pass each.
        """
        s = HeistState.load(state)
        before: dict | None = _fingerprints(s)
        by_key = {st["key"]: name for name, st in s.nodes.items() if st["key"]}
        configs = {g["name"]: g for g in s.graph}
        actions: list = []
        settled_any = False
        for fact in facts:
            if isinstance(fact, MembersChanged):
                continue
            if not isinstance(fact, StepFinished):
                raise StrategyError(f"HEIST cannot handle {type(fact).__name__}.")
            settled_any = True
            if s.planning_for is not None and fact.key == f"replan-{s.replans}":
                if self._replanned(s, fact, actions):
                    before = None  # the graph changed shape: the progress is a full snapshot
                    by_key = {st["key"]: name for name, st in s.nodes.items() if st["key"]}
                    configs = {g["name"]: g for g in s.graph}
                continue
            name = by_key.get(fact.key)
            if (name is None or s.nodes[name]["key"] != fact.key) and s.replans:
                continue  # a step of a node that a replan dropped while it ran: its graph is gone
            if name is None or s.nodes[name]["key"] != fact.key:
                raise StrategyError(f"No node is waiting for {fact.key!r}.")
            self._settle(s, self._node(s, configs[name]), fact, actions)
            if s.nodes[name]["key"] != fact.key:  # dispatched again (retry, fallback) under a new key
                by_key[s.nodes[name]["key"]] = name
        if not settled_any:
            return Transition(s.dump())
        return self._advance(s, actions, before=before)

    def _settle(self, s: HeistState, node: Node, fact: StepFinished, actions: list) -> None:
        """Apply one finished step of ``node``: done, or retry, fallback, replan or failed."""
        st = s.nodes[node.name]
        if fact.result.ok:
            st.update(status=NodeStatus.DONE, output=fact.result.content)
            actions.append(PostMessage(self.room, fact.agent, f"[{node.name}] {fact.result.content}"))
            return
        reason = fact.result.error or fact.result.outcome.value
        st["errors"].append(f"{fact.agent} (attempt {st['attempt'] + 1}): {reason}")
        actions.append(PostMessage(self.room, "system", f"[{node.name}] {fact.agent} failed: {reason}"))
        cancelled = fact.result.outcome is StepOutcome.CANCELLED  # its agent was terminated: no point retrying
        if st["attempt"] < node.attempts and not cancelled:
            st["attempt"] += 1
            st["status"] = NodeStatus.RETRYING
            delay = node.backoff_s * (2 ** (st["attempt"] - 1))
            if action := self._step(s, node, delay_s=delay):
                actions.append(action)
            return
        if st["agent_index"] < len(node.fallbacks):
            st["agent_index"] += 1
            st["attempt"] = 0
            st["status"] = NodeStatus.FALLBACK
            if action := self._step(s, node):
                actions.append(action)
            return
        st["status"] = NodeStatus.FAILED
        if self.planner and s.replans < self.max_replans and s.planning_for is None:
            s.planning_for = node.name
            s.replans += 1
            brief = {
                "task": s.task,
                "failed_node": node.name,
                "errors": st["errors"],
                "done": {n: v["output"] for n, v in s.nodes.items() if v["status"] == NodeStatus.DONE},
                "remaining": [
                    g for g in s.graph if s.nodes[g["name"]]["status"] not in SETTLED or g["name"] == node.name
                ],
                "agents": self.members,
                "answer_with": '{"nodes": [...]} replacing the failed and remaining nodes, or {"nodes": []} to give up',
            }
            actions.append(RunStep(key=f"replan-{s.replans}", agent=self.planner, input=json.dumps(brief, indent=2)))

    # ---- helpers --------------------------------------------------------------------

    def _graph(self, s: HeistState) -> list[Node]:
        if not s.replans:  # never replanned: the graph is the configured one, parsed once
            return self.nodes
        return [Node(**_node_kwargs(g)) for g in s.graph]

    def _node(self, s: HeistState, config: Mapping[str, Any]) -> Node:
        return self._configured[config["name"]] if not s.replans else Node(**_node_kwargs(config))

    def _step(
        self, s: HeistState, node: Node, *, delay_s: float = 0.0, done: Mapping[str, str] | None = None
    ) -> RunStep | None:
        """The step that runs ``node`` now; ``done`` (outputs of the done nodes) saves recomputing it."""
        st = s.nodes[node.name]
        agent = node.agents()[st["agent_index"]]
        if done is None:
            done = {n: v["output"] for n, v in s.nodes.items() if v["status"] == NodeStatus.DONE}
        context = {"task": s.task, "outputs": templating.Namespace(done)}
        try:
            text = templating.render(node.input, context)
        except EngineError as exc:
            st["status"] = NodeStatus.FAILED
            st["errors"].append(f"input template: {exc.message}")
            return None
        st["key"] = f"{node.name}#{st['agent_index']}.{st['attempt']}"
        if st["status"] in (NodeStatus.WAITING, NodeStatus.READY):
            st["status"] = NodeStatus.RUNNING
        return RunStep(key=st["key"], agent=agent, input=text, room=None, delay_s=delay_s, timeout_s=node.timeout_s)

    def _advance(self, s: HeistState, actions: list, *, before: dict | None) -> Transition:
        """Skip what can no longer run, dispatch what became ready, finish when all is settled."""
        graph = self._graph(s)
        done: dict[str, str] | None = None  # outputs of the done nodes, once per pass (nodes only turn done on facts)
        changed = True
        while changed:
            changed = False
            for node in graph:
                st = s.nodes[node.name]
                if st["status"] != NodeStatus.WAITING:
                    continue
                if s.planning_for in node.depends_on:
                    continue  # its failed upstream is being replanned: wait for the planner's decision
                upstream = [s.nodes[d]["status"] for d in node.depends_on]
                if any(u in (NodeStatus.FAILED, NodeStatus.SKIPPED) for u in upstream):
                    st["status"] = NodeStatus.SKIPPED
                    st["errors"].append("skipped: an upstream node failed")
                    changed = True
                elif all(u == NodeStatus.DONE for u in upstream):
                    st["status"] = NodeStatus.READY
                    if done is None:
                        done = {n: v["output"] for n, v in s.nodes.items() if v["status"] == NodeStatus.DONE}
                    action = self._step(s, node, done=done)
                    if action is not None:
                        actions.append(action)
                    changed = True
        if s.planning_for is None and all(st["status"] in SETTLED for st in s.nodes.values()):
            return Transition(s.dump(), (*actions, self._progress(s, before), Finish(self._report(s, graph))))
        return Transition(s.dump(), (*actions, self._progress(s, before)))

    def _replanned(self, s: HeistState, fact: StepFinished, actions: list) -> bool:
        """Apply the planner's answer; True when it replaced the graph."""
        failed = s.planning_for or ""
        s.planning_for = None
        decision, new_nodes = "gave up", None
        if fact.result.ok:
            try:
                payload = json.loads(_json_block(fact.result.content))
                raw = payload.get("nodes") if isinstance(payload, Mapping) else None
                if raw:
                    done = [n for n, v in s.nodes.items() if v["status"] == NodeStatus.DONE]
                    new_nodes = parse_nodes(raw, self.members, done=done, where="replan.nodes")
                    decision = f"revised the graph: {', '.join(n.name for n in new_nodes)}"
            except (ValueError, AttributeError):
                decision = "answered with something that is not JSON; skipping"
            except StrategyConfigError as exc:
                decision = f"proposed an invalid graph ({exc}); skipping"
        else:
            decision = f"could not answer ({fact.result.error}); skipping"
        actions.append(PostMessage(self.room, "system", f"Replanning after {failed!r}: the planner {decision}."))
        if new_nodes:
            keep = [g for g in s.graph if s.nodes[g["name"]]["status"] == NodeStatus.DONE]
            dropped = [g["name"] for g in s.graph if s.nodes[g["name"]]["status"] != NodeStatus.DONE]
            s.graph = keep + [n.as_config() for n in new_nodes]
            old = s.nodes
            s.nodes = {g["name"]: old[g["name"]] for g in keep}
            for node in new_nodes:
                s.nodes[node.name] = _new_node_state()
            s.replaced += [  # the graph changed shape: the progress below is a full snapshot
                {"name": n, "status": old[n]["status"], "errors": old[n]["errors"]}
                for n in dropped
                if old[n]["status"] == NodeStatus.FAILED
            ]
            return True
        return False

    def _progress(self, s: HeistState, before: dict | None) -> Progress:
        """Progress for viewers: the whole graph when ``before`` is None (start, replan),
        else only the nodes that changed since ``before`` (keeps each event small)."""
        changed = [g for g in s.graph if before is None or before.get(g["name"]) != _fingerprint(s.nodes[g["name"]])]
        data = dag_snapshot(s.dump(), only=[g["name"] for g in changed])
        data["full"] = before is None
        if before is not None:
            del data["edges"]
        return Progress(data)

    @staticmethod
    def _report(s: HeistState, graph: list[Node]) -> str:
        needed = {d for n in graph for d in n.depends_on}
        sinks = [n.name for n in graph if n.name not in needed]
        failed = {n: v for n, v in s.nodes.items() if v["status"] in (NodeStatus.FAILED, NodeStatus.SKIPPED)}
        lines = [f"{n}: {s.nodes[n]['output']}" for n in sinks if s.nodes[n]["status"] == NodeStatus.DONE]
        if s.replaced:
            lines.append(
                "Replanned around: " + "; ".join(f"{r['name']} ({'; '.join(r['errors'][-1:])})" for r in s.replaced)
            )
        if not failed:
            return "\n".join(lines)
        lines = ["Partial results.", *lines, "Not done:"]
        lines += [f"- {n} ({v['status']}): {'; '.join(v['errors']) or 'no detail'}" for n, v in failed.items()]
        return "\n".join(lines)


def _new_node_state() -> dict[str, Any]:
    """A node's state before it runs: its status, which agent (0 = the node's own, then its
    fallbacks) and attempt, the key of its current step, its output and its errors."""
    return {"status": NodeStatus.WAITING, "agent_index": 0, "attempt": 0, "key": "", "output": "", "errors": []}


def _fingerprint(node_state: Mapping[str, Any]) -> tuple:
    return (node_state["status"], node_state["attempt"], node_state["agent_index"], len(node_state["errors"]))


def _fingerprints(s: HeistState) -> dict[str, tuple]:
    return {name: _fingerprint(st) for name, st in s.nodes.items()}


def dag_snapshot(state: Mapping[str, Any], *, only: Sequence[str] | None = None) -> dict[str, Any]:
    """The workflow graph with each node's state, from a HEIST run's saved state (for pages and events)."""
    wanted = None if only is None else set(only)
    nodes = []
    for g in state.get("graph", []):
        if wanted is not None and g["name"] not in wanted:
            continue
        st = state["nodes"][g["name"]]
        nodes.append(
            {
                "name": g["name"],
                "agent": (g["agent"], *g.get("fallbacks", ()))[st["agent_index"]],  # Node.agents()
                "status": st["status"],
                "attempt": st["attempt"],
                "agent_index": st["agent_index"],
                "errors": st["errors"][-3:],
                "output": st["output"][:500],
                "step": st["key"],
            }
        )
    edges = [[d, g["name"]] for g in state.get("graph", []) for d in g.get("depends_on", [])]
    return {"kind": "dag", "nodes": nodes, "edges": edges, "replans": state.get("replans", 0), "full": True}


def _node_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    retry = config.get("retry") or {}
    return {
        "name": config["name"],
        "agent": config["agent"],
        "input": config.get("input", "{{ task }}"),
        "depends_on": tuple(config.get("depends_on", ())),
        "fallbacks": tuple(config.get("fallbacks", ())),
        "attempts": retry.get("attempts", 0),
        "backoff_s": float(retry.get("backoff_s", 0.5)),
        "timeout_s": config.get("timeout_s"),
    }


def _json_block(text: str) -> str:
    match = re.search(r"```(?:json)?\s*\n(.*?)```", text, re.DOTALL)
    return match.group(1) if match else text
