"""Training services: datasets, start/stop/resume, one epoch at a time, evaluation.

Each epoch is one Celery task on the training queue (``learning.run_epoch``):
it resumes the trainer from the latest checkpoint, trains, then stores the
epoch's metrics and the new checkpoint in one transaction guarded by a
conditional update of ``epochs_done``, so a redelivered epoch is recorded
once. Stopping takes effect after the epoch in progress; resuming continues
from the last checkpoint exactly (optimiser and RNG state included).

The learning code (``apps.engine.puppeteer``) imports torch, so it is imported
inside the functions that train: the web server and the step workers never
load it unless a run uses a trained policy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from apps.core.errors import Conflict, FieldsError
from apps.swarms.models import Swarm

from . import datasets
from .broadcast import publish_training_on_commit
from .models import (
    Checkpoint,
    EnvironmentKind,
    EpochMetrics,
    TrainingDataset,
    TrainingRun,
    TrainingStatus,
)

logger = logging.getLogger(__name__)

KEEP_CHECKPOINTS = 3
# Defaults sized for each environment: the built-in benchmark's skills are instant (about 10k episodes/s);
# a swarm's agents may be model calls that cost money and seconds each.
DEFAULT_EPOCHS_BUILTIN, DEFAULT_EPISODES_BUILTIN = 40, 4096
DEFAULT_EPOCHS_SWARM, DEFAULT_EPISODES_SWARM = 10, 64
MAX_EPOCHS = 10_000
MAX_EPISODES_PER_EPOCH = 100_000
BENCHMARK_KEYS = {"seed": int, "train_size": int, "test_size": int}


# ---- datasets ----------------------------------------------------------------


def create_dataset(*, owner, name: str, jsonl: str, description: str = "", test_fraction: float = 0.2):
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Give the dataset a name."]
    elif TrainingDataset.objects.filter(owner=owner, name=name).exists():
        errors["name"] = [f"You already have a dataset named {name!r}."]
    if not 0 < test_fraction < 1:
        errors["test_fraction"] = ["Must be between 0 and 1 (exclusive)."]
    try:
        tasks = datasets.parse_jsonl(jsonl or "")
    except FieldsError as exc:
        errors.update(exc.fields)
        tasks = []
    if len(tasks) == 1:
        errors.setdefault("tasks", []).append("A dataset needs at least two tasks (one to train on, one to test).")
    if errors:
        raise FieldsError("The dataset was not saved.", fields=errors)
    return TrainingDataset.objects.create(
        owner=owner, name=name, description=description, tasks=tasks, test_fraction=test_fraction
    )


# ---- starting, stopping, resuming --------------------------------------------------


def start_training(
    *,
    owner,
    name: str,
    environment: str = EnvironmentKind.BUILTIN,
    swarm: Swarm | None = None,
    dataset: TrainingDataset | None = None,
    config: Mapping[str, Any] | None = None,
    benchmark: Mapping[str, Any] | None = None,
    call_costs: Mapping[str, Any] | None = None,
    epochs: int | None = None,
    episodes_per_epoch: int | None = None,
    queue: bool = True,
) -> TrainingRun:
    """Validate everything, create the training run and queue its first epoch.

    With ``queue=False`` nothing is queued: the caller runs the epochs itself
    (the ``train_router`` command does, in-process).
    """
    from apps.engine.puppeteer import TrainConfig
    from apps.engine.puppeteer.benchmark import RECOMMENDED_CONFIG

    errors: dict[str, list[str]] = {}
    name = (name or "").strip() or "orchestrator"
    builtin = environment == EnvironmentKind.BUILTIN
    epochs = epochs if epochs is not None else (DEFAULT_EPOCHS_BUILTIN if builtin else DEFAULT_EPOCHS_SWARM)
    if episodes_per_epoch is None:
        episodes_per_epoch = DEFAULT_EPISODES_BUILTIN if builtin else DEFAULT_EPISODES_SWARM
    # On the built-in benchmark, start from the settings proven there; what the caller gives wins.
    config = {**RECOMMENDED_CONFIG, **dict(config or {})} if builtin else dict(config or {})
    if environment not in EnvironmentKind.values:
        errors["environment"] = [f"Must be one of {', '.join(EnvironmentKind.values)}."]
    if not 1 <= int(epochs) <= MAX_EPOCHS:
        errors["epochs"] = [f"Must be between 1 and {MAX_EPOCHS}."]
    if not 1 <= int(episodes_per_epoch) <= MAX_EPISODES_PER_EPOCH:
        errors["episodes_per_epoch"] = [f"Must be between 1 and {MAX_EPISODES_PER_EPOCH}."]
    try:
        train_config = TrainConfig.from_dict(config)
    except ValueError as exc:
        errors["config"] = [str(exc)]
        train_config = None
    bench_options = _check_benchmark(benchmark or {}, errors)
    costs = _check_call_costs(call_costs or {}, errors)
    agent_names: list[str] = []
    if environment == EnvironmentKind.SWARM:
        agent_names = _check_swarm_setting(owner, swarm, dataset, costs, errors)
    if errors:
        raise FieldsError("The training run was not started.", fields=errors)
    with transaction.atomic():
        run = TrainingRun.objects.create(
            owner=owner,
            name=name,
            environment=environment,
            swarm=swarm if environment == EnvironmentKind.SWARM else None,
            dataset=dataset if environment == EnvironmentKind.SWARM else None,
            agent_names=agent_names,
            config=train_config.to_dict(),
            benchmark=bench_options,
            call_costs=costs,
            epochs=int(epochs),
            episodes_per_epoch=int(episodes_per_epoch),
        )
        if queue:
            _queue_epoch(run.pk, 1)
        publish_training_on_commit(run.pk, {"kind": "status", "status": run.status})
    return run


def _check_benchmark(options: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, int]:
    cleaned: dict[str, int] = {}
    for key, value in options.items():
        if key not in BENCHMARK_KEYS:
            errors.setdefault("benchmark", []).append(f"Unknown option {key!r}.")
        elif isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "seed" else 1):
            errors.setdefault("benchmark", []).append(f"{key} must be a whole number.")
        else:
            cleaned[key] = value
    return cleaned


def _check_call_costs(costs: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, float]:
    cleaned: dict[str, float] = {}
    for name, value in costs.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            errors.setdefault("call_costs", []).append(f"The cost of {name!r} must be a number >= 0.")
        else:
            cleaned[str(name)] = float(value)
    return cleaned


def _check_swarm_setting(owner, swarm, dataset, costs, errors) -> list[str]:
    if swarm is None or swarm.owner_id != owner.pk:
        errors["swarm"] = ["Choose one of your swarms."]
        return []
    if dataset is None or dataset.owner_id != owner.pk:
        errors["dataset"] = ["Choose one of your datasets."]
        return []
    names = [agent.name for agent in swarm_agents_of(swarm)]
    if not names:
        errors["swarm"] = ["The swarm has no agent members to route between."]
    unknown = sorted(set(costs) - set(names))
    if unknown:
        errors.setdefault("call_costs", []).append(f"Not members of the swarm: {', '.join(unknown)}.")
    own = set(owner.agents.values_list("name", flat=True))
    missing_judges = sorted(datasets.judges_named(dataset.tasks) - own)
    if missing_judges:
        errors["dataset"] = [f"The dataset names judges you have no agent for: {', '.join(missing_judges)}."]
    return names


def swarm_agents_of(swarm: Swarm) -> list:
    """The swarm's agent members in roster order (child swarms cannot be routed to)."""
    return [member for member in swarm.member_objects() if not isinstance(member, Swarm)]


