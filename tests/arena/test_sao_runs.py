"""SAO runs: a calculator climbs the arithmetic curriculum, a guesser stays down; progress persists
and is resumed; the ladder on the run page and the curriculum page; a real worker; the websocket."""

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from apps.arena.models import CurriculumAttempt, CurriculumProgress
from apps.runs import services
from apps.runs.models import RunEvent, RunStatus
from tests.conftest import drive, wait_for_run
from tests.runs.test_run_consumer import communicator, receive_all, session_cookie


@pytest.fixture
def curriculum(make_agent, make_swarm):
    agents = [
        make_agent("calc", provider="skill", config={"skill": "calculator"}),
        make_agent("guesser", config={"default": "7"}),
    ]
    config = {"seed": 3, "max_attempts": 4, "time_limit_s": 30}  # four arithmetic levels by default
    return make_swarm(name="school", strategy="sao", agents=agents, strategy_config=config)


def check(run):
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert "calc: reached the top, total reward 8.5" in run.result
    assert "guesser: at level 1 of 4, total reward 0" in run.result
    progress = {p.agent.name: p for p in CurriculumProgress.objects.select_related("agent")}
    calc, guesser = progress["calc"], progress["guesser"]
    assert calc.reached_top and calc.total_reward == 8.5 and (calc.passes, calc.fails) == (4, 0)
    assert guesser.level == 1 and (guesser.passes, guesser.fails, guesser.attempts) == (0, 4, 4)
    attempts = CurriculumAttempt.objects.filter(run=run).order_by("number")
    assert sorted(a.number for a in attempts) == list(range(1, 9))
    assert [(a.level, a.passed, a.reward) for a in attempts if a.agent.name == "calc"] == [
        (1, True, 0.5),
        (2, True, 1.0),
        (3, True, 2.0),
        (4, True, 5.0),
    ]


@pytest.mark.django_db
def test_the_calculator_reaches_the_top_and_progress_is_resumed_by_the_next_run(alice, curriculum):
    check(drive(services.start_run(swarm=curriculum, task="arithmetic drills", user=alice)))
    second = drive(services.start_run(swarm=curriculum, task="again", user=alice))
    assert second.status == RunStatus.SUCCEEDED, second.error
    assert not second.steps.filter(agent_name="calc").exists()  # already at the top: nothing to do
    assert [s.key for s in second.steps.order_by("index")] == ["guesser#5", "guesser#6", "guesser#7", "guesser#8"]
    guesser = CurriculumProgress.objects.get(agent__name="guesser")
    assert guesser.attempts == 8 and guesser.level_attempts == {"1": 8}
    assert second.state["agents"]["calc"]["total_reward"] == 8.5


@pytest.mark.django_db
def test_an_answer_over_the_time_limit_fails_the_level(alice, make_agent, make_swarm):
    slow = make_agent("slow", config={"default": "hi", "delay_ms": 400})
    config = {"levels": [{"source": {"dataset": [{"task": "say hi", "expected": "hi"}]}, "time_limit_s": 0.2}]}
    config["max_attempts"] = 1
    run = drive(
        services.start_run(
            swarm=make_swarm(name="fast", strategy="sao", agents=[slow], strategy_config=config), task="t", user=alice
        )
    )
    attempt = CurriculumAttempt.objects.get(run=run)
    assert not attempt.passed and "over time" in attempt.reason
    assert run.steps.get().timeout_s == 0.2


@pytest.mark.worker
def test_a_curriculum_run_through_a_real_worker(alice, curriculum, celery_worker):
    run = wait_for_run(services.start_run(swarm=curriculum, task="arithmetic drills", user=alice), timeout=30)
    check(run)
    assert run.steps.filter(key__startswith="calc#").count() == 4


