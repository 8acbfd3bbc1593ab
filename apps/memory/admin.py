from django.contrib import admin

from . import services
from .models import MemoryEntry, MemoryStore


@admin.register(MemoryEntry)
class MemoryEntryAdmin(admin.ModelAdmin):
    """Entries are written by agents and the API (they need an embedding); here they are read and deleted.
    Deletes go through the service, so every process's search cache notices them."""

    list_display = ["id", "short_text", "store", "author", "run", "tags", "owner", "created_at"]
    list_filter = ["store__swarm", "store__agent"]
    search_fields = ["text", "tags"]
    list_select_related = ["store__swarm", "store__agent", "author", "owner"]
    fields = ["owner", "store", "seq", "text", "author", "run", "tags", "embedding_summary", "created_at"]
    readonly_fields = fields
    raw_id_fields = ["run"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("embedding")

    @admin.display(description="text")
    def short_text(self, entry: MemoryEntry) -> str:
        return entry.text[:80]

    @admin.display(description="embedding")
    def embedding_summary(self, entry: MemoryEntry) -> str:
        vector = MemoryEntry.objects.filter(pk=entry.pk).values_list("embedding", flat=True).first()
        return f"{len(bytes(vector)) // 4} float32 values" if vector is not None else "—"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def delete_model(self, request, obj: MemoryEntry) -> None:
        services.delete_memory(owner=obj.owner, entry=obj)

    def delete_queryset(self, request, queryset) -> None:
        chosen = MemoryEntry.objects.filter(pk__in=queryset.values("pk")).select_related("owner")
        for entry in chosen.only("pk", "owner"):
            services.delete_memory(owner=entry.owner, entry=entry)


@admin.register(MemoryStore)
class MemoryStoreAdmin(admin.ModelAdmin):
    list_display = ["id", "swarm", "agent", "owner", "seq", "created_at"]
    readonly_fields = ["owner", "swarm", "agent", "seq", "stamp", "epoch", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False