def stop_training(run: TrainingRun) -> TrainingRun:
    """Stop after the epoch in progress (if any); the run can be resumed later."""
    with transaction.atomic():
        updated = TrainingRun.objects.filter(pk=run.pk, status__in=TrainingStatus.active()).update(
            status=TrainingStatus.STOPPED, finished_at=Now()
        )
        if not updated:
            raise Conflict(f"Training run {run.pk} is not running.")
        publish_training_on_commit(run.pk, {"kind": "status", "status": TrainingStatus.STOPPED})
    run.refresh_from_db()
    return run


def resume_training(run: TrainingRun, *, extra_epochs: int = 0) -> TrainingRun:
    """Continue a stopped or failed run from its last checkpoint, or extend a completed one."""
    if extra_epochs < 0 or extra_epochs > MAX_EPOCHS:
        raise FieldsError("Bad number of extra epochs.", fields={"extra_epochs": [f"Between 0 and {MAX_EPOCHS}."]})
    with transaction.atomic():
        locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if locked.is_active:
            raise Conflict(f"Training run {run.pk} is already running.")
        epochs = locked.epochs + extra_epochs
        if locked.epochs_done >= epochs:
            raise Conflict("All epochs are done: ask for extra epochs to train further.")
        locked.epochs = epochs
        locked.status = TrainingStatus.QUEUED
        locked.error = ""
        locked.finished_at = None
        locked.save(update_fields=["epochs", "status", "error", "finished_at"])
        _queue_epoch(locked.pk, locked.epochs_done + 1)
        publish_training_on_commit(locked.pk, {"kind": "status", "status": locked.status})
    return locked


def _queue_epoch(run_id: int, epoch: int) -> None:
    from .tasks import run_epoch

    transaction.on_commit(lambda: run_epoch.delay(run_id, epoch))


# ---- one epoch -----------------------------------------------------------------


