"""Training a learned orchestrator: datasets, training runs, per-epoch metrics, checkpoints."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class EnvironmentKind(models.TextChoices):
    BUILTIN = "builtin", "Built-in routing benchmark"
    SWARM = "swarm", "A swarm's agents on an uploaded dataset"


class TrainingStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"

    @classmethod
    def active(cls) -> tuple[str, ...]:
        return (cls.QUEUED, cls.RUNNING)


class TrainingDataset(models.Model):
    """Tasks uploaded as JSONL: one ``{"task", "expected", "checker", ...}`` object per line.

    ``tasks`` holds the parsed, validated lines; ``split`` says how many of
    them (the last ones, after a seeded shuffle) are held out for evaluation.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_datasets")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    tasks = models.JSONField(default=list)
    test_fraction = models.FloatField(default=0.2)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_dataset_name_per_owner")]

    def __str__(self) -> str:
        return self.name


class TrainingRun(models.Model):
    """Training of one orchestrator policy, one Celery task per epoch.

    ``epochs_done`` only moves forward, by a conditional update in the same
    transaction that stores the epoch's metrics and checkpoint, so an epoch
    that runs twice (a redelivered task) is recorded once.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_runs")
    name = models.CharField(max_length=100)
    environment = models.CharField(max_length=20, choices=EnvironmentKind.choices, default=EnvironmentKind.BUILTIN)
    swarm = models.ForeignKey(
        "swarms.Swarm", on_delete=models.SET_NULL, null=True, blank=True, related_name="training_runs"
    )
    dataset = models.ForeignKey(
        TrainingDataset, on_delete=models.SET_NULL, null=True, blank=True, related_name="training_runs"
    )
    agent_names = models.JSONField(default=list, help_text="The agents the policy chooses between, in action order.")
    config = models.JSONField(default=dict, help_text="TrainConfig as a dict (hyperparameters, seed).")
    benchmark = models.JSONField(default=dict, blank=True, help_text="Built-in benchmark options (seed, sizes).")
    call_costs = models.JSONField(
        default=dict, blank=True, help_text="Cost units per call for agents that report no token usage (default 1)."
    )
    epochs = models.PositiveIntegerField(default=20)
    episodes_per_epoch = models.PositiveIntegerField(default=256)
    status = models.CharField(
        max_length=20, choices=TrainingStatus.choices, default=TrainingStatus.QUEUED, db_index=True
    )
    epochs_done = models.PositiveIntegerField(default=0)
    episodes_done = models.PositiveBigIntegerField(default=0)
    training_seconds = models.FloatField(default=0.0)
    evaluation = models.JSONField(default=dict, blank=True, help_text="Held-out evaluation against baselines.")
    topology = models.JSONField(default=dict, blank=True, help_text="Agent graphs before and after training.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in TrainingStatus.active()

    @property
    def progress(self) -> float:
        return min(1.0, self.epochs_done / self.epochs) if self.epochs else 1.0


class EpochMetrics(models.Model):
    """What one epoch measured (reward, success rate, cost, entropy, agent usage...)."""

    training_run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="epoch_metrics")
    epoch = models.PositiveIntegerField()
    metrics = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["training_run", "epoch"]
        constraints = [models.UniqueConstraint(fields=["training_run", "epoch"], name="unique_epoch_per_training")]

    def __str__(self) -> str:
        return f"{self.training_run_id} epoch {self.epoch}"


class Checkpoint(models.Model):
    """The trainer's full state after an epoch (policy, optimiser, RNG): enough to resume or to serve."""

    training_run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="checkpoints")
    epoch = models.PositiveIntegerField()
    blob = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["training_run", "-epoch"]
        constraints = [models.UniqueConstraint(fields=["training_run", "epoch"], name="unique_checkpoint_per_epoch")]

    def __str__(self) -> str:
        return f"{self.training_run_id} checkpoint {self.epoch}"
