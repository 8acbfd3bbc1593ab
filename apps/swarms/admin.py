from django.contrib import admin

from .models import Swarm, SwarmMember


class SwarmMemberInline(admin.TabularInline):
    model = SwarmMember
    extra = 0


@admin.register(Swarm)
class SwarmAdmin(admin.ModelAdmin):
    list_display = ["name", "strategy", "owner", "updated_at"]
    list_filter = ["strategy"]
    search_fields = ["name", "description"]
    inlines = [SwarmMemberInline]
