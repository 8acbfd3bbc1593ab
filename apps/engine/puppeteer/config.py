"""Hyperparameters of the REINFORCE orchestrator, one documented field each."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class BaselineKind(StrEnum):
    """What is subtracted from the reward-to-go to form the advantage."""

    VALUE = "value"
    """A learned value head V(s_t), trained by regression on the returns."""
    MOVING_AVERAGE = "moving_average"
    """An exponential moving average of the return at each step index."""
    NONE = "none"
    """Plain REINFORCE (for comparison; noisier)."""


@dataclass
class TrainConfig:
    seed: int = 0
    """Seeds the policy's initial weights and the trainer's generator (task sampling, action sampling)."""
    batch_size: int = 256
    """Episodes rolled out together (one policy forward per step for the whole batch) per gradient update."""
    episodes_per_epoch: int = 4096
    """Episodes in one ``Trainer.train_epoch()`` call unless it is given a number."""
    max_steps: int = 4
    """Step limit: most agent calls in one episode; an episode reaching it ends and is judged."""
    gamma: float = 1.0
    """Discount of the reward-to-go. Episodes are a few steps long, so 1.0 (undiscounted) is the default."""
    cost_weight: float = 0.1
    """lambda in reward = success - lambda * total cost; paid per step as -lambda * c_t."""
    success_reward: float = 1.0
    """Reward added on the final step of an episode that solved its task."""
    learning_rate: float = 3e-3
    """Adam step size."""
    hidden_size: int = 128
    """Width of the policy's two hidden layers."""
    baseline: BaselineKind = BaselineKind.VALUE
    """Baseline subtracted from the returns (see ``BaselineKind``)."""
    baseline_momentum: float = 0.9
    """Decay of the moving-average baseline (only used with ``baseline="moving_average"``)."""
    value_coef: float = 0.5
    """Weight of the value head's squared error in the loss (only with ``baseline="value"``)."""
    entropy_coef: float = 0.01
    """Weight of the entropy bonus at the start of training; it keeps the policy exploring."""
    entropy_coef_final: float | None = None
    """Entropy weight reached after ``entropy_decay_episodes`` (linear decay); None keeps it constant."""
    entropy_decay_episodes: int = 0
    """Episodes over which the entropy weight decays to ``entropy_coef_final``."""
    normalize_advantages: bool = True
    """Standardise the advantages of each batch to zero mean and unit variance. On the routing
    benchmark it sped up collapse onto the safe, costly generalist; bench/train_router.py turns it off."""
    max_grad_norm: float = 1.0
    """Global gradient-norm clip."""
    device: str = "auto"
    """"auto" (CUDA when present, else CPU), "cpu" or "cuda"."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form labels kept with the checkpoint (dataset name, notes); never read by the trainer."""

    def __post_init__(self) -> None:
        try:
            self.baseline = BaselineKind(self.baseline)
        except ValueError:
            raise ValueError(f"baseline: must be one of {[b.value for b in BaselineKind]}") from None
        problems = []
        for name in ("batch_size", "episodes_per_epoch", "max_steps", "hidden_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name}: must be at least 1")
        if not 0.0 <= self.gamma <= 1.0:
            problems.append("gamma: must be between 0 and 1")
        if not 0.0 <= self.baseline_momentum < 1.0:
            problems.append("baseline_momentum: must be in [0, 1)")
        if self.entropy_coef_final is not None and self.entropy_coef_final < 0:
            problems.append("entropy_coef_final: must not be negative")
        if self.entropy_decay_episodes < 0:
            problems.append("entropy_decay_episodes: must not be negative")
        for name in ("cost_weight", "value_coef", "entropy_coef"):
            if getattr(self, name) < 0:
                problems.append(f"{name}: must not be negative")
        for name in ("learning_rate", "max_grad_norm"):
            if getattr(self, name) <= 0:
                problems.append(f"{name}: must be positive")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            problems.append('device: must be "auto", "cpu" or "cuda"')
        if problems:
            raise ValueError("; ".join(problems))

    def entropy_weight(self, episodes_seen: int) -> float:
        """The entropy bonus weight after ``episodes_seen`` training episodes."""
        if self.entropy_coef_final is None or self.entropy_decay_episodes == 0:
            return self.entropy_coef
        progress = min(episodes_seen / self.entropy_decay_episodes, 1.0)
        return self.entropy_coef + progress * (self.entropy_coef_final - self.entropy_coef)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["baseline"] = self.baseline.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build a config from plain data; raise ValueError naming every bad field."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        problems = [f"{key}: unknown field" for key in data if key not in fields]
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in fields:
                continue
            default = getattr(cls, key, None) if key != "extra" else {}
            expected = float if key == "entropy_coef_final" else type(default)
            if isinstance(default, BaselineKind):
                expected = str
            if key == "entropy_coef_final" and value is None:
                kwargs[key] = None
                continue
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
                problems.append(f"{key}: expected {expected.__name__}, got {type(value).__name__}")
                continue
            kwargs[key] = value
        if problems:
            raise ValueError("; ".join(problems))
        return cls(**kwargs)
