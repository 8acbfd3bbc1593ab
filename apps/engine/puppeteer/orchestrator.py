"""A trained policy in use: pick the next agent for a task and its history."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import checkpoint as checkpoints
from .config import TrainConfig
from .environment import Outcome, Task
from .features import StateEncoder, TextEmbedder
from .policy import Policy
from .trainer import _default_embedder, resolve_device


class Orchestrator:
    """Routes with a trained policy. Also a ``Chooser``: ``orchestrator(task, history)``.

    Past the step limit it was trained with, it always terminates (the policy never
    learned to act there).
    """

    def __init__(
        self, policy: Policy, encoder: StateEncoder, *, max_steps: int, device: torch.device | str = "cpu"
    ) -> None:
        self.policy = policy
        self.encoder = encoder
        self.max_steps = max_steps
        self.device = torch.device(device)

    @classmethod
    def from_checkpoint(cls, blob: bytes, *, embedder: TextEmbedder | None = None, device: str = "cpu") -> Orchestrator:
        state = checkpoints.load(blob)
        config = TrainConfig.from_dict(state["config"])
        agents = state["agents"]
        encoder = StateEncoder(
            [a["name"] for a in agents],
            [a["cost"] for a in agents],
            max_steps=config.max_steps,
            embedder=embedder or _default_embedder(),
        )
        policy = Policy(state["embedding_dim"], encoder.history_size, len(agents), config.hidden_size)
        policy.load_state_dict(state["policy"])
        target = resolve_device(device)
        return cls(policy.to(target), encoder, max_steps=config.max_steps, device=target)

    @property
    def agent_names(self) -> tuple[str, ...]:
        return self.encoder.agent_names

    @torch.no_grad()
    def probabilities(self, task_text: str, history: Sequence[Outcome]) -> torch.Tensor:
        """The policy's distribution over ``agent_names + (terminate,)`` (a CPU tensor)."""
        state = self.encoder.encode(self.encoder.embed_tasks([task_text]), [history])
        dist, _ = self.policy(torch.from_numpy(state).to(self.device))
        return dist.probs[0].cpu()

    def choose(
        self,
        task_text: str,
        history: Sequence[Outcome],
        *,
        greedy: bool = True,
        generator: torch.Generator | None = None,
    ) -> str | None:
        """The next agent's name, or None to terminate. Sampling uses ``generator`` when given."""
        if len(history) >= self.max_steps:
            return None
        probs = self.probabilities(task_text, history)
        action = int(torch.argmax(probs)) if greedy else int(torch.multinomial(probs, 1, generator=generator))
        return None if action == len(self.agent_names) else self.agent_names[action]

    def __call__(self, task: Task, history: Sequence[Outcome]) -> str | None:
        return self.choose(task.text, history)
