"""Wide fan-outs: steps dispatched in batches, called concurrently on the agent-call pool, recorded together."""

import threading
import time

import pytest
from django.test.utils import override_settings

from apps.engine.values import StepOutcome, StepResult
from apps.runs import services
from apps.runs.models import Run, RunEvent, RunStatus, Step, StepStatus
from tests.conftest import wait_for_run

WIDTH = 24


@pytest.fixture
def wide_swarm(make_agent, make_swarm):
    waiter = make_agent("waiter", config={"replies": ["ok"], "cycle": True, "delay_ms": 300})
    nodes = [{"name": f"n{i}", "agent": "waiter", "input": f"part {i}"} for i in range(WIDTH)]
    nodes.append({"name": "join", "agent": "waiter", "depends_on": [f"n{i}" for i in range(WIDTH)]})
    return make_swarm(name="wide", strategy="heist", agents=[waiter], strategy_config={"nodes": nodes})


@pytest.fixture
def begun_wide(alice, wide_swarm, monkeypatch):
    """The wide workflow begun in this process, its steps queued and sent nowhere."""
    monkeypatch.setattr(services, "_dispatch_steps", lambda ids, delay_s=0.0: None)
    monkeypatch.setattr(services, "_dispatch_begin", lambda run_id: None)
    run = services.start_run(swarm=wide_swarm, task="go", user=alice)
    services.begin_run(run.pk)
    return run


def _run_here(swarm, user, monkeypatch, *, server=None) -> Run:
    """Run ``swarm`` to its end on this thread (``begin_run`` continuing into its steps), then stop
    the model ``server`` it talks to, if any; the run as stored."""
    monkeypatch.setattr(services, "_dispatch_begin", lambda run_id: None)
    try:
        run = services.start_run(swarm=swarm, task="go", user=user)
        with services.continuing_here():
            services.begin_run(run.pk)
    finally:
        if server is not None:
            server.stop()
    return Run.objects.get(pk=run.pk)


def _ran_together(steps) -> bool:
    """Every step had started before any of them finished: their calls overlapped."""
    return max(s.started_at for s in steps) < min(s.finished_at for s in steps)


def test_steps_queued_together_are_split_into_as_few_even_batches_as_the_size_allows(settings):
    settings.SWARMWEB = {**settings.SWARMWEB, "STEP_BATCH_SIZE": 64}
    assert services.step_batches([]) == []
    assert services.step_batches([7]) == [[7]]
    assert services.step_batches(list(range(64))) == [list(range(64))]
    batches = services.step_batches(list(range(200)))
    assert [len(b) for b in batches] == [50, 50, 50, 50]
    assert [i for b in batches for i in b] == list(range(200))  # nothing lost, order kept
    with override_settings(SWARMWEB={**settings.SWARMWEB, "STEP_BATCH_SIZE": 256}):
        assert services.step_batches(list(range(200))) == [list(range(200))]  # one worker takes the fan-out


@pytest.mark.django_db(transaction=True)
def test_a_batch_runs_its_agent_calls_concurrently_and_records_them_together(alice, wide_swarm, monkeypatch):
    dispatched: list[list[int]] = []
    monkeypatch.setattr(services, "_dispatch_steps", lambda ids, delay_s=0.0: dispatched.append(list(ids)))
    monkeypatch.setattr(services, "_dispatch_begin", lambda run_id: None)
    run = services.start_run(swarm=wide_swarm, task="go", user=alice)
    services.begin_run(run.pk)
    (first,) = dispatched
    assert len(first) == WIDTH  # every ready node queued at once, dispatched as one group

    assert services.execute_steps(first) == WIDTH
    steps = list(Step.objects.filter(pk__in=first))
    assert all(s.status == StepStatus.SUCCEEDED and s.attempts == 1 for s in steps)
    assert _ran_together(steps)
    combiner = services._combiner(run.pk)
    assert combiner.largest_batch > 1 and combiner.batches < WIDTH  # recorded in groups, not one by one
    assert services.execute_steps(first) == 0  # a duplicate delivery does nothing

    (join,) = dispatched[1]
    assert services.execute_steps([join]) == 1
    run = Run.objects.get(pk=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    kinds = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("kind", flat=True))
    assert kinds.count("step.finished") == WIDTH + 1 and kinds.count("step.queued") == WIDTH + 1
    seqs = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # no gaps, no duplicates


