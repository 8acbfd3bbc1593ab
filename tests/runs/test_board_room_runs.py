"""The board's deliberation room through the services: level-0 members only, a selector moderating."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.core.errors import FieldsError
from apps.runs import services
from apps.runs.models import RunStatus
from apps.swarms.services import update_swarm
from tests.conftest import drive


@pytest.fixture
def board(make_agent):
    return [
        make_agent("ada", level=0, config={"default": "Ada: approve, with a cap."}),
        make_agent("bo", level=0, config={"default": "Bo: approve."}),
        make_agent("cy", level=0, config={"replies": [{"content": "Cy: agreed, approved.", "done": True}]}),
    ]


@pytest.mark.django_db
def test_a_selector_moderates_the_board_and_each_speaker_sees_the_earlier_messages(
    alice, make_agent, make_swarm, board
):
    # the chair names bo, then an unknown member twice (falls back to round robin: cy), then ada
    chair = make_agent("chair", level=0, config={"replies": ["bo", "the treasurer", "nobody", "ada"], "cycle": False})
    config = {"moderator": {"selector": "chair"}, "selector_retries": 1, "max_turns": 3}
    swarm = make_swarm(name="sob", strategy="board", agents=[*board, chair], strategy_config=config)
    run = drive(services.start_run(swarm=swarm, task="Approve the budget?", user=alice))
    assert run.status == RunStatus.SUCCEEDED, run.error
    posts = list(run.messages.order_by("id").values_list("sender", flat=True))
    assert posts == ["task", "bo", "cy"]  # cy's reply is done: the deliberation ends there
    assert run.result == "Cy: agreed, approved."
    assert [(m["speaker"], m["by"], m["attempts"]) for m in run.state["moderation"]] == [
        ("bo", "selector", 1),
        ("cy", "round_robin_fallback", 2),
    ]
    turns = run.steps.filter(key__startswith="turn-").order_by("index")
    assert [s.agent_name for s in turns] == ["bo", "cy"]
    second = turns[1]
    assert second.room.name == "board" and second.input == "Bo: approve."  # it followed bo's message
    keys = list(run.steps.order_by("index").values_list("key", flat=True))
    assert keys == ["select-1#0", "turn-1", "select-2#0", "select-2#1", "turn-2"]
    panel = run.events.filter(kind="strategy.progress").order_by("seq").last().data
    assert panel["view"] == "board" and panel["moderator"] == "selector chair"
    assert [m["speaker"] for m in panel["moderation"]] == ["bo", "cy"]
    client = Client()
    client.force_login(alice)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Board deliberation" in page and "round robin (fallback)" in page


@pytest.mark.django_db
def test_only_level_0_agents_may_sit_in_a_board_room(alice, make_agent, make_swarm, board):
    officer = make_agent("officer", level=1)
    with pytest.raises(FieldsError) as err:
        make_swarm(name="mixed", strategy="board", agents=[*board, officer])
    assert err.value.fields == {"members": ["officer is a level-1 agent: only level-0 agents sit on the board."]}
    # a chat room without board_only admits anyone; turning it on later is refused the same way
    swarm = make_swarm(name="open", strategy="chat_room", agents=[*board, officer])
    with pytest.raises(FieldsError):
        update_swarm(swarm, strategy_config={"board_only": True})
    # a lower-level selector is fine: it moderates but never speaks
    make_swarm(
        name="chaired",
        strategy="board",
        agents=[*board, officer],
        strategy_config={"moderator": {"selector": "officer"}},
    )


@pytest.mark.django_db
def test_the_api_creates_board_rooms_and_refuses_bad_ones(alice, make_agent, board):
    api = APIClient()
    api.force_authenticate(alice)
    make_agent("clerk", level=1)
    good = {
        "name": "sob",
        "strategy": "board",
        "members": ["ada", "bo"],
        "strategy_config": {"moderator": "round_robin"},
    }
    assert api.post("/api/swarms/", good, format="json").status_code == 201
    bad = {"name": "b", "strategy": "board", "members": ["ada", "clerk"], "strategy_config": {}}
    response = api.post("/api/swarms/", bad, format="json")
    assert response.status_code == 400 and set(response.json()["error"]["fields"]) == {"members"}
    worse = {**bad, "members": ["ada"], "strategy_config": {"moderator": {"selector": "ghost"}, "selector_retries": -1}}
    response = api.post("/api/swarms/", worse, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_strategy_config"
    assert set(response.json()["error"]["fields"]) == {
        "strategy_config.moderator.selector",
        "strategy_config.selector_retries",
    }
