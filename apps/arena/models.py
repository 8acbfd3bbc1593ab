from __future__ import annotations

from django.conf import settings
from django.db import models


class Rating(models.Model):
    """An agent's standing in one domain of ORC trials, carried from run to run."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="arena_ratings")
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="ratings")
    domain = models.CharField(max_length=80)
    rating = models.FloatField(default=1000.0, help_text="Elo rating.")
    wins = models.PositiveIntegerField(default=0)
    losses = models.PositiveIntegerField(default=0)
    ties = models.PositiveIntegerField(default=0)
    trials = models.PositiveIntegerField(default=0)
    defence_streak = models.PositiveIntegerField(default=0)
    is_leader = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain", "-rating"]
        constraints = [models.UniqueConstraint(fields=["agent", "domain"], name="rating_unique_agent_domain")]
        indexes = [models.Index(fields=["owner", "domain", "-rating"])]

    def __str__(self) -> str:
        return f"{self.agent_id} in {self.domain}: {self.rating:.0f}"

    def as_record(self) -> dict:
        fields = ("rating", "wins", "losses", "ties", "trials", "defence_streak", "is_leader")
        return {name: getattr(self, name) for name in fields}


class Trial(models.Model):
    """One ORC trial: who contested whom on which task, the judge's verdict and the rating changes."""

    run = models.ForeignKey("runs.Run", on_delete=models.CASCADE, related_name="trials")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="arena_trials")
    number = models.PositiveIntegerField(help_text="Order within the run, from 1.")
    domain = models.CharField(max_length=80)
    task = models.TextField()
    leader = models.CharField(max_length=80)
    challengers = models.JSONField(default=list)
    winner = models.CharField(max_length=80)
    tie = models.BooleanField(default=False)
    verdict = models.JSONField(default=dict)
    ratings_before = models.JSONField(default=dict)
    ratings_after = models.JSONField(default=dict)
    leader_after = models.CharField(max_length=80)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="trial_unique_number_per_run")]

    def __str__(self) -> str:
        return f"Trial {self.number} of run {self.run_id} ({self.domain})"


class CurriculumProgress(models.Model):
    """An agent's place in a swarm's SAO curriculum, carried from run to run."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="curriculum_progress")
    swarm = models.ForeignKey("swarms.Swarm", on_delete=models.CASCADE, related_name="curriculum_progress")
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="curriculum_progress")
    level = models.PositiveSmallIntegerField(default=1, help_text="The level the agent attempts next, from 1.")
    total_reward = models.FloatField(default=0.0)
    attempts = models.PositiveIntegerField(default=0)
    passes = models.PositiveIntegerField(default=0)
    fails = models.PositiveIntegerField(default=0)
    reached_top = models.BooleanField(default=False)
    level_attempts = models.JSONField(default=dict, help_text="Attempts per level: which task of a level comes next.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-reached_top", "-level", "-total_reward"]
        constraints = [models.UniqueConstraint(fields=["swarm", "agent"], name="curriculum_unique_swarm_agent")]
        verbose_name_plural = "curriculum progress"

    def __str__(self) -> str:
        return f"{self.agent_id} in swarm {self.swarm_id}: level {self.level}"

    def as_record(self) -> dict:
        fields = ("level", "total_reward", "attempts", "passes", "fails", "reached_top", "level_attempts")
        return {name: getattr(self, name) for name in fields}


class CurriculumAttempt(models.Model):
    """One judged SAO attempt: the task, the answer, pass or fail, the reward and where it left the agent."""

    run = models.ForeignKey("runs.Run", on_delete=models.CASCADE, related_name="curriculum_attempts")
    swarm = models.ForeignKey("swarms.Swarm", on_delete=models.CASCADE, related_name="curriculum_attempts")
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="curriculum_attempts")
    number = models.PositiveIntegerField(help_text="Order within the run, from 1.")
    level = models.PositiveSmallIntegerField()
    task = models.TextField()
    expected = models.TextField(blank=True)
    answer = models.TextField(blank=True)
    passed = models.BooleanField()
    reason = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    reward = models.FloatField(default=0.0)
    total_after = models.FloatField(default=0.0)
    level_after = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="attempt_unique_number_per_run")]
        indexes = [models.Index(fields=["swarm", "agent", "-created_at"])]

    def __str__(self) -> str:
        return f"Attempt {self.number} of run {self.run_id} (level {self.level})"
