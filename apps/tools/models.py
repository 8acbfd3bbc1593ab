"""Tools made by agents: versioned, reviewable, approved before first use when configured."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class MadeToolStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class MadeTool(models.Model):
    """One version of a tool an agent (or a person) proposed: JSON-Schema parameters and Python source.

    Only proposals that passed validation (schema, source, a smoke call in the
    sandbox) are stored. Agents are offered the newest approved version of a
    name, and only when they hold ``tool.<name>``.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="made_tools")
    name = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    description = models.TextField()
    parameters = models.JSONField(help_text="JSON Schema of the arguments (an object).")
    source = models.TextField(help_text="Python defining a function named like the tool.")
    example = models.JSONField(default=dict, help_text="Arguments of the smoke call made before registering.")
    smoke_result = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=MadeToolStatus.choices, default=MadeToolStatus.PENDING)
    made_by = models.ForeignKey(
        "agents.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="made_tools"
    )
    made_in_run = models.ForeignKey("runs.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name", "version"], name="unique_made_tool_version"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.status})"

    @property
    def privilege(self) -> str:
        return f"tool.{self.name}"
