"""Infrastructure tasks."""

from celery import shared_task


@shared_task(name="core.ping", ignore_result=False)
def ping() -> str:
    """Answers 'pong': proves a worker is consuming. The benchmark's bare round trip."""
    return "pong"
