"""Wall time of a wide HEIST workflow over its critical path, through the real stack.

A DAG of ``--width`` independent nodes per layer and ``--layers`` layers
(each node depends on every node of the previous layer; default: 200
independent nodes), each run by a scripted agent that waits ``--wait-ms``
(simulated I/O). The step workers are started exactly as ``make run`` starts
them. The reference is the critical path measured in the same run: layers x
the agent's wait. Target: wall / critical path <= 1.3.

Usage: python bench/dag_parallelism.py [--width 200] [--layers 1] [--wait-ms 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fresh_owner, record, setup_django
from step_overhead import start_workers, wait

TARGET = 1.3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=200)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--wait-ms", type=int, default=100)
    args = parser.parse_args()

    setup_django()
    from django.conf import settings
    from django.db import connection

    from apps.agents.services import create_agent
    from apps.runs import services
    from apps.swarms.services import create_swarm
    from celery_worker.worker import step_worker_concurrency, step_workers

    owner = fresh_owner("bench-dag")
    waiter = create_agent(
        owner=owner,
        name="waiter",
        provider="scripted",
        config={"replies": ["ok"], "cycle": True, "delay_ms": args.wait_ms},
    )
    nodes = []
    for layer in range(args.layers):
        previous = [f"n{layer - 1}-{i}" for i in range(args.width)] if layer else []
        nodes += [{"name": f"n{layer}-{i}", "agent": "waiter", "depends_on": previous} for i in range(args.width)]
    swarm = create_swarm(
        owner=owner,
        name="wide",
        strategy="heist",
        members=[waiter],
        strategy_config={"nodes": nodes},
        max_steps=len(nodes) + 10,
    )
    workers = start_workers()
    try:
        warm = services.start_run(
            swarm=create_swarm(
                owner=owner, name="warm", strategy="heist", members=[waiter], strategy_config={"nodes": nodes[:32]}
            ),
            task="warm up",
            user=owner,
        )
        wait([warm])
        t0 = time.perf_counter()
        run = services.start_run(swarm=swarm, task="go", user=owner)
        wait([run], timeout=600, poll_s=0.002)
        wall = time.perf_counter() - t0
        run.refresh_from_db()
    finally:
        for proc in workers:
            os.killpg(proc.pid, 15)
        for proc in workers:
            proc.wait(timeout=30)
    critical = args.layers * args.wait_ms / 1000
    ratio = wall / critical
    calls = settings.SWARMWEB["AGENT_CALLS_PER_WORKER"]
    concurrency = step_workers() * calls
    lines = [
        f"database: {connection.vendor}; step workers: {step_workers()} x ({step_worker_concurrency()} task threads,"
        f" {calls} agent-call threads) = {concurrency} concurrent agent calls;"
        f" batches of at most {settings.SWARMWEB['STEP_BATCH_SIZE']} steps",
        f"workflow: {len(nodes)} nodes ({args.layers} layer(s) of {args.width}), each waiting {args.wait_ms} ms;"
        f" run status {run.status}",
        f"critical path: {critical * 1000:.0f} ms   wall: {wall * 1000:.0f} ms   ratio: {ratio:.2f}"
        f" (target <= {TARGET})",
        f"lower bound from concurrency alone: {max(1.0, len(nodes) / args.layers / concurrency):.2f}",
    ]
    for line in lines:
        print(line)
    record(
        f"dag_parallelism-{connection.vendor}",
        f"## dag_parallelism ({connection.vendor})\n\n`python bench/dag_parallelism.py` (HEIST workflow through Redis,"
        " the real step workers and the database; reference: the critical path).\n\n```\n"
        + "\n".join(lines)
        + f"\nmeasured: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores\n```",
    )
    verdict = "PASS" if ratio <= TARGET and run.status == "succeeded" else "FAIL"
    print(f"RESULT dag_parallelism wall_over_critical_path={ratio:.2f} target={TARGET} {verdict}")


if __name__ == "__main__":
    main()
