import numpy as np
import pytest
import torch

from apps.engine.puppeteer import (
    TERMINATE,
    EpochMetrics,
    Orchestrator,
    Outcome,
    TrainConfig,
    Trainer,
    evaluate,
)

from .toys import EchoEnvironment, HashEmbedder, task

SMALL = dict(batch_size=64, episodes_per_epoch=256, hidden_size=32, learning_rate=1e-2, entropy_coef=0.01)


def bandit():
    """Two free arms; only "b" wins."""
    return EchoEnvironment({"a": 0.0, "b": 0.0}), [task("pull an arm", "b")]


def contextual():
    """Four tasks; "x" solves the alpha ones, "y" the beta ones; every call costs 1."""
    env = EchoEnvironment({"x": 1.0, "y": 1.0})
    tasks = [
        task("alpha: first job", "x"),
        task("alpha: second job", "x"),
        task("beta: first job", "y"),
        task("beta: second job", "y"),
    ]
    return env, tasks


def comparable(metrics: EpochMetrics) -> dict:
    data = metrics.to_dict()
    del data["episodes_per_s"], data["seconds"]
    return data


def test_choosing_terminate_ends_the_episode():
    env, tasks = contextual()
    trainer = Trainer(env, tasks, TrainConfig(**SMALL, max_steps=4), embedder=HashEmbedder())
    batch = trainer.rollout(trainer.sample_tasks(200))
    terminate = len(env.agents)
    agent_calls = 0
    for row, length in zip(batch.actions, batch.lengths.tolist(), strict=True):
        taken = row[:length].tolist()
        assert (row[length:] == -1).all()
        assert terminate not in taken[:-1], "nothing runs after terminate"
        agent_calls += sum(a != terminate for a in taken)
    assert agent_calls == len(env.calls)
    assert (batch.actions[:, 0] == terminate).any(), "the test needs some early terminations"


def test_a_policy_that_always_terminates_calls_no_agent():
    env, tasks = contextual()
    trainer = Trainer(env, tasks, TrainConfig(**SMALL), embedder=HashEmbedder())
    with torch.no_grad():
        trainer.policy.actor.bias[-1] = 50.0
    metrics = trainer.train_epoch(64)
    assert env.calls == []
    assert metrics.mean_steps == 0.0 and metrics.success_rate == 0.0
    assert metrics.agent_usage[TERMINATE] == 1.0


def test_a_seeded_run_is_reproducible_and_the_seed_matters():
    def run(seed):
        env, tasks = contextual()
        trainer = Trainer(env, tasks, TrainConfig(**SMALL, seed=seed), embedder=HashEmbedder())
        metrics = [comparable(trainer.train_epoch()) for _ in range(2)]
        return metrics, trainer.policy.state_dict()

    first, weights = run(7)
    again, weights_again = run(7)
    other, other_weights = run(8)
    assert first == again
    assert all(torch.equal(weights[k], weights_again[k]) for k in weights)
    assert first != other
    assert not all(torch.equal(weights[k], other_weights[k]) for k in weights)


def test_it_learns_a_two_armed_bandit():
    env, tasks = bandit()
    trainer = Trainer(env, tasks, TrainConfig(**SMALL, max_steps=1), embedder=HashEmbedder())
    first = trainer.train_epoch()
    for _ in range(6):
        last = trainer.train_epoch()
    assert first.success_rate < 0.6
    assert last.success_rate > 0.95
    assert last.agent_usage["b"] > 0.9


def test_it_learns_to_route_by_task_and_stop_after_the_right_agent():
    env, tasks = contextual()
    config = TrainConfig(**SMALL, max_steps=3, cost_weight=0.1)
    trainer = Trainer(env, tasks, config, embedder=HashEmbedder())
    first = trainer.train_epoch()
    for _ in range(15):
        last = trainer.train_epoch()
    assert first.mean_reward < 0.5
    assert last.success_rate > 0.95
    assert last.mean_reward > first.mean_reward + 0.4
    assert last.mean_steps < 1.2  # one call, then terminate
    report = evaluate(env, tasks, {"learned": trainer.orchestrator()}, max_steps=3)
    assert report.results["learned"].success == 1.0
    assert report.results["learned"].mean_cost == 1.0


