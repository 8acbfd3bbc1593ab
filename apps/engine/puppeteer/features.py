"""The state the policy sees: the task's sentence embedding plus features of the history.

For a swarm of K agents and a step limit of S, the state is the concatenation of

=====================  =======  ======================================================
feature                size     value
=====================  =======  ======================================================
task embedding         E        the task text's sentence embedding (unit vector;
                                E = 384 with the shared all-MiniLM-L6-v2 embedder),
                                computed once per task text and cached
calls per agent        K        number of calls to agent k so far / S
latest outcome         K        +1 if agent k's latest call was usable, -1 if it
per agent                       failed or came back empty, 0 if never called
last agent             K + 1    one-hot of the agent that acted last (slot K: none yet)
cost so far            1        total cost / (S * the costliest agent's cost)
step                   1        calls so far / S
last output kind       5        one-hot of number, text, empty, error, none yet
has an answer          1        1 if any call so far produced a usable output
=====================  =======  ======================================================

so ``state_dim = E + 3K + 9``. The same :func:`history_features` serves training
and :class:`~apps.engine.puppeteer.orchestrator.Orchestrator`, so a checkpoint
sees exactly the features it was trained on. Outcomes from agents the encoder
does not know (renamed since training) are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from .environment import Outcome, OutcomeKind

_KINDS = (OutcomeKind.NUMBER, OutcomeKind.TEXT, OutcomeKind.EMPTY, OutcomeKind.ERROR)


class TextEmbedder(Protocol):
    """What the encoder needs from an embedder (``apps.engine.embeddings.Embedder`` is one)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def history_feature_size(n_agents: int) -> int:
    return 3 * n_agents + 9


class StateEncoder:
    """Turns (task text, history) pairs into policy inputs for one fixed agent roster."""

    def __init__(
        self, agent_names: Sequence[str], agent_costs: Sequence[float], *, max_steps: int, embedder: TextEmbedder
    ) -> None:
        if len(agent_names) != len(agent_costs) or not agent_names:
            raise ValueError("agent_names and agent_costs must be non-empty and of the same length")
        self.agent_names = tuple(agent_names)
        self.index = {name: i for i, name in enumerate(self.agent_names)}
        self.max_steps = max_steps
        self.cost_scale = max_steps * max(max(agent_costs), 1e-9)
        self.embedder = embedder

    @property
    def history_size(self) -> int:
        return history_feature_size(len(self.agent_names))

    def embed_tasks(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.embedder.embed(list(texts)), dtype=np.float32)

    def history_features(self, history: Sequence[Outcome]) -> np.ndarray:
        k, s = len(self.agent_names), self.max_steps
        out = np.zeros(self.history_size, dtype=np.float32)
        calls, latest = out[:k], out[k : 2 * k]
        last_agent = out[2 * k : 3 * k + 1]
        cost = steps = 0.0
        last_kind = 4  # "none yet"
        has_answer = 0.0
        last_index = k
        for outcome in history:
            steps += 1
            cost += outcome.cost
            i = self.index.get(outcome.agent)
            if i is not None:
                calls[i] += 1.0 / s
                latest[i] = 1.0 if outcome.ok else -1.0
                last_index = i
            else:
                last_index = k
            last_kind = _KINDS.index(outcome.kind) if outcome.kind in _KINDS else 1
            has_answer = max(has_answer, 1.0 if outcome.ok else 0.0)
        last_agent[last_index] = 1.0
        tail = 3 * k + 1
        out[tail] = cost / self.cost_scale
        out[tail + 1] = steps / s
        out[tail + 2 + last_kind] = 1.0
        out[tail + 7] = has_answer
        return out

    def encode(self, task_vectors: np.ndarray, histories: Sequence[Sequence[Outcome]]) -> np.ndarray:
        """States for a batch: ``task_vectors`` is ``(n, E)``, one history per row."""
        history = np.stack([self.history_features(h) for h in histories]) if histories else None
        if history is None:
            return np.zeros((0, task_vectors.shape[1] + self.history_size), dtype=np.float32)
        return np.concatenate([task_vectors, history], axis=1)
