from django import forms

from .models import EnvironmentKind


class StartTrainingForm(forms.Form):
    name = forms.CharField(max_length=100, initial="router")
    environment = forms.ChoiceField(choices=EnvironmentKind.choices, initial=EnvironmentKind.BUILTIN)
    swarm = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, choices=())
    dataset = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, choices=())
    epochs = forms.IntegerField(min_value=1, required=False, help_text="Blank: 40 on the benchmark, 10 on a swarm.")
    episodes_per_epoch = forms.IntegerField(
        min_value=1,
        required=False,
        label="Episodes per epoch",
        help_text="Blank: 4096 on the benchmark, 64 on a swarm.",
    )
    cost_weight = forms.FloatField(
        required=False, min_value=0, label="Cost weight (λ)", help_text="Blank: the default. Reward = success - λ·cost."
    )
    seed = forms.IntegerField(required=False, min_value=0)

    def __init__(self, *args, swarms=(), datasets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["swarm"].choices = [("", "—"), *[(s.pk, s.name) for s in swarms]]
        self.fields["dataset"].choices = [("", "—"), *[(d.pk, d.name) for d in datasets]]


class DatasetForm(forms.Form):
    name = forms.CharField(max_length=100)
    file = forms.FileField(required=False, label="JSONL file")
    text = forms.CharField(
        required=False,
        label="…or paste JSONL",
        widget=forms.Textarea(
            attrs={"rows": 4, "placeholder": '{"task": "2+3?", "expected": "5", "checker": "numeric"}'}
        ),
    )
    test_fraction = forms.FloatField(initial=0.2, min_value=0.01, max_value=0.99, label="Held-out fraction")
