from django import forms
from django.contrib import admin, messages
from django.db.models import F

from apps.core.errors import FieldsError

from .models import Swarm, SwarmMember
from .services import check_strategy


class SwarmMemberInline(admin.TabularInline):
    model = SwarmMember
    fk_name = "swarm"
    extra = 0


class SwarmAdminForm(forms.ModelForm):
    class Meta:
        model = Swarm
        fields = ["owner", "name", "description", "strategy", "strategy_config", "max_steps", "max_cost", "max_seconds"]

    def clean(self):
        data = super().clean()
        if self.errors or self.instance.pk is None:
            return data  # a new swarm's members arrive with the inline; checked after they are saved
        try:
            check_strategy(
                data["strategy"],
                data.get("strategy_config") or {},
                self.instance.member_names(),
                members=self.instance.member_objects(),
            )
        except FieldsError as exc:
            for key, errors in exc.fields.items():
                field = "strategy" if key == "strategy" else "strategy_config"
                for error in errors:
                    self.add_error(field, f"{key}: {error}" if key != field else error)
        return data


@admin.register(Swarm)
class SwarmAdmin(admin.ModelAdmin):
    form = SwarmAdminForm
    list_display = ["name", "strategy", "owner", "updated_at"]
    list_filter = ["strategy"]
    search_fields = ["name", "description"]
    inlines = [SwarmMemberInline]
    readonly_fields = ["version"]

    def save_model(self, request, obj, form, change):
        if change:  # a save like any other: an editor still holding the old version gets a conflict
            obj.version = F("version") + 1
        super().save_model(request, obj, form, change)
        obj.refresh_from_db(fields=["version"])

    def save_related(self, request, form, formsets, change):
        """Members are saved here; check the strategy against the final member list."""
        super().save_related(request, form, formsets, change)
        swarm = form.instance
        try:
            check_strategy(swarm.strategy, swarm.strategy_config, swarm.member_names(), members=swarm.member_objects())
        except FieldsError as exc:
            messages.warning(request, f"Runs of this swarm will be refused until its strategy is fixed: {exc}")
