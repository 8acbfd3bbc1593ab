"""ORC runs: trials on the workers, ratings persisted and reloaded, leaderboard, live events."""

import pytest
from asgiref.sync import sync_to_async

from apps.arena.models import Rating, Trial
from apps.arena.services import infer_domains
from apps.runs import services
from apps.runs.models import RunEvent, RunStatus
from tests.conftest import drive, wait_for_run
from tests.runs.test_run_consumer import communicator, receive_all, session_cookie


@pytest.fixture
def arena(make_agent, make_swarm):
    agents = [
        make_agent("sage", config={"default": "42"}),
        make_agent("calc", provider="skill", config={"skill": "calculator"}),
        make_agent("guesser", config={"default": "41", "delay_ms": 5}),
    ]
    config = {
        "domains": {"math": {"description": "arithmetic and numbers", "agents": ["sage", "calc", "guesser"]}},
        "tasks": [{"task": "6 * 7", "expected": "42"}, {"task": "40 + 2", "expected": "42"}],
        "judge": {"kind": "rule", "mode": "numeric"},
        "challenge": {"pick": "round_robin"},
    }
    return make_swarm(name="arena", strategy="orc", agents=agents, strategy_config=config)


def check(run):
    assert run.status == RunStatus.SUCCEEDED, run.error
    trials = list(Trial.objects.filter(run=run).order_by("number"))
    # task 1: calc challenges sage; both say 42: a tie, sage keeps the lead. task 2: guesser challenges and loses.
    assert [(t.leader, t.challengers, t.winner, t.tie) for t in trials] == [
        ("sage", ["calc"], "sage", True),
        ("sage", ["guesser"], "sage", False),
    ]
    ratings = {r.agent.name: r for r in Rating.objects.filter(domain="math").select_related("agent")}
    assert ratings["sage"].is_leader and ratings["sage"].defence_streak == 2 and ratings["sage"].trials == 2
    assert ratings["guesser"].losses == 1 and ratings["guesser"].rating < 1000 < ratings["sage"].rating
    return ratings


@pytest.mark.django_db
def test_ratings_persist_and_the_next_run_starts_from_them(alice, arena):
    check(drive(services.start_run(swarm=arena, task="math drills", user=alice)))
    sage_before = Rating.objects.get(agent__name="sage").rating
    second = drive(services.start_run(swarm=arena, task="math drills", user=alice))
    sage = Rating.objects.get(agent__name="sage")
    assert second.state["ratings"]["math"]["sage"]["trials"] == 4  # 2 loaded from the first run, 2 more
    assert sage.trials == 4 and sage.rating >= sage_before and Trial.objects.count() == 4


@pytest.mark.worker
def test_an_orc_run_through_a_real_worker(alice, arena, celery_worker):
    run = wait_for_run(services.start_run(swarm=arena, task="math drills", user=alice), timeout=30)
    check(run)
    assert run.steps.filter(key__startswith="t1-trial-").count() == 2  # leader and challenger as two steps


@pytest.mark.django_db
def test_the_leaderboard_and_run_page_show_ratings_and_trials(client, alice, arena):
    run = drive(services.start_run(swarm=arena, task="math drills", user=alice))
    client.force_login(alice)
    page = client.get("/arena/?domain=math").content.decode()
    assert 'data-domain="math"' in page and "leader: <b>sage</b>" in page and "tie (to the leader)" in page
    assert client.get("/arena/", HTTP_HX_REQUEST="true").content.decode().count("<section") == 2
    run_page = client.get(f"/runs/{run.pk}/").content.decode()
    assert 'class="orc-leader">sage' in run_page and "guesser vs sage" in run_page


@pytest.mark.django_db
def test_task_domains_are_inferred_from_the_text_with_sentence_embeddings():
    domains = {"math": "arithmetic, numbers and equations", "cooking": "recipes, food and kitchens"}
    assert infer_domains(["What is 17 times 3?", "How long do I boil an egg?"], domains) == ["math", "cooking"]


@pytest.mark.django_db(transaction=True)
async def test_a_watcher_sees_orc_progress(alice, arena):
    run = await sync_to_async(lambda: drive(services.start_run(swarm=arena, task="m", user=alice)))()
    comm = communicator(run.pk, await sync_to_async(session_cookie)(alice))
    assert (await comm.connect())[0]
    panels = [e["data"] for e in await receive_all(comm, timeout=0.5) if e["kind"] == "strategy.progress"]
    assert panels[0]["view"] == "orc" and panels[-1]["trials"][0]["winner"] == "sage"
    assert await sync_to_async(RunEvent.objects.filter(run=run, kind="strategy.progress").count)() == len(panels)
    await comm.disconnect()
