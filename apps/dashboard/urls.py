from django.urls import path

from . import agent_views, designer_views, pattern_views, views

app_name = "dashboard"

urlpatterns = [
    path("", views.swarm_list, name="swarm-list"),
    path("swarms/new/", designer_views.swarm_design_new, name="swarm-new"),
    # The form with the config as JSON, for people who prefer typing it (the designer's "advanced" path).
    path("swarms/new/json/", views.swarm_new, name="swarm-new-json"),
    path("swarms/<int:pk>/", views.swarm_detail, name="swarm-detail"),
    path("swarms/<int:pk>/design/", designer_views.swarm_design, name="swarm-design"),
    path("swarms/<int:pk>/edit/", views.swarm_edit, name="swarm-edit"),
    path("swarms/<int:pk>/export/", views.swarm_export, name="swarm-export"),
    path("agents/", agent_views.agent_page, name="agent-tree"),
    path("agents/new/", agent_views.agent_new, name="agent-new"),
    path("agents/<int:pk>/", agent_views.agent_edit, name="agent-edit"),
    path("agents/<int:pk>/privileges/", agent_views.agent_privileges, name="agent-privileges"),
    path("agents/<int:pk>/terminate/", agent_views.agent_terminate, name="agent-terminate"),
    path("runs/", views.run_list, name="run-list"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("runs/<int:pk>/drafts/", views.run_drafts, name="run-drafts"),
    path("swarms/patterns/", pattern_views.pattern_list, name="pattern-list"),
    path("swarms/patterns/<slug:key>/", pattern_views.pattern_use, name="pattern-use"),
    path("human-requests/<int:pk>/answer/", views.human_request_answer, name="human-request-answer"),
]
