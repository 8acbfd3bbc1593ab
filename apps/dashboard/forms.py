from django import forms


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
