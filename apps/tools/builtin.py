"""The built-in tools: skills, memory, messaging, human input, governance and the tool maker.

Each handler gets validated arguments (the host checks them against the
schema first) and goes through the same services as the API, so governance
rules, privileges and the audit log apply to agents exactly as to people.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.agents.governance import Acting, check_broadcast, check_direct_message, spawn_agent, terminate_agent
from apps.agents.models import Agent
from apps.engine.calculator import CalculationError, evaluate_in_text, format_number
from apps.engine.governance import tool_privilege
from apps.engine.sandbox import run_python
from apps.engine.tools import ToolResult

from .registry import Tool, ToolContext, object_schema, register

TEXT = {"type": "string", "minLength": 1}
TAGS = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 40}, "maxItems": 10}
SCOPE = {
    "type": "string",
    "enum": ["swarm", "agent"],
    "description": "swarm: the memory shared by the run's swarm (default); agent: your own memory.",
}


def _acting(ctx: ToolContext) -> Acting:
    return Acting(user=ctx.run.owner, agent=ctx.agent)


# ---- skills ------------------------------------------------------------------------------


def _calculator(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    try:
        value = evaluate_in_text(args["expression"])
    except CalculationError as exc:
        return ToolResult(False, exc.message, error_code="calculation_error")
    return ToolResult(True, format_number(value), data={"value": value})


def _python(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    result = run_python(args["code"], timeout_s=float(args.get("timeout_s", 5)))
    if result.timed_out:
        return ToolResult(False, "The code ran too long and was stopped.", error_code="timeout")
    if result.killed_reason == "output_limit":
        return ToolResult(True, result.stdout + "\n[output truncated]")
    if result.exit_code != 0:
        tail = (result.stderr.strip().splitlines() or [f"exit code {result.exit_code}"])[-1]
        refused = f" (refused: {'; '.join(result.denied[:3])})" if result.denied else ""
        return ToolResult(False, f"The code failed: {tail}{refused}", error_code="python_error")
    return ToolResult(True, result.stdout)


register(
    Tool(
        "calculator",
        "Evaluate arithmetic exactly (+ - * / ** % parentheses, sqrt, etc.).",
        object_schema({"expression": TEXT}, ["expression"]),
        tool_privilege("calculator"),
        _calculator,
    )
)
register(
    Tool(
        "python",
        "Run Python in a sandbox (no network, scratch directory only, time and memory limits); returns stdout.",
        object_schema({"code": TEXT, "timeout_s": {"type": "number", "minimum": 0.1, "maximum": 30}}, ["code"]),
        tool_privilege("python"),
        _python,
    )
)


# ---- memory ------------------------------------------------------------------------------


def _scope(ctx: ToolContext, args: Mapping[str, Any]) -> dict[str, Any]:
    if args.get("scope", "swarm") == "agent" or ctx.run.swarm_id is None:
        return {"agent": ctx.agent}
    return {"swarm": ctx.run.swarm_id}


def _memory_write(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    from apps.memory.services import write_memory

    entry = write_memory(
        owner=ctx.run.owner,
        text=args["text"],
        author=ctx.agent,
        run=ctx.run,
        tags=list(args.get("tags", [])),
        **_scope(ctx, args),
    )
    return ToolResult(True, f"Remembered (entry {entry.pk}).", data={"entry_id": entry.pk})


def _memory_search(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    from apps.memory.services import search_memory

    filters: dict[str, Any] = {}
    if args.get("author"):
        author = Agent.objects.filter(owner=ctx.run.owner, name=args["author"]).first()
        if author is None:
            return ToolResult(False, f"No agent named {args['author']!r}.", error_code="unknown_agent")
        filters["author"] = author
    if args.get("tag"):
        filters["tag"] = args["tag"]
    if args.get("this_run_only"):
        filters["run"] = ctx.run
    hits = search_memory(
        owner=ctx.run.owner, query=args["query"], k=int(args.get("k", 5)), **_scope(ctx, args), **filters
    )
    if not hits:
        return ToolResult(True, "No matching memories.", data={"hits": []})
    lines = [f"{i}. ({hit.score:.2f}) {hit.entry.text}" for i, hit in enumerate(hits, start=1)]
    data = {"hits": [{"id": h.entry.pk, "score": round(h.score, 4), "text": h.entry.text} for h in hits]}
    return ToolResult(True, "\n".join(lines), data=data)


register(
    Tool(
        "memory_write",
        "Store a note in memory so you and other agents can find it later by meaning.",
        object_schema({"text": TEXT, "tags": TAGS, "scope": SCOPE}, ["text"]),
        "memory.write",
        _memory_write,
    )
)
register(
    Tool(
        "memory_search",
        "Find the memories most similar in meaning to a query (best first, with similarity scores).",
        object_schema(
            {
                "query": TEXT,
                "k": {"type": "integer", "minimum": 1, "maximum": 50},
                "scope": SCOPE,
                "author": {"type": "string", "description": "Only memories written by this agent."},
                "tag": {"type": "string"},
                "this_run_only": {"type": "boolean"},
            },
            ["query"],
        ),
        tool_privilege("memory_search"),
        _memory_search,
    )
)


# ---- messaging and people ----------------------------------------------------------------


def _send_message(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    from apps.runs.services import post_message

    recipient = Agent.objects.filter(owner=ctx.run.owner, name=args["to"]).first()
    if recipient is None:
        return ToolResult(False, f"No agent named {args['to']!r}.", error_code="unknown_agent")
    check_direct_message(ctx.agent, recipient, run=ctx.run)
    room = "dm:" + "+".join(sorted([ctx.agent.name, recipient.name]))
    post_message(ctx.run.pk, room=room, sender=ctx.agent.name, content=args["content"])
    return ToolResult(True, f"Sent to {recipient.name}.")


def _broadcast(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    from apps.runs.services import post_message

    check_broadcast(ctx.agent, args["room"], run=ctx.run)
    post_message(ctx.run.pk, room=args["room"], sender=ctx.agent.name, content=args["content"])
    return ToolResult(True, f"Posted to #{args['room']}.")


def _ask_human(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    from apps.runs.services import ask_human_from_tool

    request = ask_human_from_tool(ctx.run.pk, agent=ctx.agent.name, prompt=args["question"], room=args.get("room"))
    return ToolResult(
        True,
        f"Asked a person (request {request.pk}). Their answer will be posted to #{request.answer_room} "
        "as a message; carry on meanwhile.",
        data={"human_request_id": request.pk},
    )


register(
    Tool(
        "send_message",
        "Send a direct message to an agent on your talks-to list.",
        object_schema({"to": TEXT, "content": TEXT}, ["to", "content"]),
        "message",
        _send_message,
    )
)
register(
    Tool(
        "broadcast",
        "Post to a room you belong to.",
        object_schema({"room": TEXT, "content": TEXT}, ["room", "content"]),
        "broadcast",
        _broadcast,
    )
)
register(
    Tool(
        "ask_human",
        "Ask a person a question. The answer arrives later as a message in the room (default: the run's main room).",
        object_schema({"question": TEXT, "room": {"type": "string"}}, ["question"]),
        "human.ask",
        _ask_human,
    )
)


# ---- governance ----------------------------------------------------------------------------


def _spawn(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    from apps.runs.services import change_run_members

    child = spawn_agent(
        _acting(ctx),
        owner=ctx.run.owner,
        parent=ctx.agent,
        name=args["name"],
        provider=args["provider"],
        config=dict(args.get("config") or {}),
        privileges=args.get("privileges"),
        instructions=args.get("instructions", ""),
        description=args.get("description", ""),
        run=ctx.run,
    )
    change_run_members(ctx.run.pk, joined=[child], by=ctx.agent.name)
    return ToolResult(True, f"Spawned {child.name} (level {child.level}).", data={"agent_id": child.pk})


def _terminate(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    from apps.runs.services import change_run_members

    target = Agent.objects.filter(owner=ctx.run.owner, name=args["name"]).first()
    if target is None:
        return ToolResult(False, f"No agent named {args['name']!r}.", error_code="unknown_agent")
    ids = terminate_agent(_acting(ctx), target, reason=args.get("reason", ""), run=ctx.run)
    gone = list(Agent.objects.filter(pk__in=ids))
    change_run_members(ctx.run.pk, left=gone, by=ctx.agent.name)
    return ToolResult(True, f"Terminated {', '.join(a.name for a in gone) or 'nobody (already terminated)'}.")


register(
    Tool(
        "spawn_agent",
        "Create a sub-agent one level below you; it joins this run. Its privileges must be a subset of yours.",
        object_schema(
            {
                "name": TEXT,
                "provider": {"type": "string", "enum": ["skill", "scripted", "openai"]},
                "config": {"type": "object"},
                "privileges": {"type": "array", "items": {"type": "string"}},
                "instructions": {"type": "string"},
                "description": {"type": "string"},
            },
            ["name", "provider", "config"],
        ),
        "spawn",
        _spawn,
    )
)
register(
    Tool(
        "terminate_agent",
        "Terminate one of your descendants and its sub-agents.",
        object_schema({"name": TEXT, "reason": {"type": "string"}}, ["name"]),
        "terminate",
        _terminate,
    )
)


# ---- the tool maker --------------------------------------------------------------------------


def _make_tool(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    from .services import ToolRejected, propose_tool

    try:
        tool = propose_tool(
            owner=ctx.run.owner,
            name=args["name"],
            description=args["description"],
            parameters=args["parameters"],
            source=args["source"],
            example=args.get("example", {}),
            made_by=ctx.agent,
            run=ctx.run,
        )
    except ToolRejected as exc:
        reasons = "; ".join(exc.reasons)
        return ToolResult(
            False, f"Tool not registered: {reasons}", data={"reasons": exc.reasons}, error_code="rejected"
        )
    if tool.status == "approved":
        note = f"Registered {tool.name} v{tool.version}; agents holding tool.{tool.name} can call it now."
    else:
        note = f"Registered {tool.name} v{tool.version}; it waits for a person's approval before its first use."
    return ToolResult(True, note, data={"tool_id": tool.pk, "version": tool.version, "status": tool.status})


register(
    Tool(
        "make_tool",
        "Propose a new tool: a name, a description, JSON-Schema parameters (an object) and Python source defining "
        "a function with that name whose parameters match the schema and whose return value is JSON. It is checked "
        "and smoke-called with `example` arguments in a sandbox before it is registered.",
        object_schema(
            {
                "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{1,39}$"},
                "description": TEXT,
                "parameters": {"type": "object"},
                "source": TEXT,
                "example": {"type": "object"},
            },
            ["name", "description", "parameters", "source", "example"],
        ),
        tool_privilege("make_tool"),
        _make_tool,
    )
)