@pytest.mark.parametrize("baseline", ["value", "moving_average", "none"])
def test_every_baseline_runs_and_learns_the_bandit(baseline):
    env, tasks = bandit()
    trainer = Trainer(env, tasks, TrainConfig(**SMALL, max_steps=1, baseline=baseline), embedder=HashEmbedder())
    for _ in range(6):
        metrics = trainer.train_epoch()
    assert metrics.success_rate > 0.9


def test_checkpoint_then_resume_continues_identically():
    env, tasks = contextual()
    config = TrainConfig(**{**SMALL, "entropy_coef": 0.05}, entropy_coef_final=0.0, entropy_decay_episodes=1000)
    trainer = Trainer(env, tasks, config, embedder=HashEmbedder())
    trainer.train_epoch()
    blob = trainer.checkpoint()
    expected = [comparable(trainer.train_epoch()) for _ in range(2)]

    resumed = Trainer.resume(blob, env, tasks, embedder=HashEmbedder())
    assert resumed.epoch == 1
    assert [comparable(resumed.train_epoch()) for _ in range(2)] == expected
    state, resumed_state = trainer.policy.state_dict(), resumed.policy.state_dict()
    assert all(torch.equal(state[k], resumed_state[k]) for k in state)


def test_resume_refuses_another_roster():
    env, tasks = contextual()
    blob = Trainer(env, tasks, TrainConfig(**SMALL), embedder=HashEmbedder()).checkpoint()
    other, _ = bandit()
    with pytest.raises(ValueError, match="routes between"):
        Trainer.resume(blob, other, tasks, embedder=HashEmbedder())


def test_an_orchestrator_from_a_checkpoint_chooses_as_the_trained_policy_does():
    env, tasks = contextual()
    trainer = Trainer(env, tasks, TrainConfig(**SMALL, max_steps=3), embedder=HashEmbedder())
    for _ in range(3):
        trainer.train_epoch()
    live = trainer.orchestrator()
    loaded = Orchestrator.from_checkpoint(trainer.checkpoint(), embedder=HashEmbedder())
    assert loaded.agent_names == ("x", "y")
    histories = [[], [Outcome("x", "x", 1.0, True, "text")], [Outcome("y", "y", 1.0, False, "error")]]
    for t in tasks:
        for history in histories:
            assert torch.allclose(loaded.probabilities(t.text, history), live.probabilities(t.text, history))
            assert loaded.choose(t.text, history) == live.choose(t.text, history)
            sampled = [
                loaded.choose(t.text, history, greedy=False, generator=torch.Generator().manual_seed(i))
                for i in range(5)
            ]
            again = [
                live.choose(t.text, history, greedy=False, generator=torch.Generator().manual_seed(i)) for i in range(5)
            ]
            assert sampled == again
    assert loaded.choose(tasks[0].text, histories[1] * 3) is None  # past the step limit it was trained with


def test_the_config_round_trips_and_names_bad_fields():
    config = TrainConfig(seed=3, baseline="moving_average", entropy_coef_final=0.001)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError) as error:
        TrainConfig.from_dict({"batch_size": "64", "gamma": 2.0, "learning_rat": 0.1})
    assert "batch_size" in str(error.value) and "learning_rat" in str(error.value)
    with pytest.raises(ValueError, match="gamma"):
        TrainConfig.from_dict({"gamma": 2.0})
    with pytest.raises(ValueError, match="baseline"):
        TrainConfig.from_dict({"baseline": "critic"})


def test_epoch_metrics_account_for_every_episode():
    env, tasks = contextual()
    trainer = Trainer(env, tasks, TrainConfig(**SMALL), embedder=HashEmbedder())
    metrics = trainer.train_epoch(100)  # one full batch and a partial one
    assert metrics.episodes == 100 and metrics.epoch == 1
    assert sum(metrics.agent_usage.values()) == pytest.approx(1.0)
    assert metrics.mean_cost == pytest.approx(metrics.mean_steps)  # every call costs 1
    assert np.isfinite(metrics.loss) and metrics.episodes_per_s > 0
