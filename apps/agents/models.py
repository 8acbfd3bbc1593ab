from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from apps.engine import templating
from apps.engine.values import AgentSpec, ProviderKind

NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9_-]{0,79}$",
    "Start with a letter; use letters, digits, '-' and '_' only (at most 80).",
    code="invalid_name",
)


class Provider(models.TextChoices):
    SKILL = ProviderKind.SKILL.value, "Built-in skill"
    SCRIPTED = ProviderKind.SCRIPTED.value, "Scripted replies"
    OPENAI = ProviderKind.OPENAI.value, "OpenAI-compatible model"


class AgentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    TERMINATED = "terminated", "Terminated"


class Agent(models.Model):
    """An agent definition, placed in its owner's hierarchy.

    ``level`` 0 is the Supreme Oversight Board; an agent's ``parent`` is its
    creator, one level up. ``privileges`` is the sorted list of privilege
    names it holds (always a subset of its parent's). Change hierarchy and
    privileges only through ``apps.agents.governance``: it checks the rules
    and writes the audit log.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=80, validators=[NAME_VALIDATOR])
    description = models.TextField(blank=True)
    provider = models.CharField(max_length=20, choices=Provider.choices)
    instructions = models.TextField(blank=True, help_text="System instructions given to model-backed agents.")
    config = models.JSONField(default=dict, blank=True, help_text="Provider-specific settings (validated on save).")
    level = models.PositiveSmallIntegerField(default=1, help_text="0 = Supreme Oversight Board, 1 = executive, ...")
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    privileges = models.JSONField(default=list, blank=True)
    tools = models.JSONField(default=list, blank=True, help_text="Names of the tools this agent may be offered.")
    memory_top_k = models.PositiveSmallIntegerField(
        default=0,
        help_text="Put this many memories most relevant to each step's input into the agent's context (0: off).",
    )
    memory_scope = models.CharField(
        max_length=10,
        choices=[("swarm", "The run's swarm"), ("agent", "Its own"), ("both", "Both")],
        default="swarm",
        help_text="Which memory is recalled automatically.",
    )
    rooms = models.JSONField(default=list, blank=True, help_text="Rooms this agent belongs to.")
    talks_to = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="heard_by", help_text="Agents it may message directly."
    )
    status = models.CharField(max_length=20, choices=AgentStatus.choices, default=AgentStatus.ACTIVE)
    terminated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["level", "name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="agent_unique_name_per_owner")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == AgentStatus.ACTIVE

    def template_fields(self) -> dict:
        """What an agent's instructions template can use."""
        return {
            "name": self.name,
            "description": self.description,
            "level": self.level,
            "parent": self.parent.name if self.parent_id else None,
            "privileges": list(self.privileges),
            "tools": list(self.tools),
            "rooms": list(self.rooms),
            "talks_to": [a.name for a in self.talks_to.all()] if self.pk else [],
        }

    def to_spec(self) -> AgentSpec:
        """The agent as the executor sees it; instructions are rendered from its template."""
        instructions = self.instructions
        if "{{" in instructions or "{%" in instructions:
            instructions = templating.render(instructions, self.template_fields())
        return AgentSpec(
            name=self.name, provider=ProviderKind(self.provider), instructions=instructions, config=self.config
        )


class AuditAction(models.TextChoices):
    SPAWN = "spawn", "Spawn"
    TERMINATE = "terminate", "Terminate"
    GRANT = "grant", "Grant"
    REVOKE = "revoke", "Revoke"
    USE = "use", "Use"
    MESSAGE = "message", "Direct message"
    BROADCAST = "broadcast", "Broadcast"


class AuditEntry(models.Model):
    """One governance decision: who did (or tried) what to whom, and why. Append-only."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="audit_entries")
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    allowed = models.BooleanField()
    actor_agent = models.ForeignKey(Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=120, help_text="Who acted, as shown at the time.")
    target = models.ForeignKey(Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_entries")
    target_label = models.CharField(max_length=120, blank=True)
    privilege = models.CharField(max_length=120, blank=True)
    rule = models.CharField(max_length=40, blank=True, help_text="The rule that denied the attempt.")
    reason = models.TextField(blank=True)
    run = models.ForeignKey("runs.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_entries")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "DENIED"
        return f"{self.actor_label} {self.action} {self.target_label} {self.privilege} ({verdict})".strip()

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit entries are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit entries are immutable.")
