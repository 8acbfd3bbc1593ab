from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from apps.learning import api as learning_api
from apps.memory import api as memory_api

from . import views

router = DefaultRouter()
router.register("agents", views.AgentViewSet, basename="agent")
router.register("swarms", views.SwarmViewSet, basename="swarm")
router.register("runs", views.RunViewSet, basename="run")
router.register("human-requests", views.HumanRequestViewSet, basename="human-request")
router.register("audit", views.AuditEntryViewSet, basename="audit")
router.register("strategies", views.StrategyViewSet, basename="strategy")
router.register("providers", views.ProviderViewSet, basename="provider")
router.register("training-runs", learning_api.TrainingRunViewSet, basename="training-run")
router.register("training-datasets", learning_api.TrainingDatasetViewSet, basename="training-dataset")
router.register("memory", memory_api.MemoryEntryViewSet, basename="memory-entry")

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Swagger UI and ReDoc come from drf-spectacular-sidecar (served locally); ReDoc's page is
    # ours so that it links no web fonts either.
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html"),
        name="api-redoc",
    ),
    *router.urls,
]
