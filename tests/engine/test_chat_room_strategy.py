import pytest

from apps.engine.errors import StrategyConfigError
from apps.engine.strategies import Fail, Finish, PostMessage, RunStep, StepFinished, build_strategy
from apps.engine.values import StepOutcome, StepResult


def play(strategy, replies):
    """Feed replies turn by turn; return the speakers, the final actions and transition."""
    t = strategy.start("topic")
    speakers = []
    for reply in replies:
        steps = [a for a in t.actions if isinstance(a, RunStep)]
        if not steps:
            break
        speakers.append(steps[0].agent)
        t = strategy.on_fact(t.state, StepFinished(steps[0].key, steps[0].agent, reply))
    return speakers, t


def test_members_speak_round_robin_until_the_turn_limit():
    strategy = build_strategy("chat_room", {"max_turns": 5}, ["ann", "ben"])
    replies = [StepResult(StepOutcome.SUCCESS, content=f"r{i}") for i in range(10)]
    speakers, t = play(strategy, replies)
    assert speakers == ["ann", "ben", "ann", "ben", "ann"]
    assert [a for a in t.actions if isinstance(a, Finish)] == [Finish("r4")]


def test_a_member_that_is_done_ends_the_conversation():
    strategy = build_strategy("chat_room", {"max_turns": 50}, ["ann", "ben"])
    replies = [StepResult(StepOutcome.SUCCESS, content="hi"), StepResult(StepOutcome.SUCCESS, content="bye", done=True)]
    speakers, t = play(strategy, replies)
    assert speakers == ["ann", "ben"]
    assert Finish("bye") in t.actions


def test_each_turn_sees_the_latest_message_and_posts_its_reply_to_the_room():
    strategy = build_strategy("chat_room", {"room": "lobby"}, ["ann", "ben"])
    t = strategy.start("topic")
    assert PostMessage("lobby", "task", "topic", is_human=True) in t.actions
    step = next(a for a in t.actions if isinstance(a, RunStep))
    assert (step.input, step.room) == ("topic", "lobby")
    t = strategy.on_fact(t.state, StepFinished(step.key, "ann", StepResult(StepOutcome.SUCCESS, content="idea")))
    assert PostMessage("lobby", "ann", "idea") in t.actions
    assert next(a for a in t.actions if isinstance(a, RunStep)).input == "idea"


def test_a_failing_member_is_skipped_but_all_failing_fails_the_run():
    strategy = build_strategy("chat_room", {"max_turns": 10}, ["ann", "ben"])
    err = StepResult(StepOutcome.ERROR, error="down")
    speakers, t = play(strategy, [err, err])
    assert speakers == ["ann", "ben"]
    (fail,) = [a for a in t.actions if isinstance(a, Fail)]
    assert "down" in fail.reason


def test_on_error_fail_stops_at_the_first_failure():
    strategy = build_strategy("chat_room", {"on_error": "fail"}, ["ann", "ben"])
    _, t = play(strategy, [StepResult(StepOutcome.TIMEOUT, error="slow")])
    assert any(isinstance(a, Fail) for a in t.actions)


def test_invalid_configs_are_rejected_with_field_messages():
    with pytest.raises(StrategyConfigError) as caught:
        build_strategy("chat_room", {"max_turns": 0, "order": ["ann", "zed"], "on_error": "panic"}, ["ann"])
    assert set(caught.value.fields) == {"max_turns", "order", "on_error"}


def test_members_can_join_and_leave_the_rotation_mid_run():
    from apps.engine.strategies import MembersChanged

    strategy = build_strategy("chat_room", {"max_turns": 8}, ["boss", "ann"])
    t = strategy.start("go")
    spoken = []

    def speak(t, content="ok"):
        step = next(a for a in t.actions if isinstance(a, RunStep))
        spoken.append(step.agent)
        return strategy.on_fact(
            t.state, StepFinished(step.key, step.agent, StepResult(StepOutcome.SUCCESS, content=content))
        )

    t = speak(t)  # boss
    t2 = strategy.on_fact(t.state, MembersChanged(joined=("w1", "w2")))
    assert t2.actions == ()
    t = type(t)(t2.state, t.actions)  # the queued turn (ann) is still outstanding
    t = speak(t)  # ann
    t = speak(t)  # w1
    t2 = strategy.on_fact(t.state, MembersChanged(left=("ann",)))
    t = type(t)(t2.state, t.actions)
    t = speak(t)  # w2
    t = speak(t)  # boss
    t = speak(t)  # w1 (ann left)
    assert spoken == ["boss", "ann", "w1", "w2", "boss", "w1"]


def test_a_member_leaving_during_its_own_turn_passes_the_turn_on():
    from apps.engine.strategies import MembersChanged

    strategy = build_strategy("chat_room", {"max_turns": 5}, ["a", "b", "c"])
    t = strategy.start("go")
    step = next(x for x in t.actions if isinstance(x, RunStep))  # a's turn
    state = strategy.on_fact(t.state, MembersChanged(left=("a",))).state
    t = strategy.on_fact(state, StepFinished(step.key, "a", StepResult(StepOutcome.CANCELLED, error="terminated")))
    assert next(x for x in t.actions if isinstance(x, RunStep)).agent == "b"
