import json
from collections.abc import Sequence
from typing import Any

from django import forms

from apps.agents.models import Agent, AgentStatus
from apps.swarms.models import Strategy, Swarm


class StartRunForm(forms.Form):
    task = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "placeholder": "What should the swarm do?"}))
    max_steps = forms.IntegerField(
        required=False, min_value=1, label="Max steps", help_text="Blank: the swarm's default."
    )
    max_cost = forms.DecimalField(
        required=False, min_value=0.000001, max_digits=12, decimal_places=6, label="Max cost ($)"
    )
    max_seconds = forms.IntegerField(required=False, min_value=1, label="Max wall time (s)")

    BUDGET_FIELDS = ("max_steps", "max_cost", "max_seconds")

    @property
    def budget_has_errors(self) -> bool:
        """Whether the (normally folded) budget section must open to show its errors."""
        return any(self.errors.get(name) for name in self.BUDGET_FIELDS)

    def mark_errors(self) -> None:
        """Flag every field with an error for assistive technology, and focus the first one, so
        the person lands on it after the page comes back."""
        bad = [name for name in self.fields if self.errors.get(name)]
        for name in bad:
            self.fields[name].widget.attrs["aria-invalid"] = "true"
        if bad:
            self.fields[bad[0]].widget.attrs["autofocus"] = True


class ImportDefinitionForm(forms.Form):
    file = forms.FileField(label="Definition (swarm.yaml)", help_text="A single-file YAML swarm definition.")


class SwarmForm(forms.Form):
    """Compose a swarm in the browser (new or edited): members from the owner's agents and swarms, a strategy
    and its JSON config. Field names are the keywords of ``create_swarm`` and ``update_swarm``.

    ``offered`` lists the possible members in display order; the browser submits the ticked ones in that
    order, and ``clean_members`` returns them (agents and swarms, not keys) in the order submitted."""

    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    strategy = forms.ChoiceField(choices=Strategy.choices)
    members = forms.MultipleChoiceField(
        choices=(),
        widget=forms.CheckboxSelectMultiple,
        help_text="In this order (the arrows move a member); swarms become child runs.",
    )
    strategy_config = forms.CharField(
        required=False,
        initial="{}",
        label="Strategy config (JSON)",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
        help_text="Blank or {} for the strategy's defaults. See the README for each strategy's keys.",
    )

    def __init__(self, *args, offered: Sequence[Agent | Swarm] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.offered = {member_key(m): m for m in offered}
        self.fields["members"].choices = [(key, _member_label(m)) for key, m in self.offered.items()]

    @staticmethod
    def initial_for(swarm: Swarm, members: Sequence[Agent | Swarm]) -> dict[str, Any]:
        """The form's values for an existing swarm whose members, in order, are ``members``."""
        return {
            "name": swarm.name,
            "description": swarm.description,
            "strategy": swarm.strategy,
            "members": [member_key(m) for m in members],
            "strategy_config": json.dumps(swarm.strategy_config, indent=2),
        }

    def clean_members(self) -> list[Agent | Swarm]:
        return [self.offered[key] for key in self.cleaned_data["members"]]

    def clean_strategy_config(self) -> dict:
        text = (self.cleaned_data.get("strategy_config") or "").strip() or "{}"
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
        if not isinstance(config, dict):
            raise forms.ValidationError("Must be a JSON object.")
        return config


def member_key(member: Agent | Swarm) -> str:
    """A member's value in the form: ``agent:<id>`` or ``swarm:<id>``."""
    return f"agent:{member.pk}" if isinstance(member, Agent) else f"swarm:{member.pk}"


def _member_label(member: Agent | Swarm) -> str:
    if isinstance(member, Swarm):
        return f"{member.name} (swarm)"
    terminated = ", terminated" if member.status == AgentStatus.TERMINATED else ""
    return f"{member.name} (level {member.level}, {member.provider}{terminated})"
