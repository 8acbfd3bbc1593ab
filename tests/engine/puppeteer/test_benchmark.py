"""The built-in routing benchmark: its agents, its splits, its oracle and its fixed chain.

Uses the real sentence embedder (the retriever searches by embedding); the model
loads once for the module.
"""

import itertools

import pytest

from apps.engine.puppeteer import baselines, evaluate, routing_benchmark
from apps.engine.puppeteer.benchmark.tasks import FAMILIES

# Which single agent, or which pair in order, solves each family.
SOLVES = {
    "arithmetic": ("calculator",),
    "conversion": ("converter",),
    "text": ("text_tools",),
    "lookup": ("retriever",),
    "lookup_compute": ("retriever", "calculator"),
    "lookup_convert": ("retriever", "converter"),
}


@pytest.fixture(scope="module")
def bench():
    return routing_benchmark(seed=0, train_size=120, test_size=60)


def run(env, task, names):
    index = [a.name for a in env.agents]
    history = []
    for name in names:
        history.append(env.act(task, history, index.index(name)))
    return history


def test_both_splits_cover_every_family_evenly(bench):
    for tasks in (bench.train, bench.test):
        counts = {f: sum(t.family == f for t in tasks) for f in FAMILIES}
        assert set(counts.values()) == {len(tasks) // len(FAMILIES)}


def test_held_out_tasks_are_new_instances_with_new_entities(bench):
    big = routing_benchmark(seed=0, train_size=600, test_size=120, embedder=bench.retriever.embedder)
    train_texts = " ".join(t.text for t in big.train)
    assert not {t.text for t in big.test} & {t.text for t in big.train}
    for task in big.test:
        for entity in big.retriever.entities_in(task.text):
            assert entity not in train_texts, f"{entity} of a test task also occurs in training"


def test_each_specialist_solves_its_families_and_no_other(bench):
    env = bench.environment
    for task in bench.train + bench.test:
        for name in bench.specialists:
            solved = env.solved(task, run(env, task, [name]))
            assert solved == (SOLVES[task.family] == (name,)), (name, task.text)


def test_multi_hop_tasks_need_both_agents_in_order(bench):
    env = bench.environment
    for task in bench.test:
        if len(SOLVES[task.family]) == 2:
            first, second = SOLVES[task.family]
            assert env.solved(task, run(env, task, [first, second])), task.text
            assert not env.solved(task, run(env, task, [second, first])), task.text


def test_the_generalist_solves_everything(bench):
    env = bench.environment
    assert all(env.solved(t, run(env, t, [bench.generalist])) for t in bench.train + bench.test)


def test_failures_are_reported_as_errors_and_do_not_erase_an_answer(bench):
    env = bench.environment
    task = next(t for t in bench.test if t.family == "lookup")
    history = run(env, task, ["retriever", "calculator"])
    assert history[0].ok and not history[1].ok and history[1].kind == "error"
    assert env.solved(task, history)
    arithmetic = next(t for t in bench.test if t.family == "arithmetic")
    assert run(env, arithmetic, ["retriever"])[0].kind == "empty"


def test_the_oracle_finds_the_cheapest_correct_sequence(bench):
    env, names = bench.environment, [a.name for a in bench.environment.agents]
    costs = {a.name: a.cost for a in env.agents}
    for task in bench.test[:24]:
        plan = baselines.cheapest_solution(env, task, max_steps=3)
        assert plan is not None and env.solved(task, run(env, task, [names[k] for k in plan]))
        cheapest = min(
            sum(costs[n] for n in seq)
            for length in range(1, 4)
            for seq in itertools.product(names, repeat=length)
            if env.solved(task, run(env, task, seq))
        )
        assert sum(costs[names[k]] for k in plan) == cheapest
        assert tuple(names[k] for k in plan) == SOLVES[task.family]


def test_the_cheapest_fixed_chain_covers_every_family_and_is_wasteful(bench):
    env = bench.environment
    chain = baselines.cheapest_fixed_chain(env, bench.train[:30], max_steps=4, agents=bench.specialists)
    assert sorted(chain) == sorted(bench.specialists)
    report = evaluate(
        env,
        bench.test,
        {
            "chain": baselines.FixedChain(chain),
            "generalist": baselines.single_agent(bench.generalist),
            "oracle": baselines.Oracle(env, max_steps=4),
            "random": baselines.RandomChooser(env, seed=0),
        },
        max_steps=4,
    )
    results = report.results
    assert results["chain"].success == results["generalist"].success == results["oracle"].success == 1.0
    assert results["oracle"].mean_cost < results["generalist"].mean_cost < results["chain"].mean_cost
    assert results["random"].success < 0.8
    assert set(report.to_dict()["oracle"]["per_family"]) == set(FAMILIES)
