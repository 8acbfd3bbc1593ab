"""Train the Puppeteer-style router on the built-in routing benchmark and compare it with baselines.

Offline and CPU-only by default; no Django, no database. Steps:

1. build the benchmark (skills, knowledge base, seeded train/test tasks; loads the
   sentence embedder) and hold out part of the training split for validation;
2. measure the baselines on the held-out test split: random, the cheapest fixed
   chain of specialists, the generalist alone, and the oracle (reference);
3. train with REINFORCE within a time budget, checking the validation split after
   each epoch and stopping once it meets the targets;
4. evaluate the best validated checkpoint on the test split beside the baselines,
   fold trajectories into agent graphs (before and after training), record.

Targets (held-out test split): success >= 0.95, mean cost <= 1.15 x the oracle's,
mean reward strictly above every baseline (random, fixed chain, generalist).

Usage: python bench/train_router.py [--seed 0] [--budget 170] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402
from _common import record  # noqa: E402

from apps.engine.puppeteer import (  # noqa: E402
    Orchestrator,
    TrainConfig,
    Trainer,
    baselines,
    evaluate,
    fold_topology,
    routing_benchmark,
    run_episode,
)
from apps.engine.puppeteer.benchmark import RECOMMENDED_CONFIG  # noqa: E402

TARGET_SUCCESS = 0.95
TARGET_COST_RATIO = 1.15
BASELINES = ("random", "fixed_chain", "generalist")

CONFIG = TrainConfig.from_dict({**RECOMMENDED_CONFIG, "seed": 0, "device": "auto"})


def meets_targets(result, oracle, others) -> bool:
    return (
        result.success >= TARGET_SUCCESS
        and result.mean_cost <= TARGET_COST_RATIO * oracle.mean_cost
        and all(result.mean_reward > o.mean_reward for o in others)
    )


def table(report, names) -> str:
    lines = ["| policy | success | mean cost | mean reward | mean steps |", "|---|---|---|---|---|"]
    for name in names:
        r = report.results[name]
        lines.append(f"| {name} | {r.success:.3f} | {r.mean_cost:.3f} | {r.mean_reward:.3f} | {r.mean_steps:.2f} |")
    return "\n".join(lines)


def family_table(report, names) -> str:
    families = list(report.results[names[0]].per_family)
    lines = ["| family | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for family in families:
        cells = []
        for name in names:
            f = report.results[name].per_family[family]
            cells.append(f"{f['success']:.2f} / {f['mean_cost']:.2f}")
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=170.0, help="seconds of training + validation (target: 180)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the policy is tiny)")
    parser.add_argument("--val", type=int, default=300, help="training tasks held out for validation")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = TrainConfig.from_dict({**CONFIG.to_dict(), "seed": args.seed})

    started = time.perf_counter()
    bench = routing_benchmark(seed=args.seed)
    env, test = bench.environment, bench.test
    fit, val = bench.train[: -args.val], bench.train[-args.val :]
    setup_s = time.perf_counter() - started
    print(f"benchmark: {len(fit)} train / {len(val)} validation / {len(test)} test tasks, {setup_s:.1f}s to build")

    steps = config.max_steps
    chain = baselines.cheapest_fixed_chain(env, fit[:60], max_steps=steps, agents=bench.specialists)
    reference = {
        "random": baselines.RandomChooser(env, seed=args.seed),
        "fixed_chain": baselines.FixedChain(chain),
        "generalist": baselines.single_agent(bench.generalist),
        "oracle": baselines.Oracle(env, max_steps=steps),
    }
    print(f"cheapest fixed chain of specialists: {' -> '.join(chain)}")
    val_reference = evaluate(env, val, reference, max_steps=steps, cost_weight=config.cost_weight)
    val_oracle = val_reference.results["oracle"]
    val_baselines = [val_reference.results[n] for n in BASELINES]

    trainer = Trainer(env, fit, config)
    sampler = _sampler(trainer)
    before = fold_topology([tuple(o.agent for o in run_episode(env, t, sampler, max_steps=steps)) for t in test])

    best_blob, best_reward, met = trainer.checkpoint(), float("-inf"), False
    train_s = episodes = 0.0
    validate_s = 0.0
    print("epoch  episodes  train_s  eps/s   reward  success  cost   entropy | val success  cost  reward")
    while train_s + validate_s < args.budget:
        metrics = trainer.train_epoch()
        train_s += metrics.seconds
        episodes += metrics.episodes
        t0 = time.perf_counter()
        result = evaluate(env, val, {"router": trainer.orchestrator()}, max_steps=steps).results["router"]
        validate_s += time.perf_counter() - t0
        print(
            f"{metrics.epoch:5d} {int(episodes):9d} {train_s:8.1f} {metrics.episodes_per_s:6.0f} "
            f"{metrics.mean_reward:8.3f} {metrics.success_rate:8.3f} {metrics.mean_cost:5.2f} {metrics.entropy:8.3f} "
            f"| {result.success:11.3f} {result.mean_cost:5.2f} {result.mean_reward:7.3f}",
            flush=True,
        )
        if result.mean_reward > best_reward:
            best_blob, best_reward = trainer.checkpoint(), result.mean_reward
        # Stop once validation meets the targets with room to spare (held-out tasks differ).
        roomy = result.success >= 0.97 and result.mean_cost <= 1.05 * val_oracle.mean_cost
        if roomy and meets_targets(result, val_oracle, val_baselines):
            met = True
            break
    throughput = episodes / train_s if train_s else 0.0
    print(
        f"trained {int(episodes)} episodes in {train_s:.1f}s ({throughput:.0f} episodes/s); "
        f"validation took {validate_s:.1f}s"
    )

    router = Orchestrator.from_checkpoint(best_blob)
    report = evaluate(env, test, {"router": router, **reference}, max_steps=steps, cost_weight=config.cost_weight)
    after = fold_topology(report.trajectories("router"))
    oracle_graph = fold_topology(report.trajectories("oracle"))

    names = ["router", *reference]
    print(table(report, names))
    print(family_table(report, names))
    for label, graph in (("before training", before), ("after training", after), ("oracle", oracle_graph)):
        edges = ", ".join(f"{s}->{t}:{c}" for (s, t), c in sorted(graph.edges.items(), key=lambda e: -e[1])[:8])
        print(f"topology {label}: density={graph.density:.2f} cycles={graph.cycles} edges={len(graph.edges)} [{edges}]")

    r, oracle = report.results["router"], report.results["oracle"]
    ratio = r.mean_cost / oracle.mean_cost
    margin = r.mean_reward - max(report.results[n].mean_reward for n in BASELINES)
    passed = r.success >= TARGET_SUCCESS and ratio <= TARGET_COST_RATIO and margin > 0 and train_s + validate_s <= 180
    record(
        "train_router",
        f"""## train_router

