import json

from django import forms

from apps.swarms.models import Strategy


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


class ImportDefinitionForm(forms.Form):
    file = forms.FileField(label="Definition (swarm.yaml)", help_text="A single-file YAML swarm definition.")


class NewSwarmForm(forms.Form):
    """Compose a swarm in the browser: members from your agents and swarms, a strategy and its JSON config."""

    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    strategy = forms.ChoiceField(choices=Strategy.choices)
    members = forms.MultipleChoiceField(
        choices=(), widget=forms.CheckboxSelectMultiple, help_text="In this order; swarms become child runs."
    )
    strategy_config = forms.CharField(
        required=False,
        initial="{}",
        label="Strategy config (JSON)",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
        help_text="Blank or {} for the strategy's defaults. See the README for each strategy's keys.",
    )

    def __init__(self, *args, agents=(), swarms=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["members"].choices = [
            *[(f"agent:{a.pk}", f"{a.name} (level {a.level}, {a.provider})") for a in agents],
            *[(f"swarm:{s.pk}", f"{s.name} (swarm)") for s in swarms],
        ]

    def clean_strategy_config(self) -> dict:
        text = (self.cleaned_data.get("strategy_config") or "").strip() or "{}"
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
        if not isinstance(config, dict):
            raise forms.ValidationError("Must be a JSON object.")
        return config
