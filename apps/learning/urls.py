from django.urls import path

from . import views

app_name = "learning"

urlpatterns = [
    path("", views.training_list, name="training-list"),
    path("<int:pk>/", views.training_detail, name="training-detail"),
    path("<int:pk>/stop/", views.training_stop, name="training-stop"),
    path("<int:pk>/resume/", views.training_resume, name="training-resume"),
]
