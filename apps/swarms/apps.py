from django.apps import AppConfig


class SwarmsConfig(AppConfig):
    name = "apps.swarms"