@pytest.mark.django_db(transaction=True)
def test_a_batch_larger_than_the_pool_is_claimed_in_waves(begun_wide, monkeypatch):
    import os

    from apps.runs import agent_calls

    monkeypatch.setattr(agent_calls, "_pool", agent_calls.AgentCallPool(8))
    monkeypatch.setattr(agent_calls, "_pool_pid", os.getpid())
    lock, calls = threading.Lock(), {"now": 0, "most": 0}
    call_agent, acall_agent = services._call_agent, services._acall_agent

    def count(change: int) -> None:
        with lock:
            calls["now"] += change
            calls["most"] = max(calls["most"], calls["now"])

    def counting(prepared, **kwargs):
        count(1)
        try:
            return call_agent(prepared, **kwargs)
        finally:
            count(-1)

    async def acounting(prepared):  # the waiter's calls are awaited (Provider.waits_async)
        count(1)
        try:
            return await acall_agent(prepared)
        finally:
            count(-1)

    monkeypatch.setattr(services, "_call_agent", counting)
    monkeypatch.setattr(services, "_acall_agent", acounting)
    run = begun_wide
    ids = list(Step.objects.filter(run=run).values_list("pk", flat=True))
    assert services.execute_steps(ids) == WIDTH
    steps = sorted(Step.objects.filter(pk__in=ids), key=lambda s: s.started_at)
    # at most 8 calls at a time (a slot comes free when its call ends, which may be before
    # that call's result is recorded), and the later steps were claimed in later waves
    assert calls["most"] == 8
    assert steps[8].started_at > steps[0].started_at
    assert all(s.status == StepStatus.SUCCEEDED for s in steps)
    assert agent_calls._pool.free == 8  # every slot given back


@pytest.mark.django_db(transaction=True)
def test_a_crash_around_one_call_fails_that_step_only(begun_wide, monkeypatch):
    run = begun_wide
    ids = list(Step.objects.filter(run=run).order_by("index").values_list("pk", flat=True))
    original, aoriginal = services.run_agent_step, services.arun_agent_step

    def crash_on_part_3(spec, request, **kwargs):
        if request.input == "part 3":
            raise RuntimeError("provider bug")
        return original(spec, request, **kwargs)

    async def acrash_on_part_3(spec, request, **kwargs):  # the waiter's calls are awaited
        if request.input == "part 3":
            raise RuntimeError("provider bug")
        return await aoriginal(spec, request, **kwargs)

    monkeypatch.setattr(services, "run_agent_step", crash_on_part_3)
    monkeypatch.setattr(services, "arun_agent_step", acrash_on_part_3)
    assert services.execute_steps(ids) == WIDTH
    failed = Step.objects.get(run=run, key="n3#0.0")
    assert failed.status == StepStatus.FAILED and "RuntimeError: provider bug" in failed.error
    assert Step.objects.filter(run=run, status=StepStatus.SUCCEEDED).count() == WIDTH - 1
    run = Run.objects.get(pk=run.pk)
    assert run.status == RunStatus.SUCCEEDED and "Partial results." in run.result  # the join was skipped


@pytest.mark.django_db(transaction=True)
def test_a_completion_that_lost_its_claim_is_not_recorded_in_a_batch(begun_wide):
    run = begun_wide
    steps = list(Step.objects.filter(run=run).order_by("index")[:3])
    assert services.claim_steps(steps) == {s.pk for s in steps}
    stale = steps[0].claim_token
    Step.objects.filter(pk=steps[0].pk).update(status=StepStatus.QUEUED, claim_token=None)  # the sweeper took it
    done = StepResult(StepOutcome.SUCCESS, content="ok")
    recorded = services._complete_all([services.Completion(s, done, stale) for s in steps])
    assert recorded == {steps[0].pk: False, steps[1].pk: True, steps[2].pk: True}
    assert Step.objects.get(pk=steps[0].pk).status == StepStatus.QUEUED


