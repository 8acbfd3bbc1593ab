"""Training runs through the services: validation, epochs, stop/resume, evaluation, and a trained policy in a run."""

import json

import pytest

from apps.core.errors import Conflict, FieldsError
from apps.learning import services
from apps.learning.models import Checkpoint, EpochMetrics, TrainingRun, TrainingStatus
from apps.runs import services as run_services
from apps.runs.models import RunStatus
from apps.swarms.services import create_swarm
from tests.conftest import drive

pytestmark = pytest.mark.django_db

SMALL_BENCH = {"seed": 1, "train_size": 200, "test_size": 40}


def routing_dataset(n: int = 24) -> str:
    """Two task families: arithmetic (only the calculator solves it) and repetition (only the echo agent does)."""
    rows = []
    for i in range(n):
        a, b = 3 + i, 11 + 2 * i
        rows.append({"task": f"What is {a} + {b}?", "expected": a + b, "checker": "numeric", "family": "math"})
        word = ["apple", "river", "stone", "cloud", "ember", "maple"][i % 6] + str(i)
        rows.append({"task": f"Repeat the word {word}", "expected": word, "checker": "contains", "family": "repeat"})
    return "\n".join(json.dumps(r) for r in rows)


@pytest.fixture
def routing_swarm(alice, make_agent):
    calc = make_agent("calc", provider="skill", config={"skill": "calculator"})
    parrot = make_agent("parrot", provider="skill", config={"skill": "echo", "template": "{{ task }}"})
    return create_swarm(owner=alice, name="routers", strategy="sequential", members=[calc, parrot])


def test_bad_settings_are_all_reported_and_nothing_is_written(alice):
    with pytest.raises(FieldsError) as caught:
        services.start_training(
            owner=alice, name="x", config={"cost_weight": -1, "learning_rate": 0}, benchmark={"size": 3}, epochs=0
        )
    assert {"config", "benchmark", "epochs"} <= set(caught.value.fields)
    assert "cost_weight" in " ".join(caught.value.fields["config"])
    assert not TrainingRun.objects.exists()


def test_a_swarm_environment_needs_an_own_swarm_and_dataset(alice, bob, routing_swarm):
    dataset = services.create_dataset(owner=bob, name="bobs", jsonl=routing_dataset(2))
    with pytest.raises(FieldsError) as caught:
        services.start_training(owner=alice, name="x", environment="swarm", swarm=routing_swarm, dataset=dataset)
    assert set(caught.value.fields) == {"dataset"}
    with pytest.raises(FieldsError) as caught:
        services.start_training(owner=alice, name="x", environment="swarm", swarm=None, dataset=None)
    assert set(caught.value.fields) == {"swarm"}
    assert not TrainingRun.objects.exists()


def test_epochs_are_recorded_once_then_the_run_is_evaluated_against_baselines(alice):
    run = services.start_training(
        owner=alice, name="bench", benchmark=SMALL_BENCH, epochs=2, episodes_per_epoch=128, queue=False
    )
    first = services.run_epoch(run.pk, 1, queue_next=False)
    assert first is not None and first.metrics["episodes"] == 128
    assert services.run_epoch(run.pk, 1, queue_next=False) is None  # a redelivered epoch is not trained twice
    services.run_epoch(run.pk, 2, queue_next=False)
    run.refresh_from_db()
    assert run.status == TrainingStatus.COMPLETED, run.error
    assert run.epochs_done == 2 and run.episodes_done == 256
    assert EpochMetrics.objects.filter(training_run=run).count() == 2
    policies = run.evaluation["policies"]
    assert set(policies) == {"learned", "random", "fixed_chain", "generalist", "oracle"}
    for result in policies.values():
        assert {"success", "mean_cost", "mean_reward", "mean_steps", "per_family"} <= set(result)
    assert policies["oracle"]["success"] >= policies["random"]["success"]
    assert set(run.topology) == {"before", "after"}
    assert run.topology["after"]["nodes"]


def test_stop_takes_effect_between_epochs_and_resume_continues_from_the_checkpoint(alice):
    run = services.start_training(
        owner=alice, name="bench", benchmark=SMALL_BENCH, epochs=3, episodes_per_epoch=64, queue=False
    )
    services.run_epoch(run.pk, 1, queue_next=False)
    services.stop_training(run)
    assert services.run_epoch(run.pk, 2, queue_next=False) is None
    with pytest.raises(Conflict):
        services.stop_training(run)
    services.resume_training(run)
    run.refresh_from_db()
    assert run.status == TrainingStatus.QUEUED
    services.run_epoch(run.pk, 2, queue_next=False)
    assert list(Checkpoint.objects.filter(training_run=run).values_list("epoch", flat=True)) == [2, 1]
    run.refresh_from_db()
    assert run.epochs_done == 2 and run.status == TrainingStatus.RUNNING


