"""The agent-call pool: outcomes onto the submitter's queue, slots given back, no connection kept."""

import queue

import pytest
from django.db import connection, connections

from apps.runs.agent_calls import AgentCallPool


def _outcomes(done: queue.SimpleQueue, n: int) -> dict:
    return {tag: (result, error) for tag, result, error in (done.get(timeout=10) for _ in range(n))}


def test_each_call_reports_its_result_or_its_error_with_its_tag_and_gives_its_slot_back():
    pool = AgentCallPool(4)
    done: queue.SimpleQueue = queue.SimpleQueue()
    assert pool.reserve(3, wait=True) == 3 and pool.free == 1

    def boom():
        raise ValueError("no")

    pool.submit(lambda x, y=0: x + y, 1, y=2, done=done, tag="add")
    pool.submit(boom, done=done, tag="boom")
    pool.submit(str.upper, "ok", done=done, tag="upper")
    outcomes = _outcomes(done, 3)
    assert outcomes["add"] == (3, None) and outcomes["upper"] == ("OK", None)
    result, error = outcomes["boom"]
    assert result is None and isinstance(error, ValueError)
    assert pool.free == 4


@pytest.mark.django_db(transaction=True)
def test_a_call_that_opened_a_database_connection_closes_it_when_it_ends():
    pool = AgentCallPool(1)
    done: queue.SimpleQueue = queue.SimpleQueue()

    def query():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return connections["default"]  # this thread's own wrapper (the proxy would resolve in the caller)

    for _ in range(2):  # the second call opens a fresh one, and closes it too
        pool.reserve(1, wait=True)
        pool.submit(query, done=done, tag="q")
        ((_tag, wrapper, error),) = [done.get(timeout=10)]
        assert error is None and wrapper.connection is None
    pool.reserve(1, wait=True)
    pool.submit(lambda: connection.connection, done=done, tag="idle")  # a call without a query
    assert done.get(timeout=10)[1:] == (None, None)


def test_awaited_calls_share_one_event_loop_thread_report_like_threaded_ones_and_give_their_slots_back():
    import asyncio
    import threading

    pool = AgentCallPool(64)
    done: queue.SimpleQueue = queue.SimpleQueue()
    threads: set[str] = set()

    async def wait_then(value, delay):
        threads.add(threading.current_thread().name)
        await asyncio.sleep(delay)
        return value

    async def boom():
        raise ValueError("no")

    assert pool.reserve(51, wait=True) == 51
    pool.submit_awaiting([(wait_then, (i, 0.2), i) for i in range(50)] + [(boom, (), "boom")], done=done)
    outcomes = _outcomes(done, 51)
    assert {tag: outcomes[tag] for tag in range(50)} == {i: (i, None) for i in range(50)}
    result, error = outcomes["boom"]
    assert result is None and isinstance(error, ValueError)
    assert threads == {"swarmweb-agent-call-loop"}  # fifty 200 ms waits, one thread: they waited together
    assert pool.free == 64


@pytest.mark.django_db(transaction=True)
def test_calls_take_turns_on_the_database_and_hold_a_connection_only_during_their_turn():
    import threading

    from apps.runs.agent_calls import database_turn

    pool = AgentCallPool(6, database_turns=2)
    done: queue.SimpleQueue = queue.SimpleQueue()
    inside, most, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def tool_then_wait():
        with database_turn(), database_turn():  # nested: the same turn
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            release.wait(0.2)
            with lock:
                inside[0] -= 1
        wrapper = connections["default"]
        return wrapper.connection  # after the turn: closed, while the call goes on waiting

    assert pool.reserve(6, wait=True) == 6
    for i in range(6):
        pool.submit(tool_then_wait, done=done, tag=i)
    outcomes = _outcomes(done, 6)
    assert all(outcome == (None, None) for outcome in outcomes.values())
    assert most[0] == 2 and pool.database_turns.most == 2 and pool.database_turns.taking == 0


@pytest.mark.django_db
def test_a_database_turn_off_the_pool_changes_nothing():
    from apps.runs.agent_calls import database_turn

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    with database_turn(), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.connection is not None  # a task thread's (or a request's) connection stays
