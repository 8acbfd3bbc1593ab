"""Compare the wide-workflow wall time of two source trees, run by run (a tool, not a bench).

This VM's speed drifts by half within minutes, so two versions measured one after the other,
or even in alternating rounds of a few runs, differ by more than most changes do. Here both
trees' step workers run at the same time, each set on its own Redis database (its broker);
runs go to one set and then the other, one by one, and the difference is taken pair by pair.
Live events use Redis pub/sub, which ignores the database number, so both sets publish where
this process listens. Both trees share this process's database (run its migrations first).

Checked against a known change: a 10 ms sleep added to recording results showed as a paired
median of +10.1 ms over 20 pairs.

Usage (e.g. a worktree of an older commit against this checkout):
    git worktree add /tmp/before <commit>
    python bench/compare_trees.py /tmp/before . [--pairs 20] [--width 200] [--wait-ms 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_probe_ms, fresh_owner, setup_django, waiting_workflows
from step_overhead import wait_live

FIRST_REDIS_DB = 11  # the two sets of workers use this db and the next


def start_workers(tree: Path, redis_url: str) -> list[subprocess.Popen]:
    """The tree's step workers as its own ``make run`` would start them, on ``redis_url``."""
    env = dict(os.environ, REDIS_URL=redis_url)
    listing = (
        "import json, sys; sys.path.insert(0, '.');"
        " from celery_worker.worker import command, step_workers;"
        " print(json.dumps([command('steps', loglevel='WARNING', index=i) for i in range(1, step_workers() + 1)]))"
    )
    commands = json.loads(subprocess.check_output([sys.executable, "-c", listing], cwd=tree, env=env))
    return [subprocess.Popen(c, cwd=tree, env=env, start_new_session=True) for c in commands]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--width", type=int, default=200)
    parser.add_argument("--wait-ms", type=int, default=100)
    args = parser.parse_args()

    setup_django()
    from celery import Celery

    from apps.runs import services
    from celery_worker.queues import CONTROL

    owner = fresh_owner("bench-compare")
    workflows = waiting_workflows(owner, wait_ms=args.wait_ms, wide=args.width, chain=1)
    wide, chain = workflows["wide"], workflows["chain"]
    base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    urls = {name: f"{base}/{FIRST_REDIS_DB + i}" for i, name in enumerate(trees)}
    workers = {name: start_workers(tree, urls[name]) for name, tree in trees.items()}
    apps = {name: Celery(broker=url, backend=url) for name, url in urls.items()}

    def timed(name: str, swarm) -> float:
        """The run sent to that tree's workers; its wall time as a viewer sees it end."""
        app = apps[name]
        services._dispatch_begin = lambda run_id: app.send_task("runs.begin_run", args=[run_id], queue=CONTROL)
        t0 = time.perf_counter()
        wait_live(lambda: services.start_run(swarm=swarm, task="go", user=owner))
        return (time.perf_counter() - t0) * 1000

    results: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    probe = cpu_probe_ms()
    try:
        deadline = time.monotonic() + 60
        for name, app in apps.items():  # every worker answers before anything is timed
            while len(app.control.ping(timeout=1.0)) < len(workers[name]):
                if time.monotonic() > deadline:
                    raise SystemExit(f"the {name} workers did not answer")
        for _ in range(3):  # connections, pools, caches, on every worker (see dag_parallelism)
            for name in trees:
                timed(name, wide), timed(name, chain)
        for i in range(args.pairs):
            for name in trees if i % 2 == 0 else reversed(list(trees)):
                chain_ms = timed(name, chain)
                results[name].append((timed(name, wide), chain_ms))
    finally:
        for procs in workers.values():
            for proc in procs:
                os.killpg(proc.pid, 15)
            for proc in procs:
                proc.wait(timeout=30)
    for name, tree in trees.items():
        walls, chains = [w for w, _c in results[name]], [c for _w, c in results[name]]
        print(
            f"{name} ({tree}): wide {statistics.median(walls):.0f} ms, chain {statistics.median(chains):.0f} ms,"
            f" ratio {statistics.median(walls) / statistics.median(chains):.2f}"
        )
    diffs = [a[0] - b[0] for a, b in zip(results["after"], results["before"], strict=True)]
    print(
        f"after - before, wide run, paired: median {statistics.median(diffs):+.1f} ms,"
        f" mean {statistics.mean(diffs):+.1f} ms over {len(diffs)} pairs"
        f" (machine speed: a fixed Python loop took {(probe + cpu_probe_ms()) / 2:.0f} ms)"
    )


if __name__ == "__main__":
    main()
