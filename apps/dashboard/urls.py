from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.swarm_list, name="swarm-list"),
    path("swarms/new/", views.swarm_new, name="swarm-new"),
    path("swarms/<int:pk>/", views.swarm_detail, name="swarm-detail"),
    path("swarms/<int:pk>/edit/", views.swarm_edit, name="swarm-edit"),
    path("swarms/<int:pk>/export/", views.swarm_export, name="swarm-export"),
    path("agents/", views.agent_tree, name="agent-tree"),
    path("runs/", views.run_list, name="run-list"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("runs/<int:pk>/drafts/", views.run_drafts, name="run-drafts"),
    path("human-requests/<int:pk>/answer/", views.human_request_answer, name="human-request-answer"),
]
