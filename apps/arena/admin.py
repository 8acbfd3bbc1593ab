from django.contrib import admin

from .models import CurriculumAttempt, CurriculumProgress, Rating, Trial


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["agent", "domain", "rating", "wins", "losses", "ties", "trials", "is_leader"]
    list_filter = ["domain", "is_leader"]


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ["run", "number", "domain", "leader", "winner", "tie", "created_at"]
    list_filter = ["domain", "tie"]


@admin.register(CurriculumProgress)
class CurriculumProgressAdmin(admin.ModelAdmin):
    list_display = ["agent", "swarm", "level", "total_reward", "passes", "fails", "reached_top", "updated_at"]
    list_filter = ["reached_top"]


@admin.register(CurriculumAttempt)
class CurriculumAttemptAdmin(admin.ModelAdmin):
    list_display = ["run", "number", "agent", "level", "passed", "reward", "level_after", "created_at"]
    list_filter = ["passed", "level"]
