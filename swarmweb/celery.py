"""The Celery app. Its settings are the CELERY_* Django settings; queue layout in celery_worker/queues.py."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swarmweb.settings")

app = Celery("swarmweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _recycle_db_connections(**kwargs) -> None:
    """Keep database connections across tasks, as Django does across requests.

    Celery's Django fixup would close every connection after every task
    (a new PostgreSQL connection per agent step); CELERY_DB_REUSE_MAX turns
    that off and this closes only connections that are broken or older than
    CONN_MAX_AGE.
    """
    from django.db import close_old_connections

    close_old_connections()


@worker_ready.connect
def _prepare_step_worker(sender=None, **kwargs) -> None:
    """A worker consuming the steps queue starts its agent-call pool now, not on the first
    wide batch; and every worker moves what it loaded at start out of the garbage
    collector's sight (``gc.freeze``), so collections during steps scan only their own objects,
    and collects the youngest generation every ``GC_YOUNG_THRESHOLD`` allocations instead of
    every 700: a 200-node fan-out allocated enough for 15 young and one older collection per
    run (6.7 ms of its critical path), each rescanning the batch's live rows."""
    import gc

    from celery_worker.queues import STEPS

    queues = {queue.name for queue in getattr(getattr(sender, "task_consumer", None), "queues", ())}
    if STEPS in queues:
        from apps.runs.agent_calls import agent_call_pool

        agent_call_pool()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


GC_YOUNG_THRESHOLD = 20_000  # Python's default is 700; cyclic garbage waits a little longer
