from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from apps.core.errors import FieldsError
from apps.engine.governance import GovernanceError

from . import services
from .catalogue import privilege_catalogue
from .checks import check_privileges_change
from .governance import Acting, set_privileges, terminate_agent
from .models import Agent, AuditEntry


def privilege_choices() -> list[tuple[str, str]]:
    """The catalogue of every owner's privileges (the admin edits any owner's agents)."""
    return [(privilege, privilege) for privilege in privilege_catalogue()]


class AgentAdminForm(forms.ModelForm):
    privileges = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Agent
        fields = ["owner", "name", "description", "provider", "instructions", "config", "level", "parent", "privileges"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["privileges"].choices = privilege_choices()
        self.fields["level"].required = False
        self.fields["level"].help_text = "Blank: one below the parent (or 1, an executive, for a root)."
        if self.instance.pk:  # position in the hierarchy is fixed once placed
            self.fields["level"].disabled = True
            self.fields["parent"].disabled = True

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
            for key, errors in exc.fields.items():
                field = key if key in self.fields else ("config" if key.startswith("config") else None)
                for error in errors:
                    self.add_error(field, f"{key}: {error}" if field != key else error)
        return data


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    """Every change goes through the governance services: checked by the rules and audited."""

    form = AgentAdminForm
    list_display = ["name", "level", "parent", "provider", "status", "owner", "updated_at"]
    list_filter = ["status", "level", "provider"]
    search_fields = ["name", "description"]
    readonly_fields = ["status", "terminated_at"]
    actions = ["terminate_selected"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fields = {k: data[k] for k in ("name", "provider", "instructions", "description")}
        fields["config"] = data.get("config") or {}
        try:
            if change:
                agent = Agent.objects.get(pk=obj.pk)
                acting = Acting(user=request.user)
                privileges = data.get("privileges") or []
                # Ask the rules about every step first (a refusal is audited as the step's own
                # would be), so a change refused halfway is not half applied.
                provider, config = fields["provider"], fields["config"]
                check_privileges_change(
                    acting, agent, provider=provider, config=config, privileges=privileges, audit=True
                )
                set_privileges(acting, agent, privileges)
                services.update_agent(agent, acting_user=request.user, **fields)
            else:
                created = services.create_agent(
                    owner=data["owner"],
                    parent=data.get("parent"),
                    level=data.get("level"),
                    privileges=data.get("privileges") or None,
                    **fields,
                )
                obj.pk = created.pk
        except GovernanceError as exc:
            # Nothing of the change was saved and the refusal is in the audit log: say so, and
            # not that the save succeeded (response_add / response_change).
            request._governance_refused = True
            self.message_user(request, f"Refused ({exc.rule}): {exc.message}", messages.ERROR)

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "_governance_refused", False):  # back to the form, with the message shown
            return HttpResponseRedirect(request.get_full_path())
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "_governance_refused", False):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_change(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # agents are terminated, not deleted, so the audit trail stays whole

    @admin.action(description="Terminate selected agents (and their subtrees)")
    def terminate_selected(self, request, queryset):
        done = 0
        for agent in queryset.filter(status="active"):
            try:
                done += len(terminate_agent(Acting(user=request.user), agent, reason="admin action"))
            except GovernanceError as exc:
                self.message_user(request, f"{agent}: refused ({exc.rule}): {exc.message}", messages.ERROR)
        self.message_user(request, f"Terminated {done} agent(s).", messages.SUCCESS)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_label", "action", "target_label", "privilege", "allowed", "rule"]
    list_filter = ["allowed", "action", "rule"]
    search_fields = ["actor_label", "target_label", "privilege", "reason"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