@pytest.mark.worker
def test_a_wide_workflow_runs_concurrently_through_a_real_worker(alice, wide_swarm, celery_worker):
    run = wait_for_run(services.start_run(swarm=wide_swarm, task="go", user=alice), timeout=60)
    assert run.status == RunStatus.SUCCEEDED, run.error
    parts = list(run.steps.exclude(key__startswith="join"))
    assert len(parts) == WIDTH and _ran_together(parts)
    assert run.steps.get(key="join#0.0").started_at >= max(s.finished_at for s in parts)


@pytest.mark.django_db(transaction=True)
def test_a_worker_thread_runs_a_conversations_next_turn_itself_up_to_a_limit(
    alice, make_agent, make_swarm, monkeypatch
):
    sent: list = []
    monkeypatch.setattr(services, "_dispatch_step", lambda step_id, delay_s=0.0: sent.append(step_id))
    monkeypatch.setattr(services, "_dispatch_begin", lambda run_id: None)
    monkeypatch.setattr(services, "CONTINUE_AT_MOST", 5)
    agents = [make_agent("ada", config={"replies": ["hi"], "cycle": True}), make_agent("bob")]
    swarm = make_swarm(name="talk", agents=agents, strategy_config={"max_turns": 12})
    run = services.start_run(swarm=swarm, task="chat", user=alice)
    with services.continuing_here():
        services.begin_run(run.pk)  # queues turn 1: run by this thread, then turns 2..5
    assert Step.objects.filter(run=run, status=StepStatus.SUCCEEDED).count() == 5
    (next_turn,) = sent  # the 6th went to the broker: one run does not keep the thread
    assert Step.objects.get(pk=next_turn).status == StepStatus.QUEUED
    with services.continuing_here():
        services.execute_step(next_turn)
    assert Step.objects.filter(run=run, status=StepStatus.SUCCEEDED).count() == 11


