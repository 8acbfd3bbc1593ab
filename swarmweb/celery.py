"""The Celery app. Queues, routes and the beat schedule live in celery_worker/queues.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swarmweb.settings")

app = Celery("swarmweb")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _configure_queues() -> None:
    from celery_worker.queues import beat_schedule, task_queues, task_routes

    app.conf.update(
        task_queues=task_queues(),
        task_routes=task_routes(),
        task_default_queue="control",
        beat_schedule=beat_schedule(),
    )


_configure_queues()
app.autodiscover_tasks()
