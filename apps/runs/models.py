from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.engine.values import Budget, EventKind, Spend, StepOutcome


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    WAITING_INPUT = "waiting_input", "Waiting for input"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    BUDGET_EXHAUSTED = "budget_exhausted", "Budget exhausted"

    @classmethod
    def active(cls) -> tuple[str, ...]:
        return (cls.QUEUED, cls.RUNNING, cls.WAITING_INPUT)


class Run(models.Model):
    """One execution of a swarm on a task.

    The swarm's strategy, config and roster are snapshotted at start, so
    editing the swarm never changes a run in flight. ``state`` is the
    strategy's state after the last fact; ``event_seq`` is the sequence
    number of the last event appended (changed only under the row lock).
    """

    swarm = models.ForeignKey("swarms.Swarm", on_delete=models.SET_NULL, null=True, related_name="runs")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runs")
    task = models.TextField()
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    strategy = models.CharField(max_length=40)
    strategy_config = models.JSONField(default=dict)
    roster = models.JSONField(
        default=list,
        help_text="Members in order as [name, agent id, child swarm id] (a list: JSONB sorts keys); fixed at start.",
    )
    parent_step = models.ForeignKey(
        "runs.Step",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="child_runs",
        help_text="The step of a parent run that this run carries out (swarms of swarms).",
    )
    depth = models.PositiveSmallIntegerField(default=0, help_text="0 for a top-level run; +1 per nesting.")
    state = models.JSONField(default=dict)
    agent_calls = models.JSONField(default=dict, help_text="Agent name -> steps started, for call_index.")
    result = models.TextField(blank=True)
    error = models.TextField(blank=True)
    max_steps = models.PositiveIntegerField(null=True, blank=True)
    max_cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    max_seconds = models.PositiveIntegerField(null=True, blank=True)
    steps_started = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    tokens = models.PositiveBigIntegerField(default=0)
    event_seq = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in RunStatus.active()

    def member_names(self) -> list[str]:
        return [entry[0] for entry in self.roster]

    def member(self, name: str) -> tuple[int | None, int | None] | None:
        """``(agent id, child swarm id)`` of the member called ``name``, or None."""
        for entry in self.roster:
            if entry[0] == name:
                return entry[1], entry[2] if len(entry) > 2 else None
        return None

    def agent_id(self, name: str) -> int | None:
        member = self.member(name)
        return member[0] if member else None

    def budget(self) -> Budget:
        return Budget(max_steps=self.max_steps, max_cost=self.max_cost, max_seconds=self.max_seconds)

    def spend(self, now) -> Spend:
        seconds = (now - self.started_at).total_seconds() if self.started_at else 0.0
        return Spend(steps=self.steps_started, cost=self.cost, seconds=seconds, tokens=self.tokens)


class StepStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Outcome(models.TextChoices):
    SUCCESS = StepOutcome.SUCCESS.value, "Success"
    ERROR = StepOutcome.ERROR.value, "Error"
    TIMEOUT = StepOutcome.TIMEOUT.value, "Timeout"
    CANCELLED = StepOutcome.CANCELLED.value, "Cancelled"


class Room(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="rooms")
    name = models.CharField(max_length=80)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="room_unique_name_per_run")]

    def __str__(self) -> str:
        return self.name


