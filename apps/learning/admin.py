from django.contrib import admin, messages

from apps.core.errors import Conflict

from . import services
from .models import Checkpoint, EpochMetrics, TrainingDataset, TrainingRun


class EpochMetricsInline(admin.TabularInline):
    model = EpochMetrics
    fields = ["epoch", "metrics", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    """Training runs are written by the trainer; the admin can read them and stop them."""

    list_display = ["id", "name", "owner", "environment", "status", "epochs_done", "epochs", "created_at"]
    list_filter = ["status", "environment"]
    search_fields = ["name"]
    readonly_fields = [f.name for f in TrainingRun._meta.fields]
    inlines = [EpochMetricsInline]
    actions = ["stop_runs"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Stop selected training runs")
    def stop_runs(self, request, queryset):
        stopped = 0
        for run in queryset:
            try:
                services.stop_training(run)
                stopped += 1
            except Conflict:
                pass
        self.message_user(request, f"Stopped {stopped} training run(s).", messages.SUCCESS)


@admin.register(TrainingDataset)
class TrainingDatasetAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "owner", "task_count", "test_fraction", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["tasks", "created_at"]

    @admin.display(description="tasks")
    def task_count(self, obj) -> int:
        return len(obj.tasks)


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin):
    list_display = ["id", "training_run", "epoch", "size", "created_at"]
    exclude = ["blob"]
    readonly_fields = ["training_run", "epoch", "size", "created_at"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="bytes")
    def size(self, obj) -> int:
        return len(obj.blob or b"")
