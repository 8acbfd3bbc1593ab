from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

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


class Agent(models.Model):
    """An agent definition. Swarms use agents; runs snapshot who took part."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=80, validators=[NAME_VALIDATOR])
    description = models.TextField(blank=True)
    provider = models.CharField(max_length=20, choices=Provider.choices)
    instructions = models.TextField(blank=True, help_text="System instructions given to model-backed agents.")
    config = models.JSONField(default=dict, blank=True, help_text="Provider-specific settings (validated on save).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="agent_unique_name_per_owner")]

    def __str__(self) -> str:
        return self.name

    def to_spec(self) -> AgentSpec:
        return AgentSpec(
            name=self.name, provider=ProviderKind(self.provider), instructions=self.instructions, config=self.config
        )
