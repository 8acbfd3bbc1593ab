"""Celery tasks: load ids, call a service, done."""

from celery import shared_task

from . import services


@shared_task(name="runs.begin_run")
def begin_run(run_id: int) -> None:
    with services.continuing_here():
        services.begin_run(run_id)


@shared_task(name="runs.execute_step")
def execute_step(step_id: int) -> None:
    with services.continuing_here():
        services.execute_step(step_id)


@shared_task(name="runs.execute_steps")
def execute_steps(step_ids: list[int]) -> None:
    with services.continuing_here():
        services.execute_steps(step_ids)


@shared_task(name="runs.sweep")
def sweep() -> None:
    services.sweep()


@shared_task(name="runs.child_run_finished")
def child_run_finished(run_id: int) -> None:
    services.child_run_finished(run_id)


@shared_task(name="runs.cancel_child_runs")
def cancel_child_runs(run_id: int) -> None:
    services.cancel_child_runs(run_id)
