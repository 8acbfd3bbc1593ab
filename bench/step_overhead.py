"""Per-step overhead of the run engine through the real stack, against a bare Celery round trip.

Stack: Redis + a real Celery worker process (the README's configuration:
thread pool on the control and steps queues) + the database + event
publishing. No web process. Agents are scripted no-ops.

- reference: ``core.ping`` sent and its result awaited, one at a time;
- latency: one long run of sequential no-op steps; per-step overhead is the
  time between consecutive step completions minus the agent's own time;
- throughput: many runs at once; steps completed per second of wall time.

Usage: python bench/step_overhead.py [--steps 300] [--runs 20] [--steps-per-run 30]
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fresh_owner, median, percentile, record, setup_django

TARGET_RATIO = 3.0
TARGET_STEPS_PER_S = 150.0


def start_workers() -> list[subprocess.Popen]:
    """The step workers exactly as `make run` starts them."""
    from celery_worker.worker import command, step_workers

    procs = [
        subprocess.Popen(command("steps", loglevel="WARNING", index=i), env=dict(os.environ), start_new_session=True)
        for i in range(1, step_workers() + 1)
    ]
    from swarmweb.celery import app

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            replies = app.control.ping(timeout=1.0)
            if len(replies) >= len(procs) and app.send_task("core.ping").get(timeout=2) == "pong":
                return procs
        except Exception:
            time.sleep(0.2)
    for proc in procs:
        proc.kill()
    raise SystemExit("the workers did not answer")


def bare_round_trips(n: int) -> list[float]:
    from swarmweb.celery import app

    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        app.send_task("core.ping").get(timeout=10)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def wait_live(start_run, timeout: float = 120):
    """Start a run with ``start_run()`` and return it once it has ended, as a viewer learns it:
    from the run's live event stream (the channel layer), not by polling the database (a poll
    every few milliseconds would take CPU from the workers being measured)."""
    import asyncio

    from asgiref.sync import sync_to_async
    from channels.layers import get_channel_layer

    from apps.runs.broadcast import run_events_in, run_group
    from apps.runs.models import Run, RunStatus

    async def run_and_wait():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        run = await sync_to_async(start_run)()
        await layer.group_add(run_group(run.pk), channel)
        try:
            ended = lambda: not Run.objects.filter(pk=run.pk, status__in=RunStatus.active()).exists()  # noqa: E731
            if await sync_to_async(ended)():  # it ended before we listened
                return run
            async with asyncio.timeout(timeout):
                while True:
                    message = await layer.receive(channel)
                    # events_json since stop 16; a list before (bench/compare_trees.py may run older trees)
                    events = message["events"] if "events" in message else run_events_in(message)
                    for event in events:
                        if event["kind"] == "run.status" and not event["data"]["active"]:
                            return run
        finally:
            await layer.group_discard(run_group(run.pk), channel)

    return asyncio.run(run_and_wait())


def wait(runs, timeout: float = 300, poll_s: float = 0.02) -> None:
    from apps.runs.models import Run, RunStatus

    ids = [r.pk for r in runs]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Run.objects.filter(pk__in=ids, status__in=RunStatus.active()).exists():
            return
        time.sleep(poll_s)
    raise SystemExit("runs did not finish in time")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--steps-per-run", type=int, default=30)
    parser.add_argument("--pings", type=int, default=300)
    args = parser.parse_args()

    setup_django()
    from django.db import connection

    from apps.agents.models import Agent
    from apps.runs import services
    from apps.runs.models import Run
    from apps.swarms.services import create_swarm

    owner = fresh_owner("bench")
    noop = Agent.objects.create(
        owner=owner, name="noop", provider="scripted", config={"replies": ["ok"], "cycle": True}
    )
    long_chat = create_swarm(
        owner=owner, name="long", strategy="chat_room", members=[noop], strategy_config={"max_turns": args.steps}
    )
    short_chat = create_swarm(
        owner=owner,
        name="short",
        strategy="chat_room",
        members=[noop],
        strategy_config={"max_turns": args.steps_per_run},
    )
    workers = start_workers()
    try:
        bare_round_trips(30)  # warm up connections
        reference = bare_round_trips(args.pings)

        run = services.start_run(swarm=long_chat, task="go", user=owner, max_steps=args.steps)
        wait([run])
        steps = list(run.steps.order_by("index").values_list("finished_at", "latency_ms"))
        gaps = [(b[0] - a[0]).total_seconds() * 1000 - b[1] for a, b in itertools.pairwise(steps)]
        t0 = time.perf_counter()
        runs = [services.start_run(swarm=short_chat, task="go", user=owner) for _ in range(args.runs)]
        wait(runs)
        wall = time.perf_counter() - t0
        total_steps = sum(r.steps.count() for r in Run.objects.filter(pk__in=[r.pk for r in runs]))
    finally:
        for proc in workers:
            os.killpg(proc.pid, 15)
        for proc in workers:
            proc.wait(timeout=30)

    ref_p50, ref_p99 = median(reference), percentile(reference, 99)
    p50, p99 = median(gaps), percentile(gaps, 99)
    ratio = p50 / ref_p50
    throughput = total_steps / wall
    from celery_worker.worker import step_worker_concurrency, step_workers

    lines = [
        f"database: {connection.vendor}; step workers: {step_workers()} x thread pool of {step_worker_concurrency()}",
        f"bare Celery round trip:   p50 {ref_p50:6.2f} ms   p99 {ref_p99:6.2f} ms   (n={len(reference)})",
        f"per-step overhead:        p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   (n={len(gaps)} sequential steps)",
        f"ratio p50 step / p50 round trip: {ratio:.2f} (target <= {TARGET_RATIO})",
        f"throughput: {throughput:.0f} steps/s ({total_steps} steps in {args.runs} concurrent runs, {wall:.2f} s)"
        f" (target >= {TARGET_STEPS_PER_S:.0f})",
    ]
    for line in lines:
        print(line)
    record(
        f"step_overhead-{connection.vendor}",
        f"## step_overhead ({connection.vendor})\n\n`python bench/step_overhead.py` (no-op scripted steps through "
        "Redis, a real Celery worker, the database and event publishing; reference measured in the same run)."
        "\n\n```\n"
        + "\n".join(lines)
        + f"\nmeasured: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores\n```",
    )
    # each metric judged on its own (the lines used to share one verdict, so a met target read FAIL)
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    print(f"RESULT step_overhead p50_ratio={ratio:.2f} target={TARGET_RATIO} {verdict}")
    verdict = "PASS" if throughput >= TARGET_STEPS_PER_S else "FAIL"
    print(f"RESULT step_overhead steps_per_s={throughput:.0f} target={TARGET_STEPS_PER_S:.0f} {verdict}")


if __name__ == "__main__":
    main()
