"""The JSON Schema of the heist strategy's config (what the designer's form is drawn from and
`build_strategy` checks before the strategy's own parser)."""

from __future__ import annotations

from typing import Any

from . import schema_parts as sp

MAX_NODES = 500

MAX_REPLANS = 3

NODE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"

RETRY_SHAPE = "An object with attempts and backoff_s."

NODE_SCHEMA: dict[str, Any] = {
    "title": "Node",
    "description": "One step of the workflow: an agent, its input and what it waits for.",
    "type": "object",
    "properties": {
        "name": sp.text("Name", "Unique in the workflow; later inputs use {{ outputs.<name> }}.")
        | {"pattern": NODE_NAME, "x-error": "A node needs a name (letters, digits, '-', '_', '.')."},
        "agent": sp.member("Agent", "The member that runs this node.", role="node"),
        "depends_on": {
            "title": "Depends on",
            "description": "Nodes that must be done before this one starts (none: it starts at once).",
            "type": "array",
            "items": {"type": "string", "format": "node", "title": "Node"},
            "x-error": "Must be a list of node names.",
        },
        "input": sp.template(
            "Input", "What the agent is given: task and outputs.<node> of its upstream nodes.", default="{{ task }}"
        ),
        "retry": {
            "title": "Retry",
            "description": "Retries per agent after the first try, with exponential backoff.",
            "type": ["object", "null"],
            "properties": {
                "attempts": sp.integer(
                    "Attempts",
                    "Retries per agent after the first try.",
                    default=0,
                    minimum=0,
                    maximum=10,
                    **{"x-error": "Must be a whole number from 0 to 10."},
                ),
                "backoff_s": sp.number(
                    "Backoff (seconds)",
                    "The wait before the first retry; it doubles each time.",
                    default=0.5,
                    minimum=0,
                    maximum=300,
                    **{"x-error": "Must be between 0 and 300 seconds."},
                ),
            },
            "additionalProperties": False,
            "x-messages": {"type": RETRY_SHAPE},
        },
        "timeout_s": {
            "title": "Timeout (seconds)",
            "description": "How long the agent's call may take (default: no limit).",
            "type": ["number", "null"],
            "exclusiveMinimum": 0,
            "x-error": "Must be a positive number of seconds.",
        },
        "fallbacks": sp.members(
            "Fallbacks",
            "Agents tried in order when the node's agent has used its retries.",
            min_items=None,
            error="Must be a list of agent names.",
        ),
    },
    "required": ["name", "agent"],
    "additionalProperties": False,
    "x-messages": {
        "type": "Each node is an object with name, agent, depends_on, ...",
        "additionalProperties": "Unknown keys: {keys}.",
    },
}

CONFIG_SCHEMA: dict[str, Any] = sp.config(
    {
        "nodes": {
            "title": "Nodes",
            "description": "The workflow graph; nodes whose dependencies are done run in parallel.",
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_NODES,
            "items": NODE_SCHEMA,
            "x-messages": {
                "type": "Must be a non-empty list of nodes.",
                "minItems": "Must be a non-empty list of nodes.",
                "maxItems": f"At most {MAX_NODES} nodes.",
            },
        },
        "planner": sp.member(
            "Planner",
            "Gets a failed node and the rest of the graph, and may answer a revised sub-graph (optional).",
            role="planner",
        )
        | {"type": ["string", "null"]},
        "max_replans": sp.integer(
            "Replans",
            "How often the planner may revise the graph in one run.",
            default=MAX_REPLANS,
            minimum=0,
            maximum=10,
            **{"x-error": "Must be a whole number from 0 to 10."},
        ),
        "room": sp.text("Room", "The chat room the run's messages are posted to.", default="main"),
    },
    required=("nodes",),
)
