"""Celery tasks on the training queue: load ids, call a service, done."""

from celery import shared_task

from . import services


@shared_task(name="learning.run_epoch")
def run_epoch(run_id: int, epoch: int) -> None:
    services.run_epoch(run_id, epoch)
