from django.apps import AppConfig


class ArenaConfig(AppConfig):
    name = "apps.arena"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.runs.hooks import StrategyHooks, register

        from . import services

        register("orc", StrategyHooks(start_context=services.orc_start_context, after_transition=services.record_orc))
        register("sao", StrategyHooks(start_context=services.sao_start_context, after_transition=services.record_sao))
