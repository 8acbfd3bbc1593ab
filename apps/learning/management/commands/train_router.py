"""Train a learned orchestrator in this process, with a progress bar in the terminal.

The same services as the dashboard and the Celery training queue: the run,
its epoch metrics, checkpoints and evaluation are stored and shown live on
its page while this command works.
"""

from __future__ import annotations

import sys
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import FieldsError
from apps.learning import services
from apps.learning.models import EnvironmentKind, TrainingDataset, TrainingRun, TrainingStatus
from apps.swarms.models import Swarm

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Train an orchestrator policy (REINFORCE) on the built-in routing benchmark or a swarm + dataset."

    def add_arguments(self, parser):
        parser.add_argument("--user", default=None, help="Owner (username); default: the first superuser.")
        parser.add_argument("--name", default="router")
        parser.add_argument("--epochs", type=int, default=None, help="Default: 40 on the benchmark, 10 on a swarm.")
        parser.add_argument("--episodes", type=int, default=None, help="Episodes per epoch (default 4096 / 64).")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--cost-weight", type=float, default=None, help="λ in reward = success - λ·cost.")
        parser.add_argument("--swarm", type=int, default=None, help="Train on this swarm's agents (with --dataset).")
        parser.add_argument("--dataset", type=int, default=None, help="Dataset id for --swarm.")

    def handle(self, *args, **options):
        owner = self._owner(options["user"])
        config = {}
        if options["seed"] is not None:
            config["seed"] = options["seed"]
        if options["cost_weight"] is not None:
            config["cost_weight"] = options["cost_weight"]
        swarm = dataset = None
        environment = EnvironmentKind.BUILTIN
        if options["swarm"] is not None:
            environment = EnvironmentKind.SWARM
            swarm = Swarm.objects.filter(owner=owner, pk=options["swarm"]).first()
            dataset = TrainingDataset.objects.filter(owner=owner, pk=options["dataset"]).first()
        try:
            run = services.start_training(
                owner=owner,
                name=options["name"],
                environment=environment,
                swarm=swarm,
                dataset=dataset,
                config=config,
                epochs=options["epochs"],
                episodes_per_epoch=options["episodes"],
                queue=False,
            )
        except FieldsError as exc:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.fields or {}).items())
            raise CommandError(f"{exc.message} {problems}") from None
        self.stdout.write(f"Training run {run.pk}: {run.epochs} epochs x {run.episodes_per_epoch} episodes")
        started = time.perf_counter()
        for epoch in range(1, run.epochs + 1):
            row = services.run_epoch(run.pk, epoch, queue_next=False)
            run.refresh_from_db()
            if row is None:
                break
            self._bar(epoch, run.epochs, row.metrics, time.perf_counter() - started)
        self.stdout.write("")
        run.refresh_from_db()
        if run.status == TrainingStatus.FAILED:
            raise CommandError(run.error)
        self._report(run)

    def _owner(self, username):
        users = get_user_model().objects
        if username:
            owner = users.filter(username=username).first()
            if owner is None:
                raise CommandError(f"No user named {username!r}.")
            return owner
        owner = users.filter(is_superuser=True).order_by("pk").first()
        if owner is None:
            raise CommandError("No superuser yet: pass --user or run `manage.py seed_demo` first.")
        return owner

    def _bar(self, epoch: int, total: int, metrics: dict, elapsed: float) -> None:
        done = int(BAR_WIDTH * epoch / total)
        bar = "#" * done + "-" * (BAR_WIDTH - done)
        line = (
            f"\r[{bar}] {epoch}/{total}  reward {metrics.get('mean_reward', 0):+.3f}  "
            f"success {metrics.get('success_rate', 0):.2f}  cost {metrics.get('mean_cost', 0):.2f}  "
            f"{metrics.get('episodes_per_s', 0):.0f} ep/s  {elapsed:.0f}s"
        )
        self.stdout.write(line, ending="")
        if hasattr(self.stdout, "flush"):
            self.stdout.flush()
        elif sys.stdout.isatty():
            sys.stdout.flush()

    def _report(self, run: TrainingRun) -> None:
        policies = (run.evaluation or {}).get("policies", {})
        if not policies:
            self.stdout.write(f"Status: {run.status}")
            return
        self.stdout.write(f"Held-out evaluation ({run.evaluation.get('tasks', 0)} tasks):")
        self.stdout.write(f"  {'policy':<14}{'success':>9}{'cost':>9}{'reward':>9}{'steps':>8}")
        for name in run.evaluation.get("order") or list(policies):
            m = policies[name]
            self.stdout.write(
                f"  {name:<14}{m['success']:>9.3f}{m['mean_cost']:>9.3f}{m['mean_reward']:>9.3f}{m['mean_steps']:>8.2f}"
            )
