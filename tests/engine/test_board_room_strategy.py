"""The chat room's moderators: round robin, and a selector agent naming the next speaker."""

import pytest

from apps.engine.errors import StrategyConfigError
from apps.engine.strategies import Finish, MembersChanged, PostMessage, RunStep, StepFinished, build_strategy
from apps.engine.values import StepOutcome, StepResult

BOARD = ["ann", "ben", "cat"]


def ok(text):
    return StepResult(StepOutcome.SUCCESS, content=text)


def only_step(t):
    (step,) = [a for a in t.actions if isinstance(a, RunStep)]
    return step


def reply(strategy, t, text):
    step = only_step(t)
    return step, strategy.on_fact(t.state, StepFinished(step.key, step.agent, ok(text)))


def test_round_robin_is_the_default_moderator_of_the_board_room():
    strategy = build_strategy("board", {"max_turns": 4}, BOARD)
    assert strategy.board_only and strategy.room == "board" and strategy.speakers() == BOARD
    t = strategy.start("Approve the budget?")
    speakers = []
    while not any(isinstance(a, Finish) for a in t.actions):
        step, t = reply(strategy, t, f"view {len(speakers)}")
        speakers.append(step.agent)
        assert step.room == "board"
    assert speakers == ["ann", "ben", "cat", "ann"]


def test_a_selector_names_each_speaker_and_only_members_post():
    strategy = build_strategy("board", {"moderator": {"selector": "chair"}, "max_turns": 3}, [*BOARD, "chair"])
    assert strategy.speakers() == BOARD  # the selector moderates; it does not speak
    t = strategy.start("Approve the budget?")
    script = ["cat", "cat's view", "Next: ann.", "ann's view", "ben", "ben's view"]
    seen = []
    for text in script:
        step, t = reply(strategy, t, text)
        seen.append((step.agent, step.key))
    assert seen == [
        ("chair", "select-1#0"),
        ("cat", "turn-1"),
        ("chair", "select-2#0"),
        ("ann", "turn-2"),
        ("chair", "select-3#0"),
        ("ben", "turn-3"),
    ]
    posts = [a.sender for a in t.actions if isinstance(a, PostMessage)]
    assert posts == ["ben"] and Finish("ben's view") in t.actions
    assert [(m["speaker"], m["by"]) for m in t.state["moderation"]] == [
        ("cat", "selector"),
        ("ann", "selector"),
        ("ben", "selector"),
    ]


def test_the_selector_sees_the_room_and_the_candidates():
    strategy = build_strategy("chat_room", {"moderator": {"selector": "chair"}}, [*BOARD, "chair"])
    t = strategy.start("topic")
    step = only_step(t)
    assert step.room == "main" and "ann, ben, cat" in step.input and "topic" in step.input


def test_invalid_names_are_asked_again_then_fall_back_to_round_robin_and_are_recorded():
    config = {"moderator": {"selector": "chair"}, "selector_retries": 2}
    strategy = build_strategy("board", config, [*BOARD, "chair"])
    t = strategy.start("topic")
    _, t = reply(strategy, t, "ben")
    _, t = reply(strategy, t, "ben's view")
    keys = []
    for text in ["ghost", "ben", "ann or cat"]:  # unknown; ben just spoke; two names
        step, t = reply(strategy, t, text)
        keys.append(step.key)
    assert keys == ["select-2#0", "select-2#1", "select-2#2"]
    fallback = only_step(t)
    assert (fallback.agent, fallback.key) == ("cat", "turn-2")  # round robin after ben
    record = t.state["moderation"][-1]
    assert record == {
        "turn": 2,
        "speaker": "cat",
        "by": "round_robin_fallback",
        "attempts": 3,
        "invalid": ["ghost", "ben", "ann or cat"],
    }


def test_a_failing_selector_counts_as_an_invalid_reply():
    strategy = build_strategy(
        "chat_room", {"moderator": {"selector": "chair"}, "selector_retries": 0}, ["ann", "chair"]
    )
    t = strategy.start("topic")
    step = only_step(t)
    t = strategy.on_fact(t.state, StepFinished(step.key, "chair", StepResult(StepOutcome.ERROR, error="down")))
    assert only_step(t).agent == "ann" and t.state["moderation"][0]["invalid"] == ["(failed: down)"]


def test_a_retry_tells_the_selector_what_was_wrong():
    strategy = build_strategy("chat_room", {"moderator": {"selector": "chair"}}, ["ann", "ben", "chair"])
    t = strategy.start("topic")
    _, t = reply(strategy, t, "nobody")
    assert "'nobody' names none of them" in only_step(t).input


def test_spawned_agents_never_join_a_board_only_room():
    strategy = build_strategy("board", {}, BOARD)
    t = strategy.start("topic")
    t = strategy.on_fact(t.state, MembersChanged(joined=("intern",)))
    assert t.state["order"] == BOARD
    open_room = build_strategy("chat_room", {}, BOARD)
    t = open_room.on_fact(open_room.start("topic").state, MembersChanged(joined=("intern",)))
    assert t.state["order"] == [*BOARD, "intern"]


def test_bad_moderators_are_refused():
    with pytest.raises(StrategyConfigError) as err:
        build_strategy("board", {"moderator": {"selector": "ghost"}}, BOARD)
    assert "moderator.selector" in err.value.fields
    with pytest.raises(StrategyConfigError) as err:
        build_strategy("chat_room", {"moderator": "loudest", "selector_retries": 9}, BOARD)
    assert set(err.value.fields) == {"moderator", "selector_retries"}
