"""Held-out evaluation of a trained policy against baselines measured in the same run, and topology.

Baselines: a uniformly random policy, the cheapest fixed chain that solves
the most training tasks (of the benchmark's specialists; of all agents for
a swarm), the generalist alone (the benchmark's generalist, else the most
expensive agent: "the strong, costly model"), and the oracle (the cheapest correct sequence per task,
found by search; a reference, not a policy one could deploy). The chain and
oracle searches try many agent sequences, so over real agents (model calls
cost money) they run only when the search is small enough; the report says
when one was skipped and why.
"""

from __future__ import annotations

from typing import Any

from apps.engine.puppeteer import TrainConfig, evaluate, fold_topology
from apps.engine.puppeteer.baselines import FixedChain, Oracle, RandomChooser, cheapest_fixed_chain, single_agent

CHAIN_SEARCH_TASKS = 40
MAX_SEARCH_SEQUENCES = 1_000
TOPOLOGY_TASKS = 100


def _generalist(setting) -> str:
    return setting.generalist or max(setting.environment.agents, key=lambda a: a.cost).name


def evaluate_against_baselines(policy, setting, *, config: dict[str, Any]) -> dict[str, Any]:
    """The learned policy (greedy) and the baselines on the held-out tasks, as a JSON-able report."""
    train_config = TrainConfig.from_dict(config)
    env, max_steps = setting.environment, train_config.max_steps
    choosers: dict[str, Any] = {"learned": policy}
    skipped: dict[str, str] = {}
    choosers["random"] = RandomChooser(env, seed=train_config.seed)
    chain_agents = setting.chain_agents or tuple(a.name for a in env.agents)
    sequences = sum(len(chain_agents) ** k for k in range(1, max_steps + 1))
    if sequences <= MAX_SEARCH_SEQUENCES:
        chain = cheapest_fixed_chain(
            env, setting.train[:CHAIN_SEARCH_TASKS], max_steps=max_steps, agents=list(chain_agents)
        )
        choosers["fixed_chain"] = FixedChain(chain)
    else:
        skipped["fixed_chain"] = f"{sequences} agent sequences to search (limit {MAX_SEARCH_SEQUENCES})"
    choosers["generalist"] = single_agent(_generalist(setting))
    if sequences <= MAX_SEARCH_SEQUENCES:
        choosers["oracle"] = Oracle(env, max_steps=max_steps)
    else:
        skipped["oracle"] = skipped["fixed_chain"]
    report = evaluate(
        env,
        setting.test,
        choosers,
        max_steps=max_steps,
        cost_weight=train_config.cost_weight,
        success_reward=train_config.success_reward,
    )
    result: dict[str, Any] = {
        "policies": report.to_dict(),
        "order": list(choosers),  # JSONB does not keep key order; viewers list policies in this order
        "tasks": len(setting.test),
        "cost_weight": train_config.cost_weight,
        "skipped": skipped,
    }
    if "fixed_chain" in choosers:
        result["fixed_chain"] = list(choosers["fixed_chain"].names)
    result["generalist"] = _generalist(setting)
    return result


def topology_of(policy, setting, *, config: dict[str, Any]) -> dict[str, Any]:
    """The agent graph the policy's greedy trajectories use on (up to 100) held-out tasks."""
    train_config = TrainConfig.from_dict(config)
    report = evaluate(
        setting.environment,
        setting.test[:TOPOLOGY_TASKS],
        {"policy": policy},
        max_steps=train_config.max_steps,
        cost_weight=train_config.cost_weight,
    )
    return fold_topology(report.trajectories("policy")).to_dict()