Puppeteer-style learned router (REINFORCE, `apps/engine/puppeteer/`) on the built-in
offline routing benchmark (seed {args.seed}): {len(fit)} training tasks, {len(val)} validation,
{len(test)} held-out test tasks whose entities, numbers and words never occur in training.
Reward = success - {config.cost_weight} x cost. Costs: {", ".join(f"{a.name} {a.cost:g}" for a in env.agents)}.
Hyperparameters: batch {config.batch_size}, Adam lr {config.learning_rate}, {config.baseline.value} baseline,
entropy bonus {config.entropy_coef} decaying to {config.entropy_coef_final} over {config.entropy_decay_episodes}
episodes, advantage normalisation {"on" if config.normalize_advantages else "off"}, step limit {config.max_steps}.

Held-out test split:

{table(report, names)}

Per family (success / mean cost):

{family_table(report, names)}

Training: {int(episodes)} episodes in {train_s:.1f} s of rollouts and updates plus
{validate_s:.1f} s of validation ({throughput:.0f} episodes/s on
{args.threads} torch thread(s), a shared 2-core machine, so throughput varies with load);
{"stopped early on validation" if met else "stopped at the time budget"}; benchmark setup
(embedder load, embeddings) {setup_s:.1f} s, not counted.

Agent graph (Puppeteer's topology analysis): sampled from the untrained policy,
density {before.density:.2f} and {before.cycles} cycles over {len(before.edges)} edges;
the trained router's greedy routes, density {after.density:.2f} and {after.cycles} cycles
over {len(after.edges)} edges (the oracle's: {oracle_graph.density:.2f}, {oracle_graph.cycles}).

Result: success {r.success:.3f} (target >= {TARGET_SUCCESS}), cost ratio to the oracle
{ratio:.3f} (target <= {TARGET_COST_RATIO}), reward margin over the best baseline
{margin:+.3f} (target > 0): **{"PASS" if passed else "FAIL"}**.
""",
    )
    print(
        f"RESULT train_router success={r.success:.3f},cost_ratio={ratio:.3f},reward_margin={margin:.3f},"
        f"train_s={train_s + validate_s:.1f},episodes={int(episodes)} "
        f"target=success>={TARGET_SUCCESS},cost_ratio<={TARGET_COST_RATIO},reward_margin>0,train_s<=180 "
        f"{'PASS' if passed else 'FAIL'}"
    )


def _sampler(trainer: Trainer):
    """The untrained policy, sampling (what training starts from)."""
    orchestrator = trainer.orchestrator()
    generator = torch.Generator().manual_seed(trainer.config.seed)

    def choose(task, history):
        return orchestrator.choose(task.text, history, greedy=False, generator=generator)

    return choose


if __name__ == "__main__":
    main()
