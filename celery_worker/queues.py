"""Queue layout.

- ``control``: short bookkeeping (begin a run, sweep for lost work).
- ``steps``: agent steps; mostly waiting on networks, so its worker uses a
  thread pool for I/O concurrency.
- ``training``: CPU-heavy learning work, kept apart so it never starves steps.
"""

from __future__ import annotations

from kombu import Queue

CONTROL = "control"
STEPS = "steps"
TRAINING = "training"


def task_queues() -> tuple[Queue, ...]:
    return (Queue(CONTROL), Queue(STEPS), Queue(TRAINING))


def task_routes() -> dict[str, dict[str, str]]:
    return {
        "runs.execute_step": {"queue": STEPS},
        "runs.*": {"queue": CONTROL},
        "learning.*": {"queue": TRAINING},
    }


def beat_schedule() -> dict[str, dict]:
    from django.conf import settings

    return {
        "sweep-lost-work": {
            "task": "runs.sweep",
            "schedule": float(settings.SWARMWEB["SWEEP_INTERVAL_SECONDS"]),
            "options": {"queue": CONTROL, "expires": float(settings.SWARMWEB["SWEEP_INTERVAL_SECONDS"])},
        },
    }
