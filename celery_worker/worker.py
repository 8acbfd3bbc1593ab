"""Command lines for the worker processes, shared by the run script and the docs.

``python -m celery_worker.worker steps`` starts an I/O worker (control and
steps queues, thread pool); ``training`` starts the CPU worker; ``beat``
starts the scheduler. Threads give I/O concurrency (agents mostly wait on
model APIs) but share one interpreter lock, so the stack runs
``STEP_WORKERS`` step workers (default: one per core) to use every core
for the bookkeeping around steps.
"""

from __future__ import annotations

import os
import sys

from swarmweb.env import env_int

from .queues import CONTROL, STEPS, TRAINING


def step_workers() -> int:
    return env_int("STEP_WORKERS", os.cpu_count() or 1, minimum=1)


def step_worker_concurrency() -> int:
    return env_int("STEP_WORKER_CONCURRENCY", 16, minimum=1)


def command(role: str, *, loglevel: str = "INFO", index: int = 1) -> list[str]:
    base = [sys.executable, "-m", "celery", "-A", "swarmweb"]
    if role == "steps":
        return [
            *base,
            "worker",
            "-Q",
            f"{CONTROL},{STEPS}",
            "-P",
            "threads",
            "-c",
            str(step_worker_concurrency()),
            "-n",
            f"steps{index}@%h",
            "-l",
            loglevel,
            "--without-gossip",
            "--without-mingle",
        ]
    if role == "training":
        return [
            *base,
            "worker",
            "-Q",
            TRAINING,
            "-P",
            "prefork",
            "-c",
            "1",
            "-n",
            "training@%h",
            "-l",
            loglevel,
            "--without-gossip",
            "--without-mingle",
        ]
    if role == "beat":
        os.makedirs("var", exist_ok=True)
        return [*base, "beat", "-l", loglevel, "-s", os.path.join("var", "celerybeat-schedule")]
    raise SystemExit(f"unknown role {role!r}: use steps, training or beat")


if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else "steps"
    os.execv(sys.executable, command(role))
