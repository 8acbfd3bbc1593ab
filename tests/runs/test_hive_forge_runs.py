"""HIVE and FORGE runs through the run services, a real Celery worker, the API and the run page."""

import pytest
from rest_framework.test import APIClient

from apps.runs import services
from apps.runs.models import RunEvent, RunStatus
from tests.conftest import drive, wait_for_run

CODE = "def add(a, b):\n    return a + b"


@pytest.fixture
def hive(make_agent, make_swarm):
    vote_first = {"match": "^VOTE", "reply": "1"}
    agents = [
        make_agent("ann", config={"rules": [vote_first], "default": "42"}),
        make_agent("ben", config={"rules": [vote_first], "default": "42", "delay_ms": 5}),
        make_agent("cat", config={"rules": [{"match": "^VOTE", "reply": "2"}], "default": "41"}),
        make_agent("dan", config={"replies": [{"error": "model down"}], "cycle": True}),
    ]
    return make_swarm(name="hive", strategy="hive", agents=agents, strategy_config={"threshold": 0.6})


@pytest.fixture
def forge(make_agent, make_swarm):
    agents = [
        make_agent(
            "coder",
            config={"replies": [CODE, CODE + "\n\nassert add(2, 3) == 5"]},
        ),
        make_agent("tester", provider="skill", config={"skill": "judge", "mode": "contains", "expected": "assert"}),
        make_agent(
            "reviewer",
            config={
                "rules": [{"match": "assert add", "reply": '{"score": 0.9, "critique": "tested, good"}'}],
                "default": '{"score": 0.4, "critique": "add a test"}',
                "delay_ms": 5,
            },
        ),
    ]
    config = {
        "generator": "coder",
        "critics": [{"agent": "tester", "input": "{{ draft }}"}, {"agent": "reviewer"}],
        "max_iterations": 4,
    }
    return make_swarm(name="forge", strategy="forge", agents=agents, strategy_config=config)


def check_hive(run):
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.result == "42"
    record = run.state["record"][0]
    assert record["tally"] == {"0": 2, "1": 1} and set(record["abstained"]) == {"dan"}
    assert run.messages.filter(sender="system", content__contains="dan abstains from the propose").exists()
    panels = [e.data for e in RunEvent.objects.filter(run=run, kind="strategy.progress")]
    assert panels[-1]["view"] == "hive" and panels[-1]["outcome"]["consensus"] is True


def check_forge(run):
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.result.endswith("assert add(2, 3) == 5")
    drafts = run.state["drafts"]
    assert [d["iteration"] for d in drafts] == [1, 2]
    assert drafts[0]["critiques"]["tester"]["score"] == 0.0 and drafts[1]["critiques"]["reviewer"]["score"] == 0.9
    panel = RunEvent.objects.filter(run=run, kind="strategy.progress").last().data
    assert panel["outcome"]["accepted"] and {"op": "+", "text": "assert add(2, 3) == 5"} in panel["drafts"][1]["diff"]


@pytest.mark.django_db
def test_a_hive_run_reaches_consensus_with_a_failing_member_abstaining(alice, hive):
    check_hive(drive(services.start_run(swarm=hive, task="What is 6 * 7?", user=alice)))


@pytest.mark.django_db
def test_a_forge_run_revises_until_every_critic_accepts(alice, forge):
    check_forge(drive(services.start_run(swarm=forge, task="Write add(a, b)", user=alice)))


@pytest.mark.worker
def test_hive_and_forge_through_a_real_worker(alice, hive, forge, celery_worker):
    hive_run = services.start_run(swarm=hive, task="What is 6 * 7?", user=alice)
    forge_run = services.start_run(swarm=forge, task="Write add(a, b)", user=alice)
    check_hive(wait_for_run(hive_run, timeout=30))
    check_forge(wait_for_run(forge_run, timeout=30))
    proposals = hive_run.steps.filter(key__startswith="r1-propose-")
    assert proposals.count() == 4  # the four proposals ran as separate steps on the worker


@pytest.mark.django_db
def test_the_run_page_shows_the_panels_and_the_draft_diff(client, alice, hive, forge):
    client.force_login(alice)
    hive_run = drive(services.start_run(swarm=hive, task="What is 6 * 7?", user=alice))
    page = client.get(f"/runs/{hive_run.pk}/").content.decode()
    assert 'id="strategy-panel"' in page and "Consensus in round 1" in page and "Abstained: dan" in page
    forge_run = drive(services.start_run(swarm=forge, task="Write add(a, b)", user=alice))
    page = client.get(f"/runs/{forge_run.pk}/").content.decode()
    assert "Critics' scores over iterations" in page and 'class="diff-line diff-add">+ assert add(2, 3) == 5' in page
    diff = client.get(f"/runs/{forge_run.pk}/drafts/?a=2&b=1").content.decode()
    assert 'diff-del">- assert add(2, 3) == 5' in diff
    assert client.get(f"/runs/{forge_run.pk}/drafts/?a=9").status_code == 404
    assert client.get(f"/runs/{hive_run.pk}/drafts/").status_code == 404


@pytest.mark.django_db
def test_the_api_creates_hive_and_forge_swarms_and_refuses_bad_configs(alice, make_agent):
    api = APIClient()
    api.force_authenticate(alice)
    make_agent("ann"), make_agent("ben")
    good = {"name": "h", "strategy": "hive", "members": ["ann", "ben"], "strategy_config": {"threshold": 0.8}}
    assert api.post("/api/swarms/", good, format="json").status_code == 201
    bad = {"name": "f", "strategy": "forge", "members": ["ann", "ben"]}
    bad["strategy_config"] = {"generator": "ann", "critics": [{"agent": "ghost", "threshold": 2}], "max_iterations": 0}
    response = api.post("/api/swarms/", bad, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_strategy_config"
    assert set(response.json()["error"]["fields"]) == {
        "strategy_config.critics[0].agent",
        "strategy_config.critics[0].threshold",
        "strategy_config.max_iterations",
    }
