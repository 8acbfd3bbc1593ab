from __future__ import annotations

from django import forms

from apps.agents.models import Agent
from apps.runs.models import Run
from apps.swarms.models import Swarm

from . import services


class MemorySearchForm(forms.Form):
    """The memory browser's filters. ``scope`` is ``swarm:<id>`` or ``agent:<id>``."""

    scope = forms.ChoiceField(label="Memory")
    query = forms.CharField(required=False, max_length=services.MAX_QUERY, label="Search")
    k = forms.IntegerField(required=False, min_value=1, max_value=services.MAX_K, initial=10, label="Top k")
    author = forms.ModelChoiceField(queryset=Agent.objects.none(), required=False, label="Author agent")
    run = forms.ModelChoiceField(queryset=Run.objects.none(), required=False, label="Run")
    tag = forms.CharField(required=False, max_length=40, label="Tag")

    def __init__(self, data, *, owner) -> None:
        super().__init__(data)
        agents = Agent.objects.filter(owner=owner).order_by("name")
        swarms = Swarm.objects.filter(owner=owner).order_by("name")
        self.fields["scope"].choices = [
            ("Swarm memory (shared)", [(f"swarm:{s.pk}", s.name) for s in swarms]),
            ("Agent memory (own)", [(f"agent:{a.pk}", a.name) for a in agents]),
        ]
        self.fields["author"].queryset = agents
        self.fields["run"].queryset = Run.objects.filter(owner=owner).order_by("-created_at", "-id")[:200]
        self.fields["run"].label_from_instance = lambda run: f"#{run.pk} {run.task[:40]}"

    def scope_args(self) -> dict[str, int]:
        kind, _, pk = self.cleaned_data["scope"].partition(":")
        return {kind: int(pk)}
