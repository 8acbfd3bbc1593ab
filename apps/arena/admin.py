from django.contrib import admin

from .models import Rating, Trial


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["agent", "domain", "rating", "wins", "losses", "ties", "trials", "is_leader"]
    list_filter = ["domain", "is_leader"]


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ["run", "number", "domain", "leader", "winner", "tie", "created_at"]
    list_filter = ["domain", "tie"]
