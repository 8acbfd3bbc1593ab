from django.urls import path

from apps.agents.consumers import AgentTreeConsumer

from .consumers import RunConsumer

websocket_urlpatterns = [
    path("ws/runs/<int:run_id>/", RunConsumer.as_asgi()),
    path("ws/agents/", AgentTreeConsumer.as_asgi()),
]
