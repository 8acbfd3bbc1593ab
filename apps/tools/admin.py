from django.contrib import admin, messages

from apps.core.errors import Conflict

from . import services
from .models import MadeTool, MadeToolStatus


@admin.register(MadeTool)
class MadeToolAdmin(admin.ModelAdmin):
    """Review tools agents made: the source, who made it and when; approve or reject pending versions."""

    list_display = ["name", "version", "owner", "status", "made_by", "created_at", "reviewed_by"]
    list_filter = ["status"]
    search_fields = ["name", "description", "source"]
    readonly_fields = [f.name for f in MadeTool._meta.fields]
    actions = ["approve", "reject"]

    def has_add_permission(self, request):
        return False  # tools are proposed by agents (or the API) and validated first

    def _review(self, request, queryset, *, approve: bool) -> None:
        done = 0
        for tool in queryset.filter(status=MadeToolStatus.PENDING):
            try:
                services.review_tool(tool, approve=approve, user=request.user, note="(admin)")
                done += 1
            except Conflict:
                pass
        self.message_user(request, f"{'Approved' if approve else 'Rejected'} {done} tool version(s).", messages.SUCCESS)

    @admin.action(description="Approve selected pending tools")
    def approve(self, request, queryset):
        self._review(request, queryset, approve=True)

    @admin.action(description="Reject selected pending tools")
    def reject(self, request, queryset):
        self._review(request, queryset, approve=False)
