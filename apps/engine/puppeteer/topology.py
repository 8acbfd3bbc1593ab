"""Fold routing trajectories into the agent graph they used (Puppeteer's topology analysis).

Nodes are the agents that acted; a directed edge u -> v counts how often v acted
right after u. ``density`` is the share of possible directed edges between
distinct agents that occur, |E without self-loops| / (n (n - 1)); ``cycles``
counts the elementary cycles of the graph (a self-loop, an agent called twice in
a row, is a cycle of length one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

MAX_CYCLES = 100_000


@dataclass(frozen=True)
class Topology:
    nodes: tuple[str, ...]
    edges: dict[tuple[str, str], int]
    density: float
    cycles: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": list(self.nodes),
            "edges": [{"source": s, "target": t, "count": c} for (s, t), c in sorted(self.edges.items())],
            "density": self.density,
            "cycles": self.cycles,
        }


def count_cycles(nodes: Sequence[str], edges: set[tuple[str, str]], *, limit: int = MAX_CYCLES) -> int:
    """Elementary cycles of a small directed graph (each counted once; stops at ``limit``)."""
    order = {n: i for i, n in enumerate(nodes)}
    successors: dict[str, list[str]] = {n: [] for n in nodes}
    for s, t in edges:
        successors[s].append(t)
    found = 0
    for start in nodes:
        # Count each cycle from its lowest-ordered node only.
        stack = [(start, iter(successors[start]))]
        on_path = {start}
        while stack and found < limit:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(node)
            elif child == start:
                found += 1
            elif order[child] > order[start] and child not in on_path:
                on_path.add(child)
                stack.append((child, iter(successors[child])))
    return found


def fold_topology(trajectories: Sequence[Sequence[str]]) -> Topology:
    nodes: dict[str, None] = {}
    edges: Counter[tuple[str, str]] = Counter()
    for trajectory in trajectories:
        for name in trajectory:
            nodes.setdefault(name, None)
        edges.update(pairwise(trajectory))
    names = tuple(nodes)
    n = len(names)
    between = sum(1 for s, t in edges if s != t)
    density = between / (n * (n - 1)) if n > 1 else 0.0
    return Topology(nodes=names, edges=dict(edges), density=density, cycles=count_cycles(names, set(edges)))
