from django.urls import path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
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
    # Swagger UI comes from drf-spectacular-sidecar, served locally. ReDoc is gone: its page
    # draws a "by Redocly" badge whose logo it always fetches from cdn.redoc.ly.
    path("redoc/", RedirectView.as_view(pattern_name="api-docs", permanent=True), name="api-redoc"),
    *router.urls,
]