def test_a_policy_trained_on_a_swarm_routes_each_family_to_the_agent_that_solves_it(alice, routing_swarm, client):
    # One call per episode keeps this a quick contextual bandit over the task embedding; multi-step
    # routing (call, then stop or call another) is covered by the engine tests and bench/train_router.py.
    dataset = services.create_dataset(owner=alice, name="routing", jsonl=routing_dataset(), test_fraction=0.25)
    run = services.start_training(
        owner=alice,
        name="swarm-router",
        environment="swarm",
        swarm=routing_swarm,
        dataset=dataset,
        config={"seed": 3, "max_steps": 1, "cost_weight": 0.2, "batch_size": 32, "entropy_coef": 0.05},
        call_costs={"calc": 1.0, "parrot": 1.0},
        epochs=6,
        episodes_per_epoch=128,
        queue=False,
    )
    for epoch in range(1, 7):
        services.run_epoch(run.pk, epoch, queue_next=False)
    run.refresh_from_db()
    assert run.status == TrainingStatus.COMPLETED, run.error
    learned = run.evaluation["policies"]["learned"]
    assert learned["success"] >= 0.9, run.evaluation
    assert learned["mean_reward"] > run.evaluation["policies"]["random"]["mean_reward"]

    # The checkpoint orchestrates a real run of the swarm through the puppeteer strategy.
    live = create_swarm(
        owner=alice,
        name="routed",
        strategy="puppeteer",
        strategy_config={"training_run": run.pk},
        members=[m.agent for m in routing_swarm.members.order_by("position")],
    )
    math_run = drive(run_services.start_run(swarm=live, task="What is 40 + 2?", user=alice))
    assert math_run.status == RunStatus.SUCCEEDED, math_run.error
    assert math_run.result.strip() == "42"
    assert [s.agent_name for s in math_run.steps.all()] == ["calc"]
    panel = math_run.events.filter(kind="strategy.progress").order_by("seq").last().data
    assert panel["view"] == "puppeteer" and [t["agent"] for t in panel["turns"]] == ["calc"] and panel["stopped"]
    client.force_login(alice)
    page = client.get(f"/runs/{math_run.pk}/").content.decode()
    assert "Orchestrator decisions" in page and f"training run {run.pk}" in page
    echo_run = drive(run_services.start_run(swarm=live, task="Repeat the word zebra", user=alice))
    assert "zebra" in echo_run.result
    assert [s.agent_name for s in echo_run.steps.all()] == ["parrot"]


def test_the_puppeteer_strategy_refuses_a_policy_for_other_agents(alice, make_agent):
    run = services.start_training(
        owner=alice, name="b", benchmark=SMALL_BENCH, epochs=1, episodes_per_epoch=32, queue=False
    )
    services.run_epoch(run.pk, 1, queue_next=False)
    with pytest.raises(FieldsError) as caught:
        create_swarm(
            owner=alice,
            name="wrong",
            strategy="puppeteer",
            strategy_config={"training_run": run.pk},
            members=[make_agent("solo")],
        )
    assert "lacks" in json.dumps(caught.value.fields)


def test_a_puppeteer_swarm_cannot_use_someone_elses_policy(alice, bob, make_agent):
    run = services.start_training(
        owner=alice, name="a", benchmark=SMALL_BENCH, epochs=1, episodes_per_epoch=16, queue=False
    )
    services.run_epoch(run.pk, 1, queue_next=False)
    # bob has agents named like the benchmark's, so only ownership stands in the way
    names = ["calculator", "converter", "text_tools", "retriever", "generalist"]
    bobs = [make_agent(n, owner=bob) for n in names]
    with pytest.raises(FieldsError) as caught:
        create_swarm(
            owner=bob, name="stolen", strategy="puppeteer", strategy_config={"training_run": run.pk}, members=bobs
        )
    assert list(caught.value.fields) == ["strategy_config.training_run"]
    alices = [make_agent(n) for n in names]
    create_swarm(
        owner=alice, name="mine", strategy="puppeteer", strategy_config={"training_run": run.pk}, members=alices
    )
