"""Shared helpers for benchmarks: an isolated environment, percentiles, the results file."""

from __future__ import annotations

import os
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "benchmarks.md"


def setup_django(redis_db: int = 14) -> None:
    """Point the process (and the workers it starts) at a bench database and Redis db."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'bench.sqlite3'}")
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    os.environ["REDIS_URL"] = re.sub(r"/\d+$", "", redis.rstrip("/")) + f"/{redis_db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swarmweb.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def fresh_owner(username: str):
    """A benchmark user with no agents, swarms or runs left from an earlier run."""
    from django.contrib.auth import get_user_model

    from apps.agents.models import Agent
    from apps.runs.models import Run
    from apps.swarms.models import Swarm

    owner, _ = get_user_model().objects.get_or_create(username=username)
    Run.objects.filter(owner=owner).delete()
    Swarm.objects.filter(owner=owner).delete()
    Agent.objects.filter(owner=owner).delete()
    _vacuum()
    return owner


def waiting_workflows(owner, *, wait_ms: int, layers: int = 1, **widths: int) -> dict:
    """HEIST swarms of ``owner`` by name (``wide=200, chain=1``), each ``layers`` layers of
    ``width`` nodes that depend on every node of the layer before, every node run by one
    scripted agent that waits ``wait_ms`` (simulated I/O)."""
    from apps.agents.services import create_agent
    from apps.swarms.services import create_swarm

    waiter = create_agent(
        owner=owner,
        name="waiter",
        provider="scripted",
        config={"replies": ["ok"], "cycle": True, "delay_ms": wait_ms},
    )
    swarms = {}
    for name, width in widths.items():
        nodes = []
        for layer in range(layers):
            previous = [f"n{layer - 1}-{i}" for i in range(width)] if layer else []
            nodes += [{"name": f"n{layer}-{i}", "agent": "waiter", "depends_on": previous} for i in range(width)]
        swarms[name] = create_swarm(
            owner=owner,
            name=name,
            strategy="heist",
            members=[waiter],
            strategy_config={"nodes": nodes},
            max_steps=len(nodes) + 10,
        )
    return swarms


def _vacuum() -> None:
    """Start every bench from the same state of the run tables: without this, the dead rows left
    by earlier benches (each step row is rewritten twice) slow the next one until autovacuum
    gets round to them (seen: 245 ms, then 279 ms, then 303 ms for the same DAG)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("runs_run", "runs_step", "runs_message", "runs_runevent", "runs_room"):
                cursor.execute(f"VACUUM ANALYZE {table}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values)


def cpu_probe_ms(rounds: int = 3) -> float:
    """How fast this machine runs Python right now: the best of ``rounds`` timings of a fixed
    pure-Python loop. This VM's speed swings widely (a loop like this one took 1.7 times as
    long twenty minutes apart), and CPU-bound parts of a bench swing with it; printed beside
    results so that a slow hour shows as one."""
    import time

    best = float("inf")
    for _ in range(rounds):
        t0, total = time.perf_counter(), 0
        for i in range(3_000_000):
            total += i
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def record(bench: str, markdown: str) -> None:
    """Replace this benchmark's section of docs/benchmarks.md with ``markdown``."""
    RESULTS.parent.mkdir(exist_ok=True)
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# Benchmarks\n\nWritten by the scripts in `bench/`; each run replaces its own section.\n"
    )
    begin, end = f"<!-- bench:{bench} -->", f"<!-- /bench:{bench} -->"
    section = f"{begin}\n{markdown.strip()}\n{end}"
    if begin in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _m: section, text, flags=re.DOTALL)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    RESULTS.write_text(text)