class Step(models.Model):
    """One agent step: a row of the run's trajectory.

    A step is claimed by setting ``status`` from queued to running together
    with a fresh ``claim_token``; only the holder of that token can record
    its result, so a result is recorded once even if the task runs twice.
    """

    # No index of its own: the unique (run, key) constraint's index serves lookups by run.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps", db_index=False)
    key = models.CharField(max_length=120)
    index = models.PositiveIntegerField(help_text="Order of creation within the run, from 1.")
    agent = models.ForeignKey("agents.Agent", on_delete=models.SET_NULL, null=True, related_name="steps")
    agent_name = models.CharField(max_length=80)
    child_swarm = models.ForeignKey(
        "swarms.Swarm",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # indexed where set only (see Meta)
        help_text="Set when the member is a swarm: the step runs it as a child run.",
    )
    room = models.ForeignKey(Room, on_delete=models.SET_NULL, null=True, blank=True, related_name="steps")
    call_index = models.PositiveIntegerField(default=0)
    input = models.TextField(blank=True)
    timeout_s = models.FloatField(
        null=True, blank=True, help_text="Bound on the agent's call, if the strategy set one."
    )
    status = models.CharField(max_length=20, choices=StepStatus.choices, default=StepStatus.QUEUED)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    done = models.BooleanField(default=False)
    data = models.JSONField(default=dict, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    claim_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True, help_text="Last time a worker was asked to run it.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="step_unique_key_per_run")]
        # Steps are written three times each (queued, claimed, finished), so every index costs
        # on the hot path. The sweeper's two lookups only ever concern steps in flight: partial
        # indexes hold those and nothing else, and finished steps leave them.
        indexes = [
            models.Index(
                fields=["lease_expires_at"], condition=Q(status=StepStatus.RUNNING), name="step_lease_while_running"
            ),
            models.Index(
                fields=["dispatched_at"], condition=Q(status=StepStatus.QUEUED), name="step_dispatch_while_queued"
            ),
            models.Index(fields=["child_swarm"], condition=Q(child_swarm__isnull=False), name="step_child_swarm"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.agent_name}, {self.status})"


class Message(models.Model):
    # No foreign-key constraints in the database, as for the event log: messages are written
    # only by the run services' transitions, holding the run's row lock, into rooms of that run
    # (created in the same transaction or before), and deleting a run, a room or a step still
    # deletes or unlinks its messages (Django's on_delete). A wide run's results post hundreds
    # of messages in one transaction, and checking each link at commit was most of the commit:
    # 200 messages, 10.4 -> 3.0 ms.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="messages", db_constraint=False)
    # Indexed by the (room, id) index below, which also serves lookups by room alone.
    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, related_name="messages", db_index=False, db_constraint=False
    )
    sender = models.CharField(max_length=80)
    is_human = models.BooleanField(default=False)
    content = models.TextField()
    step = models.ForeignKey(
        Step, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages", db_constraint=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["room", "id"])]

    def __str__(self) -> str:
        return f"{self.sender}: {self.content[:40]}"


class HumanRequestStatus(models.TextChoices):
    PENDING = "pending", "Waiting for an answer"
    ANSWERED = "answered", "Answered"
    CANCELLED = "cancelled", "Cancelled"


class HumanRequest(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="human_requests")
    key = models.CharField(max_length=120)
    prompt = models.TextField()
    fields = models.JSONField(default=list, help_text="The answer form: [{name, label, kind, required, choices}].")
    status = models.CharField(max_length=20, choices=HumanRequestStatus.choices, default=HumanRequestStatus.PENDING)
    answer = models.JSONField(null=True, blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="human_request_unique_key_per_run")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"


class LogJSONField(models.JSONField):
    """JSON kept as written: PostgreSQL's ``json`` rather than ``jsonb``, elsewhere as any JSONField.

    For the event log, appended by the hundred per transaction and read back whole by
    sequence number, never searched inside by the application: ``json`` only checks the
    text, where ``jsonb`` parses it into its binary form (a wide run's 400 events: 7.2 ->
    4.2 ms in the server). Key lookups (``data__agent``) still work; containment and
    equality lookups do not, as ``json`` has no equality operator.
    """

    def db_type(self, connection):
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

    def from_db_value(self, value, expression, connection):
        if value is not None and not isinstance(value, str):  # psycopg decodes json itself
            return value
        return super().from_db_value(value, expression, connection)


class RunEvent(models.Model):
    """An entry of a run's append-only event log. ``seq`` counts from 1 per run."""

    # Indexed by the unique (run, seq) constraint, which also serves lookups by run alone.
    # No foreign-key constraint in the database: the log is written only by ``EventLog``, for a
    # run whose row that transaction holds locked, so the run exists; and deleting a run still
    # deletes its events (Django's cascade). A wide run appends hundreds of events per
    # transaction, and the check per row was a third of the time to write and commit them
    # (400 events: about 9.5 ms with it, 5.5 without).
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events", db_index=False, db_constraint=False)
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=40, choices=[(k.value, k.value) for k in EventKind])
    data = LogJSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="event_unique_seq_per_run")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Run events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Run events are append-only.")

    def as_message(self) -> dict:
        return {"seq": self.seq, "kind": self.kind, "data": self.data, "at": self.created_at.isoformat()}
