"""The built-in, offline routing benchmark: real skill agents of different costs.

=============  ====  ==========================================================
agent          cost  competent on
=============  ====  ==========================================================
calculator     1     arithmetic; the compute step of lookup_compute
converter      1     conversion; the convert step of lookup_convert
text_tools     1     text (list and string operations)
retriever      2     lookup; the first step of both multi-hop families
generalist     4     everything (tries every skill and skill pair)
=============  ====  ==========================================================

With the default lambda = 0.1 the oracle pays 1 to 3 per task (about 1.8 on
average), the generalist alone 4 (tempting: it always succeeds), and the
cheapest fixed chain of specialists 5 (retriever, calculator, converter,
text_tools: wasteful). A router only beats the generalist by reading the task.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..environment import AgentOption, Task
from ..features import TextEmbedder
from .environment import SkillEnvironment
from .skills import Retriever, calculate, convert, generalist, load_facts, text_tools
from .tasks import FAMILIES, generate, split_pools

DEFAULT_COSTS = {"calculator": 1.0, "converter": 1.0, "text_tools": 1.0, "retriever": 2.0, "generalist": 4.0}
DESCRIPTIONS = {
    "calculator": "Evaluates arithmetic, or applies an operation to the previous number.",
    "converter": "Converts quantities between units, including the previous output's quantity.",
    "text_tools": "Sorts, reverses, counts and joins lists and words.",
    "retriever": "Looks facts up in the knowledge base by embedding search.",
    "generalist": "Strong and costly: tries every skill.",
}
GENERALIST = "generalist"
SPECIALISTS = ("calculator", "converter", "text_tools", "retriever")

RECOMMENDED_CONFIG = {
    "batch_size": 256,
    "episodes_per_epoch": 4096,
    "max_steps": 4,
    "gamma": 1.0,
    "cost_weight": 0.1,
    "success_reward": 1.0,
    "learning_rate": 3e-3,
    "hidden_size": 128,
    "baseline": "value",
    "entropy_coef": 0.2,
    "entropy_coef_final": 0.005,
    "entropy_decay_episodes": 500_000,
    "normalize_advantages": False,
    "max_grad_norm": 1.0,
}
"""Hyperparameters proven on this benchmark (``bench/train_router.py``): a strong entropy bonus decaying
over 500k episodes keeps the policy from collapsing onto the safe, costly generalist early on."""


@dataclass
class Benchmark:
    environment: SkillEnvironment
    train: list[Task]
    test: list[Task]
    retriever: Retriever
    specialists: tuple[str, ...] = SPECIALISTS
    generalist: str = GENERALIST
    families: tuple[str, ...] = FAMILIES


def routing_benchmark(
    *,
    seed: int = 0,
    train_size: int = 1800,
    test_size: int = 600,
    embedder: TextEmbedder | None = None,
    costs: dict[str, float] | None = None,
) -> Benchmark:
    """The environment plus seeded train and held-out test tasks (disjoint entities, numbers, words)."""
    if embedder is None:
        from ...embeddings import shared_embedder

        embedder = shared_embedder()
    prices = {**DEFAULT_COSTS, **(costs or {})}
    retriever = Retriever(load_facts(), embedder)
    skills = {
        "calculator": calculate,
        "converter": convert,
        "text_tools": text_tools,
        "retriever": retriever,
        "generalist": generalist(retriever),
    }
    environment = SkillEnvironment(
        [(AgentOption(name, prices[name], DESCRIPTIONS[name]), skill) for name, skill in skills.items()]
    )
    train_pools, test_pools = split_pools(seed)
    train = generate(train_size, train_pools, seed=seed, split="train")
    test = generate(test_size, test_pools, seed=seed, split="test", exclude={t.text for t in train})
    # One batched pass fills the embedder's cache, so neither the retriever nor a trainer
    # encodes task texts one at a time later.
    embedder.embed([t.text for t in (*train, *test)])
    return Benchmark(environment=environment, train=train, test=test, retriever=retriever)