def run_epoch(run_id: int, epoch: int, *, queue_next: bool = True) -> EpochMetrics | None:
    """Train epoch ``epoch`` of a run; returns its stored metrics, or None when there was nothing to do."""
    from apps.engine.puppeteer import Orchestrator

    from . import evaluation
    from .environments import build_setting

    claimed = TrainingRun.objects.filter(pk=run_id, status__in=TrainingStatus.active(), epochs_done=epoch - 1).update(
        status=TrainingStatus.RUNNING, started_at=Coalesce(F("started_at"), Now())
    )
    if not claimed:
        return None  # stopped, finished, already done, or a stale redelivery
    run = TrainingRun.objects.select_related("swarm", "dataset").get(pk=run_id)
    if epoch == 1:
        publish_training_on_commit(run.pk, {"kind": "status", "status": TrainingStatus.RUNNING})
    try:
        import torch

        torch.set_num_threads(int(settings.SWARMWEB["TRAINING_THREADS"]))
        setting = build_setting(run)
        trainer = _trainer(run, setting)
        if epoch == 1 and not run.topology.get("before"):
            untrained = Orchestrator.from_checkpoint(trainer.checkpoint())
            before = evaluation.topology_of(untrained, setting, config=run.config)
            TrainingRun.objects.filter(pk=run.pk).update(topology={"before": before})
        started = time.perf_counter()
        metrics = trainer.train_epoch(run.episodes_per_epoch)
        seconds = time.perf_counter() - started
        blob = trainer.checkpoint()
    except Exception as exc:
        logger.exception("Training run %s failed in epoch %s", run_id, epoch)
        _fail(run_id, f"{type(exc).__name__}: {exc}")
        return None
    data = metrics.to_dict() | {"epoch": epoch}
    with transaction.atomic():
        recorded = TrainingRun.objects.filter(pk=run_id, epochs_done=epoch - 1).update(
            epochs_done=epoch,
            episodes_done=F("episodes_done") + data.get("episodes", run.episodes_per_epoch),
            training_seconds=F("training_seconds") + seconds,
        )
        if not recorded:
            return None
        row = EpochMetrics.objects.create(training_run_id=run_id, epoch=epoch, metrics=data)
        Checkpoint.objects.create(training_run_id=run_id, epoch=epoch, blob=blob)
        stale = Checkpoint.objects.filter(training_run_id=run_id).order_by("-epoch")[KEEP_CHECKPOINTS:]
        Checkpoint.objects.filter(pk__in=[c.pk for c in stale]).delete()
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        publish_training_on_commit(
            run_id, {"kind": "epoch", "epoch": epoch, "epochs": run.epochs, "metrics": data, "status": run.status}
        )
        if run.status == TrainingStatus.RUNNING and epoch < run.epochs and queue_next:
            _queue_epoch(run_id, epoch + 1)
    if run.status == TrainingStatus.RUNNING and epoch >= run.epochs:
        finish_training(run_id)
    return row


def _trainer(run: TrainingRun, setting):
    from apps.engine.puppeteer import TrainConfig, Trainer

    latest = Checkpoint.objects.filter(training_run=run).order_by("-epoch").first()
    if latest is not None:
        return Trainer.resume(bytes(latest.blob), setting.environment, setting.train)
    return Trainer(setting.environment, setting.train, TrainConfig.from_dict(run.config))


def finish_training(run_id: int) -> None:
    """Evaluate the final policy on held-out tasks against baselines; mark the run completed."""
    from apps.engine.puppeteer import Orchestrator

    from . import evaluation
    from .environments import build_setting

    run = TrainingRun.objects.select_related("swarm", "dataset").get(pk=run_id)
    latest = Checkpoint.objects.filter(training_run=run).order_by("-epoch").first()
    try:
        setting = build_setting(run)
        policy = Orchestrator.from_checkpoint(bytes(latest.blob))
        report = evaluation.evaluate_against_baselines(policy, setting, config=run.config)
        after = evaluation.topology_of(policy, setting, config=run.config)
    except Exception as exc:
        logger.exception("Evaluating training run %s failed", run_id)
        _fail(run_id, f"Evaluation failed: {type(exc).__name__}: {exc}")
        return
    topology = dict(run.topology) | {"after": after}
    with transaction.atomic():
        TrainingRun.objects.filter(pk=run_id, status=TrainingStatus.RUNNING).update(
            status=TrainingStatus.COMPLETED, evaluation=report, topology=topology, finished_at=timezone.now()
        )
        publish_training_on_commit(
            run_id, {"kind": "completed", "status": TrainingStatus.COMPLETED, "evaluation": report}
        )


def _fail(run_id: int, error: str) -> None:
    with transaction.atomic():
        TrainingRun.objects.filter(pk=run_id).update(status=TrainingStatus.FAILED, error=error, finished_at=Now())
        publish_training_on_commit(run_id, {"kind": "status", "status": TrainingStatus.FAILED, "error": error})


def latest_checkpoint(run: TrainingRun) -> Checkpoint | None:
    return Checkpoint.objects.filter(training_run=run).order_by("-epoch").first()


__all__ = [
    "create_dataset",
    "finish_training",
    "latest_checkpoint",
    "resume_training",
    "run_epoch",
    "start_training",
    "stop_training",
]
