"""System checks for deployment settings."""

from django.conf import settings
from django.core.checks import Warning, register


@register()
def check_secret_key(app_configs, **kwargs):
    if settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        return [
            Warning(
                "SECRET_KEY is the development default.",
                hint="Set the SECRET_KEY environment variable before exposing SwarmWeb to anyone.",
                id="swarmweb.W001",
            )
        ]
    return []
