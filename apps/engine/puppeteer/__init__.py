"""A learned orchestrator (Puppeteer: Dang et al. 2025, "Multi-Agent Collaboration via Evolving Orchestration").

A central policy picks which agent acts next, or terminates, from the task's
sentence embedding and the history so far. It is trained with REINFORCE on
reward = success - lambda * cost, so it learns to solve tasks with fewer and
cheaper agent calls.

Modules, one concern each:

- ``environment``: agents, tasks, outcomes, the ``Environment`` protocol, answer checks
- ``features``: the state encoder (task embedding + documented history features)
- ``policy``: the MLP returning a ``Categorical`` over agents + terminate
- ``returns``: pure reward shaping, reward-to-go and advantage normalisation
- ``config``: ``TrainConfig`` hyperparameters
- ``trainer``: batched rollouts, the REINFORCE update, checkpoints
- ``orchestrator``: a trained policy in use
- ``evaluation`` / ``baselines`` / ``topology``: measuring what was learned
- ``benchmark``: the built-in offline routing benchmark (skills, knowledge base, tasks)

Nothing here loads a model or touches the disk at import.
"""

from . import baselines
from .benchmark import Benchmark, routing_benchmark
from .checkpoint import CheckpointError
from .config import BaselineKind, TrainConfig
from .environment import (
    TERMINATE,
    AgentOption,
    Checker,
    Chooser,
    Environment,
    Outcome,
    OutcomeKind,
    Task,
    check_answer,
    last_usable_output,
)
from .evaluation import EpisodeResult, EvaluationReport, PolicyResult, evaluate, run_episode
from .features import StateEncoder
from .orchestrator import Orchestrator
from .policy import Policy
from .returns import discounted_returns, normalize, step_rewards
from .topology import Topology, fold_topology
from .trainer import EpochMetrics, Trainer, train

__all__ = [
    "TERMINATE",
    "AgentOption",
    "BaselineKind",
    "Benchmark",
    "Checker",
    "CheckpointError",
    "Chooser",
    "Environment",
    "EpisodeResult",
    "EpochMetrics",
    "EvaluationReport",
    "Orchestrator",
    "Outcome",
    "OutcomeKind",
    "Policy",
    "PolicyResult",
    "StateEncoder",
    "Task",
    "Topology",
    "TrainConfig",
    "Trainer",
    "baselines",
    "check_answer",
    "discounted_returns",
    "evaluate",
    "fold_topology",
    "last_usable_output",
    "normalize",
    "routing_benchmark",
    "run_episode",
    "step_rewards",
    "train",
]
