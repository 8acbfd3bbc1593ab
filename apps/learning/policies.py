"""Trained policies for live runs: the ``puppeteer`` strategy's policy source.

``load_policy(training_run_id)`` reads the run's latest checkpoint and wraps
the orchestrator as the engine strategy expects. Policies are cached per
(training run, checkpoint epoch), so a run's many strategy rebuilds share one
model, and a newer checkpoint is picked up by the next run.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from apps.engine.strategies.puppeteer import LoadedPolicy

from .models import Checkpoint, EnvironmentKind, TrainingRun

CACHE_SIZE = 8
_cache: OrderedDict[tuple[int, int], LoadedPolicy] = OrderedDict()
_lock = threading.Lock()


def load_policy(training_run_id: int) -> LoadedPolicy:
    """Raise ``LookupError`` (with a message for the user) when there is no trained policy to load."""
    run = TrainingRun.objects.filter(pk=training_run_id).first()
    if run is None:
        raise LookupError(f"No training run {training_run_id}.")
    latest = Checkpoint.objects.filter(training_run=run).order_by("-epoch").only("pk", "epoch").first()
    if latest is None:
        raise LookupError(f"Training run {training_run_id} has no checkpoint yet: train at least one epoch.")
    key = (run.pk, latest.epoch)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    policy = _build(run, bytes(Checkpoint.objects.get(pk=latest.pk).blob))
    with _lock:
        _cache[key] = policy
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return policy


def _build(run: TrainingRun, blob: bytes) -> LoadedPolicy:
    import torch

    from apps.engine.puppeteer import Orchestrator, Outcome

    from .environments import output_kind

    orchestrator = Orchestrator.from_checkpoint(blob)
    if run.environment == EnvironmentKind.BUILTIN:
        from apps.engine.puppeteer import routing_benchmark

        costs = {a.name: a.cost for a in routing_benchmark(**run.benchmark).environment.agents}
    else:
        costs = {name: float(run.call_costs.get(name, 1.0)) for name in orchestrator.agent_names}

    def choose(task: str, outputs: Sequence[Mapping[str, Any]], *, greedy: bool, seed: int) -> str | None:
        history = [
            Outcome(
                agent=o["agent"],
                output=o["output"],
                cost=float(o["cost"]),
                ok=bool(o["ok"]),
                kind=output_kind(o["output"], ok=bool(o["ok"])),
            )
            for o in outputs
        ]
        generator = None if greedy else torch.Generator().manual_seed(seed)
        return orchestrator.choose(task, history, greedy=greedy, generator=generator)

    return LoadedPolicy(agent_names=tuple(orchestrator.agent_names), call_costs=costs, choose=choose)
