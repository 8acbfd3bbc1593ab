from django import forms
from django.contrib import admin

from apps.core.errors import FieldsError

from . import services
from .models import Agent


class AgentAdminForm(forms.ModelForm):
    class Meta:
        model = Agent
        fields = ["owner", "name", "description", "provider", "instructions", "config"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            services.check_agent(
                owner=data["owner"],
                name=data["name"],
                provider=data["provider"],
                config=data.get("config") or {},
                instance=self.instance if self.instance.pk else None,
            )
        except FieldsError as exc:
            for key, messages in exc.fields.items():
                field = key if key in self.fields else ("config" if key.startswith("config") else None)
                for message in messages:
                    self.add_error(field, f"{key}: {message}" if field != key else message)
        return data


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentAdminForm
    list_display = ["name", "provider", "owner", "updated_at"]
    list_filter = ["provider"]
    search_fields = ["name", "description"]

    def save_model(self, request, obj, form, change):
        """Saves go through the agent services, which validate once more in the transaction."""
        fields = {k: form.cleaned_data[k] for k in ("name", "provider", "instructions", "description")}
        fields["config"] = form.cleaned_data.get("config") or {}
        if change:
            services.update_agent(obj, **fields)
        else:
            created = services.create_agent(owner=form.cleaned_data["owner"], **fields)
            obj.pk = created.pk
