"""The Celery app. Its settings are the CELERY_* Django settings; queue layout in celery_worker/queues.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swarmweb.settings")

app = Celery("swarmweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
