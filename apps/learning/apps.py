from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "apps.learning"

    def ready(self) -> None:
        from apps.engine.strategies.puppeteer import use_policy_source

        from .policies import load_policy

        use_policy_source(load_policy)