@pytest.mark.django_db(transaction=True)
def test_a_fan_out_queued_by_a_workers_task_runs_on_that_worker_unless_it_needs_several_batches(
    alice, wide_swarm, monkeypatch, settings
):
    from apps.runs import tasks

    sent: list = []
    monkeypatch.setattr(services, "_dispatch_step", lambda step_id, delay_s=0.0: sent.append([step_id]))
    monkeypatch.setattr(tasks.execute_steps, "delay", lambda ids: sent.append(list(ids)))
    monkeypatch.setattr(services, "_dispatch_begin", lambda run_id: None)
    run = services.start_run(swarm=wide_swarm, task="go", user=alice)
    with services.continuing_here():
        services.begin_run(run.pk)  # the fan-out runs here, then the join it queues
    assert sent == []
    assert Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED
    parts = list(Step.objects.filter(run=run).exclude(key__startswith="join"))
    assert len(parts) == WIDTH and _ran_together(parts)

    settings.SWARMWEB = {**settings.SWARMWEB, "STEP_BATCH_SIZE": WIDTH // 2}
    run = services.start_run(swarm=wide_swarm, task="again", user=alice)
    with services.continuing_here():
        services.begin_run(run.pk)  # two batches: they go to the broker, for any worker to take
    assert [len(batch) for batch in sent] == [WIDTH // 2, WIDTH // 2]
    assert Step.objects.filter(run=run, status=StepStatus.QUEUED).count() == WIDTH


@pytest.mark.django_db(transaction=True)
def test_a_continuation_starts_the_steps_it_queued_without_reading_them_back_yet_leaves_one_taken_meanwhile(
    alice, wide_swarm, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(services, "_dispatch_begin", lambda run_id: None)
    monkeypatch.setattr(services, "_claim_at_insert", lambda queued, now: None)  # the queued path
    dispatch = services._dispatch_steps
    taken: list[int] = []

    def dispatch_then_another_worker_takes_one(step_ids, delay_s=0.0):
        dispatch(step_ids, delay_s)
        if len(step_ids) > 1:  # the fan-out, committed and kept for this thread to run next
            taken.append(step_ids[0])
            Step.objects.filter(pk=step_ids[0]).update(status=StepStatus.RUNNING)

    monkeypatch.setattr(services, "_dispatch_steps", dispatch_then_another_worker_takes_one)
    run = services.start_run(swarm=wide_swarm, task="go", user=alice)
    with CaptureQueriesContext(connection) as queries, services.continuing_here():
        services.begin_run(run.pk)
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    step_rows_read = [sql for sql in selects if '"runs_step"."input"' in sql]
    assert step_rows_read == [], "steps were read back"
    parts = Step.objects.filter(run=run).exclude(key__startswith="join")
    # the claim re-checked each row: the step taken meanwhile was left to its taker
    assert parts.get(pk=taken[0]).status == StepStatus.RUNNING
    assert parts.filter(status=StepStatus.SUCCEEDED).count() == WIDTH - 1


def _step_sql(queries, start: str) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith(start) and '"runs_step"' in q["sql"]]


@pytest.mark.django_db(transaction=True)
def test_a_fan_out_this_thread_runs_next_is_inserted_claimed_and_its_results_still_check_the_claim(
    alice, wide_swarm, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(services, "_dispatch_begin", lambda run_id: None)
    monkeypatch.setattr(services, "_dispatch_steps", lambda ids, delay_s=0.0: pytest.fail(f"sent {ids}"))
    remember = services._remember_steps
    cancelled: list[int] = []

    def remember_then_one_is_cancelled(steps):
        remember(steps)
        if len(steps) > 1:  # the fan-out, committed under this thread's claim
            assert {s.status for s in steps} == {StepStatus.RUNNING} and len({s.claim_token for s in steps}) == 1
            cancelled.append(steps[0].pk)
            Step.objects.filter(pk=steps[0].pk).update(status=StepStatus.CANCELLED, claim_token=None)

    monkeypatch.setattr(services, "_remember_steps", remember_then_one_is_cancelled)
    run = services.start_run(swarm=wide_swarm, task="go", user=alice)
    with CaptureQueriesContext(connection) as queries, services.continuing_here():
        services.begin_run(run.pk)
    loads = [sql for sql in _step_sql(queries, "SELECT") if '"runs_step"."input"' in sql and '"id" IN (' in sql]
    assert loads == [], "the steps were read back"
    # a claim sets a token; a result's write sets none and checks the claim in its WHERE
    claims = [sql for sql in _step_sql(queries, "UPDATE") if '"claim_token" = \'' in sql.split(" WHERE ")[0]]
    assert claims == [], "steps were claimed after their insert"
    parts = Step.objects.filter(run=run).exclude(key__startswith="join")
    assert parts.get(pk=cancelled[0]).status == StepStatus.CANCELLED  # its result was not written over it
    done = parts.filter(status=StepStatus.SUCCEEDED)
    assert done.count() == WIDTH - 1 and {s.attempts for s in done} == {1}
    queued = RunEvent.objects.filter(run=run, kind="step.queued").exclude(data__key__startswith="join")
    assert {e.data["status"] for e in queued} == {StepStatus.RUNNING}  # viewers learn at once they run


@pytest.mark.django_db(transaction=True)
def test_steps_claimed_at_insert_are_given_back_when_the_thread_does_not_get_to_run_them(
    alice, wide_swarm, monkeypatch
):
    from apps.runs import tasks

    sent: list = []
    monkeypatch.setattr(services, "_dispatch_begin", lambda run_id: None)
    monkeypatch.setattr(tasks.execute_steps, "delay", lambda ids: sent.append(list(ids)))
    run = services.start_run(swarm=wide_swarm, task="go", user=alice)
    with pytest.raises(RuntimeError), services.continuing_here():
        services.begin_run(run.pk)
        raise RuntimeError("the task broke after queuing its fan-out")
    parts = Step.objects.filter(run=run)
    assert [sorted(batch) for batch in sent] == [sorted(parts.values_list("pk", flat=True))]
    assert {(s.status, s.claim_token, s.attempts, s.started_at) for s in parts} == {(StepStatus.QUEUED, None, 0, None)}
    assert services.execute_steps(sent[0]) == WIDTH  # any worker can take them now


def _needs_keys_ahead() -> None:
    from django.db import connection

    if connection.vendor not in ("postgresql", "sqlite"):
        pytest.skip("calls start early only where keys are allocated ahead of rows (PostgreSQL, SQLite)")


@pytest.mark.django_db(transaction=True)
def test_a_fan_out_s_calls_start_before_its_rows_are_written_and_are_recorded_only_after_the_commit(
    alice, wide_swarm, monkeypatch
):
    _needs_keys_ahead()
    from apps.runs.agent_calls import AgentCallPool

    order: list[str] = []
    lock = threading.Lock()

    def noting(name, original):
        def noted(*args, **kwargs):
            with lock:
                order.append(name)
            return original(*args, **kwargs)

        return noted

    insert_rows = services.insert_rows

    def insert_noting_steps(objs):
        if objs and isinstance(objs[0], Step):
            with lock:
                order.append("insert steps")
        return insert_rows(objs)

    monkeypatch.setattr(services, "insert_rows", insert_noting_steps)
    submit_awaiting = AgentCallPool.submit_awaiting

    def awaiting_noted(self, calls, **kwargs):  # the waiter's calls are awaited, in one hand-over
        with lock:
            order.extend(["call"] * len(calls))
        return submit_awaiting(self, calls, **kwargs)

    monkeypatch.setattr(AgentCallPool, "submit", noting("call", AgentCallPool.submit))
    monkeypatch.setattr(AgentCallPool, "submit_awaiting", awaiting_noted)
    monkeypatch.setattr(services, "_remember_steps", noting("committed", services._remember_steps))
    monkeypatch.setattr(services, "_complete_all", noting("record", services._complete_all))
    monkeypatch.setattr(services, "_dispatch_begin", lambda run_id: None)
    run = services.start_run(swarm=wide_swarm, task="go", user=alice)
    with services.continuing_here():
        services.begin_run(run.pk)

    fan_out = order[: order.index("record")]
    assert fan_out == ["call"] * WIDTH + ["insert steps", "committed"]  # calls first, results after the commit
    assert Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED
    parts = list(Step.objects.filter(run=run).exclude(key__startswith="join"))
    assert len(parts) == WIDTH and {(s.status, s.attempts) for s in parts} == {(StepStatus.SUCCEEDED, 1)}
    assert _ran_together(parts)
    # the keys the calls ran under are the rows' keys: each result went to its own step
    assert sorted(s.input for s in parts) == sorted(f"part {i}" for i in range(WIDTH))
    assert all(s.output == "ok" for s in parts)


@pytest.mark.django_db(transaction=True)
def test_calls_started_for_a_transaction_that_rolls_back_run_out_unrecorded(alice, wide_swarm, monkeypatch):
    _needs_keys_ahead()
    from apps.runs.agent_calls import agent_call_pool
    from apps.runs.events import EventLog

    pool = agent_call_pool()
    flush = EventLog.flush
    started: list[int] = []

    def fail_after_the_calls_started(self, **kwargs):
        if getattr(services._continuation, "early", None):  # the fan-out's calls are under way
            started.append(pool.size - pool.free)
            raise RuntimeError("the database went away mid-transaction")
        return flush(self, **kwargs)

    monkeypatch.setattr(EventLog, "flush", fail_after_the_calls_started)
    monkeypatch.setattr(services, "_dispatch_begin", lambda run_id: None)
    run = services.start_run(swarm=wide_swarm, task="go", user=alice)
    with pytest.raises(RuntimeError), services.continuing_here():
        services.begin_run(run.pk)
    assert started and started[0] >= WIDTH
    assert Run.objects.get(pk=run.pk).status == RunStatus.QUEUED  # nothing of the transition stayed
    assert not Step.objects.filter(run=run).exists()
    deadline = time.monotonic() + 10
    while pool.free < pool.size and time.monotonic() < deadline:  # the calls run out and give back their slots
        time.sleep(0.05)
    assert pool.free == pool.size
    assert not Step.objects.filter(run=run).exists()  # and nobody recorded them

    monkeypatch.setattr(EventLog, "flush", flush)
    with services.continuing_here():
        services.begin_run(run.pk)  # begun again (the task retried): it runs as usual
    assert Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_calls_that_only_wait_are_awaited_on_one_loop_and_calls_with_tools_take_threads(
    alice, make_agent, make_swarm, monkeypatch
):
    from apps.engine.providers.scripted import ScriptedProvider

    waiter = make_agent("waiter", config={"replies": ["waited {{ input }}"], "cycle": True, "delay_ms": 200})
    counter = make_agent(
        "counter",
        config={
            "replies": [
                {
                    "content": "{{ tool_results[0].content }}",
                    "tool_calls": [{"tool": "calculator", "arguments": {"expression": "6 * 7"}}],
                    "delay_ms": 200,
                }
            ],
            "cycle": True,
        },
        privileges=["tool.calculator"],
    )
    nodes = [{"name": f"w{i}", "agent": "waiter", "input": f"w{i}"} for i in range(6)]
    nodes += [{"name": f"c{i}", "agent": "counter"} for i in range(3)]
    swarm = make_swarm(name="lanes", strategy="heist", agents=[waiter, counter], strategy_config={"nodes": nodes})
    lanes: dict[str, set[str]] = {"waiter": set(), "counter": set()}
    reply, areply = ScriptedProvider.reply, ScriptedProvider.areply

    def noting_reply(self, spec, request, **kwargs):
        lanes[spec.name].add(threading.current_thread().name)
        return reply(self, spec, request, **kwargs)

    async def noting_areply(self, spec, request, **kwargs):
        lanes[spec.name].add(threading.current_thread().name)
        return await areply(self, spec, request, **kwargs)

    monkeypatch.setattr(ScriptedProvider, "reply", noting_reply)
    monkeypatch.setattr(ScriptedProvider, "areply", noting_areply)
    run = _run_here(swarm, alice, monkeypatch)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert lanes["waiter"] == {"swarmweb-agent-call-loop"}
    assert lanes["counter"] and all(name.startswith("swarmweb-agent-call-") for name in lanes["counter"])
    assert "swarmweb-agent-call-loop" not in lanes["counter"]  # its tool runs where the database may be used
    steps = list(Step.objects.filter(run=run))
    assert sorted(s.output for s in steps) == ["42"] * 3 + [f"waited w{i}" for i in range(6)]
    assert _ran_together(steps)  # both lanes' calls overlapped


@pytest.mark.django_db(transaction=True)
def test_a_fan_out_of_llm_calls_takes_threads_and_reads_the_tool_registry_once_per_agent(
    alice, make_agent, make_swarm, monkeypatch
):
    from apps.engine.providers.openai_compat import OpenAICompatibleProvider
    from apps.tools import services as tool_services
    from tests.support.openai_server import LocalOpenAIServer

    server = LocalOpenAIServer().start()
    config = {"base_url": server.base_url, "model": "m", "timeout_s": 5, "max_retries": 0}
    plain = make_agent("plain", provider="openai", config=config)
    handy = make_agent("handy", provider="openai", config=config, privileges=["model.m", "tool.calculator"])
    nodes = [{"name": f"p{i}", "agent": "plain"} for i in range(4)] + [
        {"name": f"h{i}", "agent": "handy"} for i in range(4)
    ]
    swarm = make_swarm(name="llms", strategy="heist", agents=[plain, handy], strategy_config={"nodes": nodes})
    lanes: set[str] = set()
    reply = OpenAICompatibleProvider.reply

    def noting_reply(self, spec, request, **kwargs):
        lanes.add(threading.current_thread().name)
        return reply(self, spec, request, **kwargs)

    reads: list[threading.Thread] = []
    usable_tools = tool_services.usable_tools

    def counting_reads(owner):
        reads.append(threading.current_thread())
        return usable_tools(owner)

    monkeypatch.setattr(OpenAICompatibleProvider, "reply", noting_reply)
    monkeypatch.setattr(tool_services, "usable_tools", counting_reads)
    run = _run_here(swarm, alice, monkeypatch, server=server)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert lanes and all(name.startswith("swarmweb-agent-call-") for name in lanes)
    assert "swarmweb-agent-call-loop" not in lanes
    # read on the batch's own thread, once per agent, not by each call on its pool thread (a
    # connection each: a fan-out of 200 ran PostgreSQL out of connections)
    assert reads == [threading.current_thread()] * 2
    tooled = [r for r in server.requests if "tools" in r]
    assert len(tooled) == 4 and all(r["tools"][0]["function"]["name"] == "calculator" for r in tooled)
    assert {s.output for s in Step.objects.filter(run=run)} == {"Hello from the local model."}


@pytest.mark.django_db(transaction=True)
def test_a_fan_out_of_llm_calls_using_a_tool_takes_turns_on_the_database_and_waits_on_its_models_together(
    alice, make_agent, make_swarm, monkeypatch
):
    """Each call broadcasts (a tool writing to the database), then waits on its model: the tools
    take the pool's few database turns, and the waits overlap, holding no connection. (200 such
    calls, each keeping the connection its tool opened, ran PostgreSQL out of them.)"""
    import json
    import os

    from apps.runs import agent_calls
    from apps.runs.models import Message
    from tests.support.openai_server import LocalOpenAIServer, ScriptedResponse

    waiting, most_waiting, lock = [0], [0], threading.Lock()

    def respond(body):
        if not any(m.get("role") == "tool" for m in body["messages"]):
            return ScriptedResponse(tool_calls=[("broadcast", json.dumps({"room": "main", "content": "hi"}))])
        with lock:  # the model's answer after the tool: the call waits on it
            waiting[0] += 1
            most_waiting[0] = max(most_waiting[0], waiting[0])
        time.sleep(0.4)
        with lock:
            waiting[0] -= 1
        return ScriptedResponse(content="said hi")

    server = LocalOpenAIServer(respond=respond).start()
    config = {"base_url": server.base_url, "model": "m", "timeout_s": 10, "max_retries": 0}
    talker = make_agent("talker", provider="openai", config=config, privileges=["model.m", "broadcast"])
    talker.rooms = ["main"]
    talker.save(update_fields=["rooms"])
    nodes = [{"name": f"t{i}", "agent": "talker"} for i in range(8)]
    swarm = make_swarm(name="talkers", strategy="heist", agents=[talker], strategy_config={"nodes": nodes})
    pool = agent_calls.AgentCallPool(16, database_turns=2)
    monkeypatch.setattr(agent_calls, "_pool", pool)
    monkeypatch.setattr(agent_calls, "_pool_pid", os.getpid())
    run = _run_here(swarm, alice, monkeypatch, server=server)
    assert run.status == RunStatus.SUCCEEDED, run.error
    steps = list(Step.objects.filter(run=run))
    assert {s.output for s in steps} == {"said hi"}
    assert all(s.data["tool_calls"][0]["ok"] for s in steps)
    assert Message.objects.filter(run=run, room__name="main", sender="talker", content="hi").count() == 8
    assert pool.database_turns.most == 2  # never more tools on the database at once than its turns
    assert most_waiting[0] > 2  # a call gave its turn (and connection) back before waiting on its model


@pytest.mark.django_db(transaction=True)
def test_memory_recalled_by_a_fan_out_s_calls_takes_the_pool_s_database_turns(
    alice, make_agent, make_swarm, monkeypatch
):
    import os

    from apps.agents.services import update_agent
    from apps.memory.services import write_memory
    from apps.runs import agent_calls

    clerk = make_agent("clerk", config={"replies": ["noted"], "cycle": True, "delay_ms": 100})
    update_agent(clerk, memory_top_k=1)
    nodes = [{"name": f"c{i}", "agent": "clerk", "input": "Which currency for invoices?"} for i in range(4)]
    swarm = make_swarm(name="clerks", strategy="heist", agents=[clerk], strategy_config={"nodes": nodes})
    write_memory(owner=alice, swarm=swarm, text="The client prefers invoices in euros.")
    pool = agent_calls.AgentCallPool(8, database_turns=1)
    monkeypatch.setattr(agent_calls, "_pool", pool)
    monkeypatch.setattr(agent_calls, "_pool_pid", os.getpid())
    run = _run_here(swarm, alice, monkeypatch)
    assert run.status == RunStatus.SUCCEEDED, run.error
    steps = list(Step.objects.filter(run=run))
    assert [s.data["recalled_memory"][0]["text"] for s in steps] == ["The client prefers invoices in euros."] * 4
    assert pool.database_turns.most == 1  # recalled on the pool's threads, one turn at a time
