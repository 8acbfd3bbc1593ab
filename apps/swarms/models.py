from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.text import slugify

from apps.engine.strategies.registry import DESCRIPTIONS, LABELS, StrategyName, strategy_catalogue


class _Strategies(models.TextChoices):
    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.value]


# The engine's strategies as choices for forms and queries (Strategy.SAO, Strategy("heist").label),
# built from its registry: a strategy added there appears here, with no list to keep in step.
Strategy = _Strategies("Strategy", [(name.name, (name.value, LABELS[name])) for name in StrategyName], module=__name__)


def strategy_choices() -> list[tuple[str, str]]:
    """The engine's strategies (name, label): the registry is the one list, so adding a
    strategy needs no migration."""
    return [(info.name, info.label) for info in strategy_catalogue()]


class Swarm(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="swarms")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    strategy = models.CharField(max_length=40, choices=strategy_choices)
    strategy_config = models.JSONField(default=dict, blank=True)
    # Where the designer drew it: {"members": {name: {"x", "y"}}, "nodes": {heist node: {"x", "y"}}}.
    layout = models.JSONField(default=dict, blank=True)
    # 1 when created, +1 on every saved change: a save that names an older version is refused.
    version = models.PositiveIntegerField(default=1)
    agents = models.ManyToManyField(
        "agents.Agent", through="SwarmMember", through_fields=("swarm", "agent"), related_name="swarms"
    )
    # Default budget for runs of this swarm; a run may tighten it.
    max_steps = models.PositiveIntegerField(null=True, blank=True)
    max_cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    max_seconds = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="swarm_unique_name_per_owner")]

    def __str__(self) -> str:
        return self.name

    def member_names(self) -> list[str]:
        return [m.name for m in self.members.select_related("agent", "child_swarm")]

    def member_objects(self) -> list:
        """The member agents and swarms, in order (what rules beyond the strategy's own need: levels, owners)."""
        return [m.agent or m.child_swarm for m in self.members.select_related("agent", "child_swarm")]

    @property
    def member_name(self) -> str:
        """How a parent swarm's strategy refers to this swarm when it is a member."""
        return slugify(self.name) or f"swarm-{self.pk}"


class SwarmMember(models.Model):
    """A member is an agent, or another swarm (a step on it runs that swarm as a child run)."""

    swarm = models.ForeignKey(Swarm, on_delete=models.CASCADE, related_name="members")
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.PROTECT, related_name="memberships", null=True, blank=True
    )
    child_swarm = models.ForeignKey(
        Swarm, on_delete=models.PROTECT, related_name="parent_memberships", null=True, blank=True
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["swarm", "agent"], name="member_unique_agent_per_swarm"),
            models.UniqueConstraint(fields=["swarm", "child_swarm"], name="member_unique_child_per_swarm"),
            models.CheckConstraint(
                condition=models.Q(agent__isnull=False, child_swarm__isnull=True)
                | models.Q(agent__isnull=True, child_swarm__isnull=False),
                name="member_is_an_agent_or_a_swarm",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} in {self.swarm}"

    @property
    def name(self) -> str:
        return self.agent.name if self.agent_id else self.child_swarm.member_name
