from django.urls import path

from . import views

app_name = "arena"

urlpatterns = [
    path("", views.leaderboard, name="leaderboard"),
    path("curriculum/<int:swarm_id>/", views.curriculum, name="curriculum"),
]