@pytest.mark.django_db
def test_the_run_page_shows_the_ladder_and_the_curriculum_page_the_standings(client, alice, bob, curriculum):
    run = drive(services.start_run(swarm=curriculum, task="drills", user=alice))
    client.force_login(alice)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert (
        'class="ladder"' in page
        and 'data-agent="calc" data-level="4"' in page
        and "calc</b> level 4: passed (+5.0)" in page
    )
    standings = client.get(f"/arena/curriculum/{curriculum.pk}/").content.decode()
    assert 'hx-trigger="every 5s"' in standings and '<tr data-agent="calc" class="leader">' in standings
    assert "<polyline" in standings and "failed" in standings
    partial = client.get(f"/arena/curriculum/{curriculum.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "<h1>" not in partial and "Standings" in partial
    assert "school</a>" in client.get("/arena/").content.decode()
    client.force_login(bob)
    assert client.get(f"/arena/curriculum/{curriculum.pk}/").status_code == 404


@pytest.mark.django_db
def test_the_api_creates_sao_swarms_and_refuses_bad_configs(alice, make_agent):
    api = APIClient()
    api.force_authenticate(alice)
    make_agent("ann")
    levels = [
        {"name": "easy", "reward": 1, "source": "strings"},
        {"source": {"dataset": [{"task": "2+2", "expected": 4, "checker": "numeric"}]}},
    ]
    good = {"name": "s", "strategy": "sao", "members": ["ann"], "strategy_config": {"levels": levels}}
    assert api.post("/api/swarms/", good, format="json").status_code == 201
    bad = {"name": "b", "strategy": "sao", "members": ["ann"]}
    bad["strategy_config"] = {"levels": [{"setback": 2, "time_limit_s": 0}], "max_attempts": 0}
    response = api.post("/api/swarms/", bad, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_strategy_config"
    assert set(response.json()["error"]["fields"]) == {
        "strategy_config.levels[0].setback",
        "strategy_config.levels[0].time_limit_s",
        "strategy_config.max_attempts",
    }


@pytest.mark.django_db(transaction=True)
async def test_a_watcher_sees_the_agents_climb(alice, curriculum):
    run = await sync_to_async(lambda: drive(services.start_run(swarm=curriculum, task="m", user=alice)))()
    comm = communicator(run.pk, await sync_to_async(session_cookie)(alice))
    assert (await comm.connect())[0]
    panels = [e["data"] for e in await receive_all(comm, timeout=0.5) if e["kind"] == "strategy.progress"]
    assert panels[0]["view"] == "sao" and all(row["level"] == 1 for row in panels[0]["agents"])
    final = {row["agent"]: row for row in panels[-1]["agents"]}
    assert final["calc"]["reached_top"] and final["guesser"]["status"] == "out" and panels[-1]["finished"]
    levels = [next(r["level"] for r in p["agents"] if r["agent"] == "calc") for p in panels]
    assert levels == sorted(levels) and levels[-1] == 4  # climbing, seen step by step
    assert await sync_to_async(RunEvent.objects.filter(run=run, kind="strategy.progress").count)() == len(panels)
    await comm.disconnect()

    comm = communicator(run.pk, await sync_to_async(session_cookie)(alice), query="")  # HTML, as htmx gets it
    assert (await comm.connect())[0]
    fragments = []
    while not await comm.receive_nothing(timeout=0.5):
        fragments.append(await comm.receive_from())
    ladders = [f for f in fragments if 'id="strategy-panel"' in f]
    assert len(ladders) == len(panels) and 'hx-swap-oob="true"' in ladders[-1]
    assert 'data-agent="calc" data-level="4"' in ladders[-1] and "sao-top" in ladders[-1]
    await comm.disconnect()


@pytest.mark.django_db
def test_an_llm_judge_speaking_the_openai_protocol_grades_the_attempts(alice, make_agent, make_swarm):
    import json

    from tests.support.openai_server import LocalOpenAIServer, ScriptedResponse

    def verdict(score, reasoning):
        reply = {"winner": None, "scores": {"student": score}, "reasoning": reasoning, "confidence": 0.9}
        return ScriptedResponse(content=json.dumps(reply))

    server = LocalOpenAIServer().start()
    try:
        server.responses += [
            ScriptedResponse(content="Looks right to me!"),  # not a verdict: the judge is asked again
            verdict(0.9, "Paris is the capital of France."),
            verdict(0.1, "Lyon is not the capital of Italy."),
        ]
        student = make_agent("student", config={"replies": ["Paris", "Lyon"]})
        grader = make_agent(
            "grader",
            provider="openai",
            privileges=["model.local-model"],
            config={"base_url": server.base_url, "model": "local-model", "timeout_s": 5},
        )
        levels = [
            {"source": {"dataset": [{"task": "Capital of France?", "expected": "Paris"}]}},
            {"source": {"dataset": [{"task": "Capital of Italy?", "expected": "Rome"}]}},
        ]
        config = {"levels": levels, "judge": {"kind": "llm", "agent": "grader", "retries": 1}, "max_attempts": 2}
        swarm = make_swarm(name="quiz", strategy="sao", agents=[student, grader], strategy_config=config)
        run = drive(services.start_run(swarm=swarm, task="geography", user=alice))
    finally:
        server.stop()
    assert run.status == RunStatus.SUCCEEDED, run.error
    attempts = list(CurriculumAttempt.objects.filter(run=run).order_by("number"))
    assert [(a.level, a.answer, a.passed) for a in attempts] == [(1, "Paris", True), (2, "Lyon", False)]
    assert "Paris is the capital of France." in attempts[0].reason and "Lyon is not" in attempts[1].reason
    prompts = [r["messages"][-1]["content"] for r in server.requests]
    assert len(prompts) == 3
    assert "Capital of France?" in prompts[0] and "Reference answer: Paris" in prompts[0]
    assert "could not be used" in prompts[1]  # the retry says why the first reply failed
    assert "Capital of Italy?" in prompts[2] and "Lyon" in prompts[2]
    assert run.steps.filter(agent_name="grader").count() == 3  # the judge's calls are steps of the run
