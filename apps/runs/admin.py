from django.contrib import admin, messages

from apps.core.errors import Conflict

from . import services
from .models import HumanRequest, Message, Room, Run, RunEvent, Step


class ReadOnlyAdmin(admin.ModelAdmin):
    """Run records are written by the run engine only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class StepInline(admin.TabularInline):
    model = Step
    fields = ["index", "key", "agent_name", "status", "outcome", "latency_ms", "cost"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["id", "swarm", "owner", "status", "steps_started", "cost", "created_at"]
    list_filter = ["status", "strategy"]
    search_fields = ["task"]
    inlines = [StepInline]
    actions = ["cancel_runs"]

    @admin.action(description="Cancel selected runs")
    def cancel_runs(self, request, queryset):
        cancelled = 0
        for run in queryset:
            try:
                services.cancel_run(run_id=run.pk, user=request.user, reason=f"Cancelled by {request.user} (admin).")
                cancelled += 1
            except Conflict:
                pass
        self.message_user(request, f"Cancelled {cancelled} run(s).", messages.SUCCESS)


@admin.register(Step)
class StepAdmin(ReadOnlyAdmin):
    list_display = ["id", "run", "key", "agent_name", "status", "outcome", "latency_ms", "cost"]
    list_filter = ["status", "outcome"]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "run", "sender", "created_at"]


@admin.register(Room)
class RoomAdmin(ReadOnlyAdmin):
    list_display = ["id", "run", "name"]


@admin.register(HumanRequest)
class HumanRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "run", "key", "status", "answered_by", "created_at"]
    list_filter = ["status"]


@admin.register(RunEvent)
class RunEventAdmin(ReadOnlyAdmin):
    list_display = ["run", "seq", "kind", "created_at"]
    list_filter = ["kind"]

    def has_delete_permission(self, request, obj=None):
        return False
