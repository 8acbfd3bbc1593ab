from django.urls import path

from . import views

app_name = "tools"

urlpatterns = [
    path("", views.tool_list, name="tool-list"),
    path("<int:pk>/", views.tool_detail, name="tool-detail"),
    path("<int:pk>/review/", views.tool_review, name="tool-review"),
]
