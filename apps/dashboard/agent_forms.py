"""Forms of the agent pages. Field names are the keywords of the agent and governance services.

The forms only parse what the browser sent (JSON, lists, agents of this owner); whether a
definition is valid or a privilege may be held is the services' and the rules' call, and their
refusals are put beside these fields by the views.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.conf import settings

from apps.agents.catalogue import known_tools
from apps.agents.models import Agent, AgentStatus
from apps.agents.services import MAX_MEMORY_TOP_K
from apps.engine.providers import provider_catalogue

MEMORY_SCOPES = Agent._meta.get_field("memory_scope").choices


class JSONObjectField(forms.CharField):
    """A JSON object typed into a textarea (the provider settings without JavaScript)."""

    def to_python(self, value: Any) -> dict:
        text = (super().to_python(value) or "").strip() or "{}"
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
        if not isinstance(parsed, dict):
            raise forms.ValidationError("Must be a JSON object.")
        return parsed

    def prepare_value(self, value: Any) -> str:
        return json.dumps(value, indent=2) if isinstance(value, dict) else value


class NamesField(forms.CharField):
    """Names separated by commas or spaces (rooms)."""

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value) or ""
        names = [n for n in re.split(r"[\s,]+", text) if n]
        return list(dict.fromkeys(names))

    def prepare_value(self, value: Any) -> str:
        return ", ".join(value) if isinstance(value, list | tuple) else value


class AgentForm(forms.Form):
    """An agent's definition: what ``update_agent`` changes (and ``create_agent`` sets)."""

    name = forms.CharField(max_length=80, help_text="Letters, digits, '-' and '_'; starts with a letter.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    provider = forms.ChoiceField(help_text="What produces its replies.")
    config = JSONObjectField(
        required=False,
        label="Provider settings (JSON)",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
    )
    instructions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="System instructions for model-backed agents; a template (see the variables below).",
    )
    tools = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The tools it may be offered (none ticked: every tool its privileges allow).",
    )
    memory_top_k = forms.IntegerField(
        min_value=0,
        max_value=MAX_MEMORY_TOP_K,
        initial=0,
        label="Memories recalled per step",
        help_text="0: off.",
    )
    memory_scope = forms.ChoiceField(choices=MEMORY_SCOPES, initial="swarm", label="Memory recalled from")
    talks_to = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Talks to", help_text="Agents it may message."
    )
    rooms = NamesField(required=False, help_text="Rooms it belongs to, separated by commas.")

    def __init__(self, *args: Any, owner, instance: Agent | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner, self.instance = owner, instance
        self.config_errors: dict[str, list[str]] = {}  # by path inside the settings, for SchemaForm
        self.fields["provider"].choices = [(p.name, p.label) for p in provider_catalogue()]
        self.fields["tools"].choices = [(name, name) for name in known_tools(owner)]
        peers = Agent.objects.filter(owner=owner, status=AgentStatus.ACTIVE).order_by("level", "name")
        if instance is not None:
            peers = peers.exclude(pk=instance.pk)
        self._peers = {str(a.pk): a for a in peers}
        self.fields["talks_to"].choices = [(pk, a.name) for pk, a in self._peers.items()]

    @staticmethod
    def initial_for(agent: Agent) -> dict[str, Any]:
        return {
            "name": agent.name,
            "description": agent.description,
            "provider": agent.provider,
            "config": agent.config,
            "instructions": agent.instructions,
            "tools": list(agent.tools),
            "memory_top_k": agent.memory_top_k,
            "memory_scope": agent.memory_scope,
            "talks_to": [str(pk) for pk in agent.talks_to.values_list("pk", flat=True)],
            "rooms": list(agent.rooms),
        }

    def clean_talks_to(self) -> list[Agent]:
        return [self._peers[pk] for pk in self.cleaned_data["talks_to"]]


class NewAgentForm(AgentForm):
    """A new agent: its definition, its place (parent and level) and the privileges it starts with."""

    parent = forms.ChoiceField(required=False, help_text="Its creator, one level up. None: a root agent.")
    level = forms.TypedChoiceField(
        coerce=int,
        empty_value=None,
        required=False,
        help_text="0: the Supreme Oversight Board; 1: an executive; a child sits one below its parent.",
    )
    privileges = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)

    field_order = ["name", "description", "parent", "level", "provider", "config", "privileges"]

    def __init__(self, *args: Any, owner, privileges: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, owner=owner, **kwargs)
        self._parents = dict(self._peers)
        self.fields["parent"].choices = [("", "None (a root agent)")] + [
            (pk, f"{a.name} (level {a.level})") for pk, a in self._parents.items()
        ]
        depth = settings.SWARMWEB["MAX_DEPTH"]
        self.fields["level"].choices = [("", "One below its parent")] + [(n, str(n)) for n in range(depth + 1)]
        # Every privilege is a choice, so the rules (not "not a valid choice") answer one that may not be given.
        self.fields["privileges"].choices = list(privileges.items())

    def clean_parent(self) -> Agent | None:
        pk = self.cleaned_data["parent"]
        if not pk:
            return None
        if pk not in self._parents:
            raise forms.ValidationError("Not one of your active agents.")
        return self._parents[pk]


class PrivilegesForm(forms.Form):
    """The privileges an agent should hold from now on; the difference is granted and revoked."""

    privileges = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, privileges: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["privileges"].choices = list(privileges.items())


class TerminateForm(forms.Form):
    reason = forms.CharField(required=False, max_length=200, help_text="Kept in the audit log.")


def provider_catalogue_data() -> list[dict[str, Any]]:
    """Each provider's name, label, description and the JSON Schema of its settings (for SchemaForm)."""
    return [
        {"name": p.name, "label": p.label, "description": p.description, "config_schema": p.config_schema}
        for p in provider_catalogue()
    ]
