"""Queue layout.

- ``control``: short bookkeeping (begin a run, sweep for lost work).
- ``steps``: agent steps; mostly waiting on networks, so its worker uses a
  thread pool for I/O concurrency.
- ``training``: CPU-heavy learning work, kept apart so it never starves steps.
"""

from __future__ import annotations

from kombu import Exchange, Queue

CONTROL = "control"
STEPS = "steps"
TRAINING = "training"


def task_queues() -> tuple[Queue, ...]:
    return tuple(Queue(name, Exchange(name, type="direct"), routing_key=name) for name in (CONTROL, STEPS, TRAINING))


def task_routes() -> dict[str, dict[str, str]]:
    return {
        "runs.execute_step": {"queue": STEPS},
        "runs.execute_steps": {"queue": STEPS},
        "runs.*": {"queue": CONTROL},
        "learning.*": {"queue": TRAINING},
    }


def beat_schedule(*, sweep_interval_s: float) -> dict[str, dict]:
    return {
        "sweep-lost-work": {
            "task": "runs.sweep",
            "schedule": sweep_interval_s,
            "options": {"queue": CONTROL, "expires": sweep_interval_s},
        },
    }
