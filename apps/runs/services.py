"""Run services: the only code that changes runs, steps, messages and human requests.

The pattern of every state change: lock the run row, feed the facts to the
strategy (one, or a batch of step completions that arrived together), turn
the actions it returns into rows and events, save, and after commit dispatch
the queued steps and publish the events. Tasks, views, the API and the admin
all call these functions.

Steps are dispatched in batches (``execute_steps``): a wide workflow's ready
nodes travel as a few messages, their agent calls wait concurrently on the
worker's agent-call pool, and their results are recorded together.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.agents.governance import check_may_act
from apps.agents.models import Agent
from apps.core.db import allocate_ids, insert_rows, new_row, update_rows, update_rows_if
from apps.core.errors import Conflict, FieldsError
from apps.engine.errors import EngineError, ErrorCode
from apps.engine.executor import arun_agent_step, run_agent_step
from apps.engine.governance import GovernanceError
from apps.engine.human import parse_question, question_to_dict, validate_answer
from apps.engine.providers import get_provider
from apps.engine.strategies import (
    AskHuman,
    Fact,
    Fail,
    Finish,
    HumanAnswered,
    MembersChanged,
    PostMessage,
    Progress,
    RunStarted,
    RunStep,
    StepFinished,
    Transition,
    build_strategy,
    config_only,
)
from apps.engine.values import ChatMessage, EventKind, StepOutcome, StepRequest, StepResult, Usage, exceeded_limit
from apps.swarms.models import Swarm

from . import broadcast
from .agent_calls import agent_call_pool, database_turn
from .events import EventLog
from .hooks import hooks_for
from .models import HumanRequest, HumanRequestStatus, Message, Room, Run, RunStatus, Step, StepStatus
from .presenters import human_request_data, message_data, run_data, spend_data, step_data
from .tools import RunToolHost, merge_records

logger = logging.getLogger(__name__)

MAX_TASK_LENGTH = 100_000
OUTSTANDING = (StepStatus.QUEUED, StepStatus.RUNNING)
# Group commit delay of a batch's results: see _linger.
RECORD_QUIET_S = 0.003
RECORD_LINGER_S = 0.025
EARLY_START_WAIT_S = 0.05  # see _start_calls_early


def _conf(name: str) -> int:
    return settings.SWARMWEB[name]


def _dispatch_step(step_id: int, delay_s: float = 0.0) -> None:
    from .tasks import execute_step

    if delay_s > 0:
        execute_step.apply_async((step_id,), countdown=delay_s)
    else:
        execute_step.delay(step_id)


def _dispatch_steps(step_ids: Sequence[int], delay_s: float = 0.0) -> None:
    """Send steps queued together to the workers as a few batches (see ``step_batches``), or
    keep a lone step for this worker thread to run next (see ``continuing_here``)."""
    from .tasks import execute_steps

    chain = getattr(_continuation, "chain", None)
    batches = step_batches(step_ids)
    if chain is not None and len(batches) == 1 and delay_s <= 0 and _continuation.left > 0:
        _continuation.left -= 1
        chain.append((batches[0], None))
        return
    for batch in batches:
        if len(batch) == 1:
            _dispatch_step(batch[0], delay_s)
        elif delay_s > 0:
            execute_steps.apply_async((batch,), countdown=delay_s)
        else:
            execute_steps.delay(batch)


_continuation = threading.local()
CONTINUE_AT_MOST = 50  # batches a worker thread runs in a row before it hands the next to the broker


@contextmanager
def continuing_here() -> Iterator[None]:
    """Within this block (a worker's task), the steps that the block's work queues together
    without a delay, when they fit one batch, are run by this thread right after the block
    instead of going through the broker: a conversation's next turn, or a workflow's next
    fan-out (its calls on this worker's agent-call pool), starts without a round trip
    through Redis and another worker.

    The steps are queued in the database exactly as if they had been sent (a worker lost in
    between leaves them to the sweeper) and claimed the same way; at most
    ``CONTINUE_AT_MOST`` batches run in a row before the next one is sent, so one run cannot
    keep a thread to itself.
    """
    if getattr(_continuation, "chain", None) is not None:  # nested: the outer block runs the chain
        yield
        return
    _continuation.chain, _continuation.left, _continuation.known = deque(), CONTINUE_AT_MOST, {}
    _continuation.last, _continuation.early = False, {}
    try:
        yield
        while _continuation.chain:
            batch, token = _continuation.chain.popleft()
            known = {pk: step for pk in batch if (step := _continuation.known.pop(pk, None)) is not None}
            _execute(batch, stream=True, pooled=len(batch) > 1, known=known, claimed=token)
    finally:
        leftover = list(_continuation.chain)
        # Calls started early (_start_calls_early) for a transaction that rolled back run out on
        # the pool unrecorded: their steps were never written. Those of a chain cut short run
        # out too, while their steps, given back below, run again wherever they are sent.
        _continuation.chain = _continuation.known = _continuation.early = None
        for batch, token in leftover:  # a chain cut short by an error: those steps still go out
            if token is not None:
                _unclaim(batch, token)
            _dispatch_steps(batch)


@contextmanager
def _then_continuing() -> Iterator[None]:
    """Marks the enclosed work as this thread's last before it runs its continuation chain
    (``continuing_here``): steps that work queues can be created already claimed by this
    thread (see ``_claim_at_insert``), since nothing else of this thread runs in between."""
    previous = getattr(_continuation, "last", False)
    _continuation.last = True
    try:
        yield
    finally:
        _continuation.last = previous


def _claim_at_insert(queued: Sequence[tuple[Step, float]], now) -> uuid.UUID | None:
    """Claim steps a transition is about to insert, if this thread runs them the moment the
    transaction commits; return the claim token, or None to insert them queued.

    That holds within a continuation (``continuing_here``) whose chain is empty, in its
    last piece of work (``_then_continuing``), for one batch of agent steps that wait for
    nothing (no delay, no child run) and fit this worker's free agent-call slots. The rows
    then go in running, under this thread's claim and lease, and the continuation skips the
    claim: one UPDATE of every step fewer per fan-out. Should the worker be lost in
    between, the sweeper requeues the steps when their lease ends, as for any claimed step.
    """
    steps = [step for step, _delay in queued]
    if (
        not steps
        or getattr(_continuation, "chain", None) is None
        or _continuation.chain
        or not _continuation.last
        or _continuation.left <= 0
        or len(steps) > _conf("STEP_BATCH_SIZE")
        or any(step.child_swarm_id is not None or delay_s > 0 for step, delay_s in queued)
    ):
        return None
    if len(steps) > 1 and agent_call_pool().free < len(steps):
        return None
    token = uuid.uuid4()
    lease = now + timedelta(seconds=_conf("STEP_LEASE_SECONDS"))
    for step in steps:
        step.status, step.claim_token, step.attempts = StepStatus.RUNNING, token, 1
        step.started_at, step.lease_expires_at = now, lease
    return token


@dataclass(frozen=True)
class _EarlyCalls:
    """A fan-out's agent calls started before its rows were committed (``_start_calls_early``)."""

    ready: list[_Prepared]
    finished: queue.SimpleQueue  # (prepared, result, error) as each call ends


def _start_calls_early(steps: list[Step], claim: uuid.UUID) -> None:
    """Start the agent calls of a fan-out this thread claimed at insert (``_claim_at_insert``)
    while the transaction that writes their rows is still open.

    Writing a wide fan-out (its step rows, their events, the run's state) and committing it
    takes tens of milliseconds; the calls, which mostly wait on their models, need none of
    it. So they start first, under primary keys allocated for their rows, and the
    continuation that runs the batch after the commit only collects their results. Nothing
    is recorded before the rows are committed: the results wait on a queue that only this
    thread reads, after the commit, under the claim the rows were inserted with. Should the
    transaction roll back instead, the calls run out and nobody records them, as with a
    call whose worker is lost (a step runs at least once). A call that needs the run (a tool
    posting a message) waits for the run's lock until the commit, as it would for any
    transaction holding it.

    Only when every step is an ordinary (not instant) call that its agent may make now, the
    keys can be allocated ahead (``allocate_ids``: PostgreSQL, SQLite) and the agent-call pool
    has a slot for each; otherwise the continuation starts the calls after the commit.
    """
    if connection.vendor not in ("postgresql", "sqlite"):  # where allocate_ids can
        return
    agents = Agent.objects.in_bulk({step.agent_id for step in steps if step.agent_id is not None})
    if any(step.agent_id not in agents for step in steps):
        return  # an agent gone: the continuation settles its step
    ready: list[_Prepared] = []
    checked: dict[tuple, Any] = {}
    try:
        for step in steps:
            step._state.fields_cache["agent"] = agents[step.agent_id]  # step.agent = ..., its id is set already
            prepared = _prepare(step, checked)
            if not isinstance(prepared, _Prepared) or prepared.instant:
                return  # settled without a call (denied) or instant: the usual way, after the commit
            ready.append(prepared)
    except Exception:  # the continuation prepares them again, and reports what fails
        logger.exception("Run %s: could not start a fan-out's calls early", steps[0].run_id)
        return
    pool = agent_call_pool()
    slots = pool.reserve(len(ready), wait=False)
    if slots < len(ready):
        pool.release(slots)
        return
    if not allocate_ids(steps):
        pool.release(slots)
        return
    finished: queue.SimpleQueue = queue.SimpleQueue()
    arrived = _Countdown(len(ready))
    _submit_calls(pool, ready, finished, stream=True, arrived=arrived)
    # Let every call get under way before this thread goes back to its (CPU-bound) writing:
    # each needs the interpreter for a moment to start, and would otherwise get it only
    # between this thread's statements, so the calls would start, and end, spread out.
    arrived.wait(EARLY_START_WAIT_S)
    _continuation.early[claim] = _EarlyCalls(ready, finished)


class _Countdown:
    def __init__(self, count: int) -> None:
        self.left = count
        self.done = threading.Condition()

    def arrive(self) -> None:
        with self.done:
            self.left -= 1
            if self.left <= 0:
                self.done.notify_all()

    def wait(self, timeout: float) -> None:
        with self.done:
            self.done.wait_for(lambda: self.left <= 0, timeout)


def _call_arrived(arrived: _Countdown, prepared: _Prepared, stream: bool) -> StepResult:
    arrived.arrive()
    return _call_agent(prepared, stream=stream)


async def _acall_arrived(arrived: _Countdown, prepared: _Prepared) -> StepResult:
    arrived.arrive()
    return await _acall_agent(prepared)


def _unclaim(step_ids: Sequence[int], token: uuid.UUID) -> None:
    """Give back steps claimed at insert that this thread will not run after all (its chain was
    cut short): queued again, for whichever worker they are sent to."""
    try:
        Step.objects.filter(pk__in=step_ids, status=StepStatus.RUNNING, claim_token=token).update(
            status=StepStatus.QUEUED, claim_token=None, lease_expires_at=None, started_at=None, attempts=0
        )
    except Exception:  # the sweeper requeues them when their lease ends
        logger.exception("Could not give back steps %s claimed at insert", list(step_ids))


def _remember_steps(steps: Sequence[Step]) -> None:
    """Keep the rows of steps this thread just committed, for a continuation that runs them
    (``continuing_here``): it then starts them without reading them back. Outside a
    continuation block, a no-op."""
    known = getattr(_continuation, "known", None)
    if known is not None:
        known.update((step.pk, step) for step in steps)


def step_batches(step_ids: Sequence[int]) -> list[list[int]]:
    """Split steps queued together into as few even batches as ``STEP_BATCH_SIZE`` allows.

    A run's fan-out goes to one worker as one batch where it can: that worker's
    agent-call pool waits on all the calls at once and its combiner records
    results that finish together in one transaction. Spreading one run over
    several workers measured slower (their transactions take turns on the run's
    lock); different runs spread over the workers anyway.
    """
    ids = list(step_ids)
    if not ids:
        return []
    count = math.ceil(len(ids) / _conf("STEP_BATCH_SIZE"))
    size, extra = divmod(len(ids), count)
    batches, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        batches.append(ids[start:end])
        start = end
    return batches


def _dispatch_child_finished(run_id: int) -> None:
    from .tasks import child_run_finished

    child_run_finished.delay(run_id)


def _dispatch_cancel_children(run_id: int) -> None:
    from .tasks import cancel_child_runs

    cancel_child_runs.delay(run_id)


def _dispatch_begin(run_id: int) -> None:
    from .tasks import begin_run as begin_run_task

    begin_run_task.delay(run_id)


def _lock_run(run_id: int) -> Run | None:
    """The run's row, locked for the rest of the transaction; None if it is gone.

    The config is read only when the run's strategy is not cached yet (a deferred field loads
    on first use): a wide workflow's config is large and most facts never need it. The SQL is
    compiled once per database (every transition of every run takes this lock, and compiling
    the query cost a millisecond of the 2.2 it took)."""
    sql = _lock_run_sql.get(connection.alias)
    if sql is None:
        query = Run.objects.select_for_update().defer("strategy_config").filter(pk=0).order_by().query
        sql = _lock_run_sql[connection.alias] = query.sql_with_params()[0]
    return next(iter(Run.objects.raw(sql, [run_id])), None)


_lock_run_sql: dict[str, str] = {}


# ---- starting ----------------------------------------------------------------


def _effective(run_value, swarm_value, default=None):
    if run_value is not None:
        return run_value
    if swarm_value is not None:
        return swarm_value
    return default


def check_start_run(
    *, swarm: Swarm, task: str, max_steps=None, max_cost=None, max_seconds=None, members: list | None = None
) -> list[str]:
    """Validate a run request; return the member names. Raises ``FieldsError``.

    ``members``: the swarm's members (``SwarmMember`` rows, in order) when the caller has read
    them already, else they are read here."""
    errors: dict[str, list[str]] = {}
    if not isinstance(task, str) or not task.strip():
        errors["task"] = ["Describe the task for the swarm."]
    elif len(task) > MAX_TASK_LENGTH:
        errors["task"] = [f"At most {MAX_TASK_LENGTH} characters."]
    for name, value in (("max_steps", max_steps), ("max_seconds", max_seconds)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            errors[name] = ["Must be a whole number of at least 1."]
    if max_cost is not None and (not isinstance(max_cost, Decimal) or not max_cost.is_finite() or max_cost <= 0):
        errors["max_cost"] = ["Must be a positive amount of dollars."]
    names = [m.name for m in members] if members is not None else swarm.member_names()
    if not names:
        errors["swarm"] = ["This swarm has no members."]
    if errors:
        raise FieldsError("The run cannot start.", fields=errors)
    try:
        build_strategy(swarm.strategy, swarm.strategy_config, names)
    except EngineError as exc:
        raise FieldsError(
            f"The swarm's strategy is misconfigured: {exc}", fields={"swarm": [str(exc)]}, code=exc.code
        ) from None
    return names


@transaction.atomic
def start_run(
    *,
    swarm: Swarm,
    task: str,
    user,
    max_steps: int | None = None,
    max_cost: Decimal | None = None,
    max_seconds: int | None = None,
    parent_step: Step | None = None,
) -> Run:
    """Create a queued run of ``swarm`` on ``task``; a worker begins it after commit.

    With ``parent_step`` the run is a child run carrying out that step of a
    parent run (the step's member is this swarm); its result becomes the step's.
    """
    members = list(swarm.members.select_related("agent", "child_swarm"))  # read once, for both
    check_start_run(
        swarm=swarm, task=task, max_steps=max_steps, max_cost=max_cost, max_seconds=max_seconds, members=members
    )
    depth = parent_step.run.depth + 1 if parent_step is not None else 0
    if depth > _conf("MAX_RUN_NESTING"):
        raise FieldsError(
            f"Swarms nest at most {_conf('MAX_RUN_NESTING')} deep.", fields={"swarm": ["Nesting limit reached."]}
        )
    run = Run.objects.create(
        swarm=swarm,
        owner=user,
        task=task.strip(),
        strategy=swarm.strategy,
        strategy_config=swarm.strategy_config,
        roster=[[m.name, m.agent_id, m.child_swarm_id] for m in members],
        parent_step=parent_step,
        depth=depth,
        max_steps=_effective(max_steps, swarm.max_steps, _conf("DEFAULT_MAX_STEPS")),
        max_cost=_effective(max_cost, swarm.max_cost),
        max_seconds=_effective(max_seconds, swarm.max_seconds, _conf("DEFAULT_MAX_SECONDS")),
    )
    log = EventLog(run)
    log.append(EventKind.RUN_STATUS, run_data(run))
    log.flush(save_seq=True)
    transaction.on_commit(lambda: _dispatch_begin(run.pk))
    return run


def begin_run(run_id: int) -> None:
    """Feed ``RunStarted`` to a queued run's strategy. Idempotent."""
    context = _start_context(run_id)  # before the lock: a hook may load ratings or a model
    with _then_continuing(), transaction.atomic():
        run = _lock_run(run_id)
        if run is None or run.status != RunStatus.QUEUED:
            return
        run.started_at = timezone.now()
        log = EventLog(run)
        _feed(run, RunStarted(task=run.task), log, context=context)


def _start_context(run_id: int) -> dict[str, Any] | None:
    """What a strategy's start hook (``apps.runs.hooks``) supplies, or None without a hook."""
    queued = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED)
    hooks = hooks_for(strategy) if (strategy := queued.values_list("strategy", flat=True).first()) else None
    if hooks is None or hooks.start_context is None:
        return None  # most strategies: the run's row (a workflow's large config) is not loaded
    run = queued.first()
    if run is None:
        return None
    try:
        return hooks.start_context(run, _strategy(run))
    except EngineError:
        return None  # a broken config fails the run in _feed, with its message


# ---- the core transition ---------------------------------------------------


_STRATEGY_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_STRATEGY_CACHE_LOCK = threading.Lock()
_STRATEGY_CACHE_SIZE = 256


def _strategy(run: Run):
    """The run's strategy, built (and validated) once per run and roster, and for strategies
    built from their config alone (``config_only``), once per config and roster.

    A run's strategy config is a snapshot that never changes, and strategies are immutable,
    so one instance serves every fact of the run in this process; and every run of a
    workflow whose config and members are the same: the config is then recognised by its
    digest, computed by the database, without reading or parsing it (a 200-node workflow's
    config is about 11 KB of JSON, read, decoded and validated at every start before).
    """
    # created_at too: an id alone can come back (a rolled-back transaction on SQLite)
    names = tuple(run.member_names())
    key = (run.pk, run.created_at, run.strategy, names)
    with _STRATEGY_CACHE_LOCK:
        if (strategy := _STRATEGY_CACHE.get(key)) is not None:
            _STRATEGY_CACHE.move_to_end(key)
            return strategy
    shared = None
    if config_only(run.strategy) and (digest := _config_digest(run)) is not None:
        shared = (run.strategy, digest, names)
        with _STRATEGY_CACHE_LOCK:
            strategy = _STRATEGY_CACHE.get(shared)
    if strategy is None:
        strategy = build_strategy(run.strategy, run.strategy_config, names)
    with _STRATEGY_CACHE_LOCK:
        for cached in (key, shared) if shared else (key,):
            _STRATEGY_CACHE[cached] = strategy
            _STRATEGY_CACHE.move_to_end(cached)
        while len(_STRATEGY_CACHE) > _STRATEGY_CACHE_SIZE:
            _STRATEGY_CACHE.popitem(last=False)
    return strategy


def _config_digest(run: Run) -> str | None:
    """The MD5 of the run's strategy config as PostgreSQL writes it out (``jsonb`` is stored
    normalised, so equal configs give equal text); None elsewhere, where the config is read."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT md5(strategy_config::text) FROM runs_run WHERE id = %s", [run.pk])
        row = cursor.fetchone()
    return row[0] if row else None


def _feed(
    run: Run,
    fact: Fact | Sequence[Fact],
    log: EventLog,
    *,
    rooms: tuple[Room, ...] = (),
    context: dict[str, Any] | None = None,
    persist: bool = True,
) -> None:
    """Feed ``fact`` (or a batch of step completions, in order) to the run's strategy and apply
    the transition. Call holding the run lock.

    With ``persist=False`` the run row and ``log`` are left for the caller to save and flush
    (a batch of completions does it once)."""
    facts = list(fact) if isinstance(fact, list | tuple) else [fact]
    try:
        strategy = _strategy(run)
        if isinstance(facts[0], RunStarted):
            kwargs = {"context": context} if context is not None else {}
            transition = strategy.start(facts[0].task, **kwargs)
        else:
            transition = _on_facts(strategy, run.state, facts)
    except EngineError as exc:
        logger.warning("Run %s: strategy rejected %r: %s", run.pk, facts, exc)
        transition = Transition(run.state, (Fail(f"Strategy error: {exc}"),))
    except Exception as exc:
        logger.exception("Run %s: strategy crashed on %r", run.pk, facts)
        transition = Transition(run.state, (Fail(f"Internal strategy error: {type(exc).__name__}: {exc}"),))
    _apply(run, transition, log, rooms=rooms, persist=persist)
    hooks = hooks_for(run.strategy)
    if hooks is not None and hooks.after_transition is not None:
        hooks.after_transition(run)


def _on_facts(strategy, state: dict[str, Any], facts: list[Fact]) -> Transition:
    """One transition for facts that arrived together: the strategy's ``on_facts`` when it has
    one (one pass for the batch), else ``on_fact`` for each in turn. Facts after one that
    ends the run are not fed, as if they had arrived after it ended."""
    on_facts = getattr(strategy, "on_facts", None)
    if len(facts) > 1 and on_facts is not None:
        return on_facts(state, facts)
    actions: list = []
    for fact in facts:
        transition = strategy.on_fact(state, fact)
        state = transition.state
        actions.extend(transition.actions)
        if any(isinstance(action, Finish | Fail) for action in transition.actions):
            break
    return Transition(state, tuple(actions))


class _Rooms:
    """Room rows of a run by name, created on first use; ``known`` rooms need no query.

    Used holding the run's lock, as every creation of a room is, so a room missing from the
    run's rooms is created without guarding against a concurrent creation (get_or_create's
    savepoint: two round trips more)."""

    def __init__(self, run: Run, known: tuple[Room, ...] = ()) -> None:
        self.run = run
        self.cache: dict[str, Room] = {room.name: room for room in known}
        self.loaded = False

    def get(self, name: str) -> Room:
        if name not in self.cache and not self.loaded:
            table = connection.ops.quote_name(Room._meta.db_table)  # plain SQL: half the ORM's millisecond
            rooms = Room.objects.raw(f"SELECT id, run_id, name FROM {table} WHERE run_id = %s", [self.run.pk])
            self.cache.update((room.name, room) for room in rooms)
            self.loaded = True
        if name not in self.cache:
            self.cache[name] = Room.objects.create(run=self.run, name=name)
        return self.cache[name]


RUN_FIELDS_CHANGED_BY_FACTS = [
    "status",
    "state",
    "agent_calls",
    "steps_started",
    "event_seq",
    "result",
    "error",
    "started_at",
    "finished_at",
    "cost",
    "tokens",
]


def _save_run(run: Run) -> None:
    """``run.save(update_fields=RUN_FIELDS_CHANGED_BY_FACTS)`` as one plain UPDATE, without the
    per-field save machinery (the run has no save hooks; the caller holds its lock)."""
    update_rows(Run, [(run.pk, {name: getattr(run, name) for name in RUN_FIELDS_CHANGED_BY_FACTS})])


class _NewRows:
    """Steps and messages a transition creates, inserted in one statement per table; their
    events are appended in the order of the actions that made them."""

    def __init__(self, run: Run, log: EventLog) -> None:
        self.run, self.log = run, log
        self.steps: list[Step] = []
        self.messages: list[Message] = []
        self.entries: list[tuple] = []  # (kind, row or data, extra) in action order
        self.queued: list[tuple[Step, float]] = []  # every step created, with its delay

    def add_step(self, step: Step, delay_s: float) -> None:
        self.steps.append(step)
        self.entries.append((EventKind.STEP_QUEUED, step, spend_data(self.run)))
        self.queued.append((step, delay_s))

    def add_message(self, message: Message, room_name: str) -> None:
        self.messages.append(message)
        self.entries.append((EventKind.MESSAGE_POSTED, message, room_name))

    def add_event(self, kind: EventKind, data: dict[str, Any]) -> None:
        self.entries.append((kind, data, None))

    def insert_messages(self) -> None:
        """Insert the messages so far now, ahead of the steps (a step's history may read them)."""
        insert_rows(self.messages)
        self.messages = []  # their events still follow in action order

    def flush(self) -> None:
        insert_rows(self.messages)
        insert_rows(self.steps)
        for kind, row, extra in self.entries:
            if kind == EventKind.STEP_QUEUED:
                self.log.append(kind, {**step_data(row), "spend": extra})
            elif kind == EventKind.MESSAGE_POSTED:
                self.log.append(kind, message_data(row, extra))
            else:
                self.log.append(kind, row)
        self.steps, self.messages, self.entries = [], [], []


def _apply(
    run: Run, transition: Transition, log: EventLog, *, rooms: tuple[Room, ...] = (), persist: bool = True
) -> None:
    now = timezone.now()
    previous_status = run.status
    if run.status == RunStatus.QUEUED:
        run.status = RunStatus.RUNNING
    run.state = transition.state
    room_cache = _Rooms(run, rooms)
    rows = _NewRows(run, log)
    budget = run.budget()  # its limits do not change within a transition
    for action in transition.actions:
        if not run.is_active:
            break
        if isinstance(action, RunStep):
            reason = exceeded_limit(budget, run.spend(now), extra_steps=1)
            if reason:
                rows.flush()
                _finish(run, RunStatus.BUDGET_EXHAUSTED, log, error=f"Budget exhausted: {reason}.")
                break
            member = run.member(action.agent)
            if member is None:
                rows.flush()
                _finish(run, RunStatus.FAILED, log, error=f"Strategy asked for unknown agent {action.agent!r}.")
                break
            agent_id, child_swarm_id = member
            calls = run.agent_calls.get(action.agent, 0)
            run.agent_calls[action.agent] = calls + 1
            run.steps_started += 1
            step = new_row(
                Step,
                run=run,
                key=action.key,
                index=run.steps_started,
                agent_id=agent_id,
                child_swarm_id=child_swarm_id,
                agent_name=action.agent,
                room=room_cache.get(action.room) if action.room else None,
                call_index=calls,
                input=action.input,
                timeout_s=action.timeout_s,
                dispatched_at=now + timedelta(seconds=action.delay_s),
            )
            rows.add_step(step, action.delay_s)
        elif isinstance(action, PostMessage):
            room = room_cache.get(action.room)
            message = new_row(
                Message, run=run, room=room, sender=action.sender, is_human=action.is_human, content=action.content
            )
            rows.add_message(message, room.name)
        elif isinstance(action, Progress):
            rows.add_event(EventKind.STRATEGY_PROGRESS, action.data)
        elif isinstance(action, AskHuman):
            rows.flush()
            question = question_to_dict(action.question)
            request = HumanRequest.objects.create(
                run=run, key=action.key, prompt=question["prompt"], fields=question["fields"]
            )
            log.append(EventKind.HUMAN_REQUESTED, human_request_data(request))
        elif isinstance(action, Finish):
            rows.flush()
            _finish(run, RunStatus.SUCCEEDED, log, result=action.result)
        elif isinstance(action, Fail):
            rows.flush()
            _finish(run, RunStatus.FAILED, log, error=action.reason)
    # every step of the transition still unflushed (none went in before a finish or a question)
    claim = _claim_at_insert(rows.queued, now) if len(rows.steps) == len(rows.queued) else None
    if claim is not None and len(rows.steps) > 1:
        if any(step.room_id is not None for step in rows.steps):  # a step in a room may read its history
            rows.insert_messages()
        _start_calls_early(rows.steps, claim)
    rows.flush()
    new_steps = rows.queued
    if run.is_active:
        if new_steps or Step.objects.filter(run=run, status__in=OUTSTANDING).exists():
            run.status = RunStatus.RUNNING
        elif (
            HumanRequest.objects.filter(run=run, status=HumanRequestStatus.PENDING)
            .exclude(key__startswith=TOOL_REQUEST_PREFIX)  # tools' questions never hold up the strategy
            .exists()
        ):
            run.status = RunStatus.WAITING_INPUT
        else:
            _finish(run, RunStatus.FAILED, log, error="The strategy stopped without finishing the run.")
    if run.status != previous_status and run.is_active:
        log.append(EventKind.RUN_STATUS, run_data(run))
    if persist:
        _save_run(run)
        log.flush()
    by_delay: dict[float, list[Step]] = {}
    for step, delay_s in new_steps if run.is_active else ():  # a run that ended cancelled its steps
        by_delay.setdefault(delay_s, []).append(step)
    for delay_s, steps in by_delay.items():
        transaction.on_commit(lambda steps=steps, delay=delay_s: _dispatch_new_steps(steps, delay, claim))


def _dispatch_new_steps(steps: list[Step], delay_s: float, claim: uuid.UUID | None = None) -> None:
    ids = [step.pk for step in steps]
    if claim is not None:  # claimed at insert for this thread's continuation (_claim_at_insert)
        if getattr(_continuation, "chain", None) is not None:
            _remember_steps(steps)
            _continuation.left -= 1
            _continuation.chain.append((ids, claim))
            return
        _unclaim(ids, claim)
    if delay_s <= 0:
        _remember_steps(steps)
    _dispatch_steps(ids, delay_s)


def _finish(run: Run, status: RunStatus, log: EventLog, *, result: str = "", error: str = "") -> None:
    """End the run: cancel outstanding steps and open human requests. Holding the run lock."""
    now = timezone.now()
    run.status = status
    run.result = result
    run.error = error
    run.finished_at = now
    step_ids, request_ids = _left_open(run)
    outstanding = list(Step.objects.filter(pk__in=step_ids).order_by("index")) if step_ids else []
    if outstanding:
        Step.objects.filter(pk__in=[s.pk for s in outstanding]).update(
            status=StepStatus.CANCELLED, outcome=StepOutcome.CANCELLED.value, finished_at=now, claim_token=None
        )
        for step in outstanding:
            step.status, step.outcome = StepStatus.CANCELLED, StepOutcome.CANCELLED.value
            log.append(EventKind.STEP_FINISHED, step_data(step))
    if any(step.child_swarm_id for step in outstanding):
        transaction.on_commit(lambda run_id=run.pk: _dispatch_cancel_children(run_id))
    if run.parent_step_id is not None:
        transaction.on_commit(lambda run_id=run.pk: _dispatch_child_finished(run_id))
    for request in HumanRequest.objects.filter(pk__in=request_ids) if request_ids else ():
        request.status = HumanRequestStatus.CANCELLED
        request.save(update_fields=["status"])
        log.append(EventKind.HUMAN_ANSWERED, human_request_data(request))
    log.append(EventKind.RUN_STATUS, run_data(run))


def _left_open(run: Run) -> tuple[list[int], list[int]]:
    """The run's outstanding steps and pending human requests (keys), in one round trip: a run
    usually ends with neither, and two ORM queries to learn that cost a millisecond each."""
    quote = connection.ops.quote_name
    steps, requests = quote(Step._meta.db_table), quote(HumanRequest._meta.db_table)
    outstanding = ", ".join(["%s"] * len(OUTSTANDING))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 0, id FROM {steps} WHERE run_id = %s AND status IN ({outstanding})"
            f" UNION ALL SELECT 1, id FROM {requests} WHERE run_id = %s AND status = %s",
            [run.pk, *OUTSTANDING, run.pk, HumanRequestStatus.PENDING],
        )
        rows = cursor.fetchall()
    return [pk for kind, pk in rows if kind == 0], [pk for kind, pk in rows if kind == 1]


# ---- executing steps ---------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    step: Step
    token: uuid.UUID


def claim_step(step: Step) -> Claim | None:
    """Atomically move a queued step to running under a fresh claim token and lease.

    Returns ``None`` if the step was already claimed or finished: a duplicate
    delivery is a no-op. (A run that ends cancels its queued steps, so a
    claimed step always belongs to an active run.)
    """
    return Claim(step=step, token=step.claim_token) if claim_steps([step]) else None


def claim_steps(steps: Sequence[Step]) -> set[int]:
    """Claim queued steps together (one token, two statements at most); return the ids claimed.

    The conditional UPDATE decides which claimer wins each step. Viewers are
    told the claimed steps are running; that notice is live-only, the rows
    keep ``started_at``.
    """
    if not steps:
        return set()
    token = uuid.uuid4()
    now = timezone.now()
    lease = now + timedelta(seconds=_conf("STEP_LEASE_SECONDS"))
    ids = [step.pk for step in steps]
    count = Step.objects.filter(pk__in=ids, status=StepStatus.QUEUED).update(
        status=StepStatus.RUNNING, claim_token=token, started_at=now, lease_expires_at=lease, attempts=F("attempts") + 1
    )
    if count == len(ids):
        claimed = set(ids)
    elif count == 0:
        return set()
    else:
        claimed = set(Step.objects.filter(pk__in=ids, claim_token=token).order_by().values_list("pk", flat=True))
    started: dict[int, list[dict[str, Any]]] = {}
    for step in steps:
        if step.pk in claimed:
            step.status, step.claim_token, step.attempts = StepStatus.RUNNING, token, step.attempts + 1
            step.started_at, step.lease_expires_at = now, lease
            started.setdefault(step.run_id, []).append(step_data(step))
    for run_id, data in started.items():
        broadcast.publish_steps_started(run_id, data)
    return claimed


def _history(step: Step) -> tuple[ChatMessage, ...]:
    limit = _conf("HISTORY_MESSAGES")
    if step.room_id is None or limit == 0:
        return ()
    rows = Message.objects.filter(room_id=step.room_id).order_by("-id").values_list("sender", "content", "is_human")
    return tuple(ChatMessage(sender=s, content=c, is_human=h) for s, c, h in reversed(rows[:limit]))


class _DeltaRelay:
    """Forwards streamed tokens to viewers at most every ``interval`` seconds."""

    def __init__(self, run_id: int, step_id: int, interval: float = 0.1) -> None:
        self.run_id, self.step_id, self.interval = run_id, step_id, interval
        self.buffer: list[str] = []
        self.last = 0.0
        self.lock = threading.Lock()

    def __call__(self, text: str) -> None:
        with self.lock:
            self.buffer.append(text)
            if time.monotonic() - self.last >= self.interval:
                self._flush()

    def _flush(self) -> None:
        if self.buffer:
            broadcast.publish_step_delta(self.run_id, self.step_id, "".join(self.buffer))
            self.buffer = []
        self.last = time.monotonic()

    def close(self) -> None:
        with self.lock:
            self._flush()


@dataclass(frozen=True)
class _Prepared:
    """A step ready for its agent call: everything read from the database beforehand."""

    step: Step
    spec: Any
    request: StepRequest
    instant: bool
    awaitable: bool = False  # its call can be awaited on the pool's event loop (_acall_agent)
    tools: dict[str, Any] | None = None  # the tool registry as its batch read it, for a provider that offers tools


def execute_step(step_id: int, *, stream: bool = True) -> bool:
    """Run one queued step and record its result. Returns whether this call recorded it.

    Instant agents (local, side-effect free: see ``Provider.is_instant``) are
    run and recorded in one transaction. Others are claimed first, under a
    lease, so a slow model call holds no lock and a lost worker is noticed.
    The agent is called on this thread.
    """
    return _execute([step_id], stream=stream, pooled=False).get(step_id, False)


def execute_steps(step_ids: Sequence[int], *, stream: bool = True) -> int:
    """Run a batch of queued steps concurrently and record their results; return how many this
    call recorded (steps already taken or finished are skipped, as with ``execute_step``).

    The agent calls run on this process's agent-call pool (``AGENT_CALLS_PER_WORKER``
    at once); steps are claimed in waves as slots come free, and results that finish
    together are recorded together (one transaction per run for each group).
    """
    outcome = _execute(list(step_ids), stream=stream, pooled=len(step_ids) > 1)
    return sum(1 for recorded in outcome.values() if recorded)


def _execute(
    step_ids: list[int],
    *,
    stream: bool,
    pooled: bool,
    known: dict[int, Step] | None = None,
    claimed: uuid.UUID | None = None,
) -> dict[int, bool]:
    """Run queued steps; ``known``: their rows as this thread committed them a moment ago (a
    continuation), so they are not read back. Either way the claim (or, for instant agents,
    the conditional write of the result) re-checks that each step is still queued.

    ``claimed``: the steps were inserted under this claim (``_claim_at_insert``), so they are
    not claimed again; the conditional write of each result checks the claim still holds. If
    their calls started before the commit (``_start_calls_early``), only their results are
    collected."""
    early = getattr(_continuation, "early", None)
    if claimed is not None and early and (started := early.pop(claimed, None)) is not None:
        return _run_on_pool(started.ready, stream=stream, claimed=True, started=started.finished)
    if claimed is not None:
        queued = Step.objects.filter(pk__in=step_ids, status=StepStatus.RUNNING, claim_token=claimed)
    else:
        queued = Step.objects.filter(pk__in=step_ids, status=StepStatus.QUEUED)
    if known and len(known) == len(step_ids):
        steps = [known[pk] for pk in step_ids]
        runs = {step.run_id: step.run for step in steps}
        agents = Agent.objects.in_bulk({step.agent_id for step in steps if step.agent_id is not None})
        for step in steps:
            step.agent = agents.get(step.agent_id)
    elif len(step_ids) == 1:
        steps = list(queued.select_related("agent", "room", "run"))
        runs = {step.run_id: step.run for step in steps}
    else:
        steps = list(queued.select_related("room").order_by("index"))
        # Each run and agent once, not once per step (a wide workflow's config and state are
        # large), and runs without their state: a step's call never reads it, and the strategy's
        # copy is read under the lock.
        runs = Run.objects.defer("state").in_bulk({step.run_id for step in steps})
        agents = Agent.objects.in_bulk({step.agent_id for step in steps if step.agent_id is not None})
        for step in steps:
            step.agent = agents.get(step.agent_id)
    outcome: dict[int, bool] = {}
    settled: list[Completion] = []
    ready: list[_Prepared] = []
    checked: dict[tuple, Any] = {}  # per agent and run: one check and one spec for the batch
    for step in steps:
        step.run = runs[step.run_id]
        if step.child_swarm_id is not None:
            outcome[step.pk] = _start_child_run(step)
            continue
        prepared = _prepare(step, checked)
        if isinstance(prepared, StepResult):
            settled.append(Completion(step, prepared, claimed))
        elif prepared.instant:
            settled.append(Completion(step, _call_agent(prepared, stream=False), claimed))
        else:
            ready.append(prepared)
    with _then_continuing() if not ready else nullcontext():
        outcome.update(_complete_all(settled))
    if pooled and len(ready) > 1:
        outcome.update(_run_on_pool(ready, stream=stream, claimed=claimed is not None))
        return outcome
    for i, prepared in enumerate(ready, 1):
        if claimed is None and not claim_steps([prepared.step]):
            outcome[prepared.step.pk] = False
            continue
        result = _call_agent(prepared, stream=stream)
        with _then_continuing() if i == len(ready) else nullcontext():
            outcome.update(_complete_all([Completion(prepared.step, result, prepared.step.claim_token)]))
    return outcome


def _prepare(step: Step, checked: dict[tuple, Any] | None = None) -> _Prepared | StepResult:
    """What the agent call needs, or the result that settles the step without one.

    ``checked`` caches, per agent, the governance check and the agent's spec for the
    steps of one batch (made at the same moment, they would give the same answer)."""
    if step.agent is None:
        return StepResult(StepOutcome.ERROR, error=f"Agent {step.agent_name!r} no longer exists.")
    cache = checked if checked is not None else {}
    key = (step.agent_id, step.run_id)
    if key not in cache:
        cache[key] = _check_agent(step)
    found = cache[key]
    if isinstance(found, StepResult):
        return found
    spec, instant, uses_history, awaitable, tools = found
    request = StepRequest(
        task=step.run.task,
        input=step.input,
        step_key=step.key,
        history=_history(step) if uses_history else (),
        call_index=step.call_index,
        timeout_s=min(step.timeout_s or float("inf"), float(_conf("STEP_TIMEOUT_SECONDS"))),
    )
    return _Prepared(step=step, spec=spec, request=request, instant=instant, awaitable=awaitable, tools=tools)


def _check_agent(step: Step) -> tuple[Any, bool, bool, bool, dict[str, Any] | None] | StepResult:
    """May the step's agent act in its run now; its spec, whether it is instant, reads history,
    and can be awaited (``Provider.waits_async``; no memory to recall and no tools offered: both
    need the database, which the pool's event loop never touches); and, for a provider that
    offers the model tools, the tool registry read once here for every call of the batch (each
    call reading it on its own thread opened a database connection per call: a fan-out of 200
    ran PostgreSQL out of connections)."""
    try:
        check_may_act(step.agent, run=step.run)
    except GovernanceError as exc:
        return StepResult(StepOutcome.ERROR, error=f"Permission denied ({exc.rule}): {exc.message}")
    provider = get_provider(step.agent.provider)
    try:
        spec = step.agent.to_spec()
    except EngineError as exc:  # e.g. its instructions template no longer renders
        return StepResult(StepOutcome.ERROR, error=f"Agent {step.agent_name}: {exc.message}")
    agent = step.agent
    instant = provider.is_instant(agent.config)
    host = RunToolHost(step, agent) if provider.uses_tools and not instant else None
    awaitable = (
        not instant
        and not agent.memory_top_k
        and provider.waits_async(agent.config)
        and not (host is not None and host.specs())
    )
    return spec, instant, provider.uses_history, awaitable, host.registry() if host is not None else None


def _call_agent(prepared: _Prepared, *, stream: bool) -> StepResult:
    """The agent call itself, with memory recall, token streaming and the run's tools."""
    step = prepared.step
    recalled = _recall(step)
    request = (
        replace(prepared.request, input=_with_memories(prepared.request.input, recalled))
        if recalled
        else prepared.request
    )
    if prepared.instant:
        return _noting_recall(run_agent_step(prepared.spec, request), recalled)
    relay = _DeltaRelay(step.run_id, step.pk) if stream and step.agent.provider == "openai" else None
    tools = RunToolHost(step, step.agent, registry=prepared.tools)
    try:
        result = run_agent_step(prepared.spec, request, on_token=relay, tools=tools)
    finally:
        if relay is not None:
            relay.close()
    if tools.calls or result.data.get("tool_calls"):
        calls = merge_records(list(result.data.get("tool_calls") or []), tools.calls)
        result = replace(result, data={**result.data, "tool_calls": calls})
    return _noting_recall(result, recalled)


async def _acall_agent(prepared: _Prepared) -> StepResult:
    """``_call_agent`` awaited on the agent-call pool's event loop, for a call that only waits
    (``_Prepared.awaitable``: no memory recall, no tools; no awaited provider streams tokens)."""
    return await arun_agent_step(prepared.spec, prepared.request)


def _submit_calls(
    pool, prepared: Sequence[_Prepared], done: queue.SimpleQueue, *, stream: bool, arrived: _Countdown | None = None
) -> None:
    """Start the calls of ``prepared`` in slots reserved on ``pool``: those that only wait on its
    event loop, in one hand-over, the others on a thread each. Each call's outcome goes on
    ``done``; with ``arrived``, each call counts itself there as it gets under way."""
    awaited = [p for p in prepared if p.awaitable]
    if arrived is not None:
        pool.submit_awaiting([(_acall_arrived, (arrived, p), p) for p in awaited], done=done)
    else:
        pool.submit_awaiting([(_acall_agent, (p,), p) for p in awaited], done=done)
    for p in prepared:
        if p.awaitable:
            continue
        if arrived is not None:
            pool.submit(_call_arrived, arrived, p, stream, done=done, tag=p)
        else:
            pool.submit(_call_agent, p, stream=stream, done=done, tag=p)


def _linger(first: tuple, finished: queue.SimpleQueue, running: int) -> list[tuple]:
    """Group commit delay: once a result is in, keep collecting the calls that finish right
    behind it (a fan-out's calls end together) while they keep coming, ``RECORD_QUIET_S``
    apart at most, for ``RECORD_LINGER_S`` in all, so one transaction records them all.

    ``finished`` receives each call's outcome as it ends, so collecting n results costs n
    queue reads (``concurrent.futures.wait`` on the calls still running would install and
    remove a waiter on every one of them for each result: quadratic in a wide fan-out)."""
    done = [first]
    deadline = time.monotonic() + RECORD_LINGER_S
    while len(done) < running and (left := deadline - time.monotonic()) > 0:
        try:
            done.append(finished.get(timeout=min(RECORD_QUIET_S, left)))
        except queue.Empty:
            break
    return done


def _run_on_pool(
    ready: list[_Prepared], *, stream: bool, claimed: bool = False, started: queue.SimpleQueue | None = None
) -> dict[int, bool]:
    """Claim (unless ``claimed`` already) and call ``ready`` steps on the agent-call pool;
    record results as they finish. ``started``: the calls are running already (started
    early), each will put its outcome on this queue."""
    pool = agent_call_pool()
    todo = deque(ready if started is None else ())
    running = 0 if started is None else len(ready)
    # (prepared, result, error) as each call ends
    finished_calls: queue.SimpleQueue = queue.SimpleQueue() if started is None else started
    outcome: dict[int, bool] = {}
    while todo or running:
        if todo:
            slots = pool.reserve(len(todo), wait=not running)
            if slots:
                wave = [todo.popleft() for _ in range(slots)]
                taken = {p.step.pk for p in wave} if claimed else claim_steps([p.step for p in wave])
                pool.release(slots - len(taken))
                for prepared in wave:
                    if prepared.step.pk not in taken:
                        outcome[prepared.step.pk] = False  # taken or finished meanwhile
                calls = [prepared for prepared in wave if prepared.step.pk in taken]
                _submit_calls(pool, calls, finished_calls, stream=stream)
                running += len(calls)
        if running:
            try:  # while steps wait for slots, look again every 50 ms
                first = finished_calls.get(timeout=0.05 if todo else None)
            except queue.Empty:
                continue
            done = _linger(first, finished_calls, running)
            running -= len(done)
            finished = []
            for prepared, result, error in done:
                if error is not None and not isinstance(error, Exception):
                    raise error
                if error is not None:  # a bug around the call; the provider's own errors are results
                    logger.error("Step %s: the agent call crashed", prepared.step.pk, exc_info=error)
                    result = StepResult(StepOutcome.ERROR, error=f"Internal error: {type(error).__name__}: {error}")
                finished.append(Completion(prepared.step, result, prepared.step.claim_token))
            with _then_continuing() if not (todo or running) else nullcontext():
                outcome.update(_complete_all(finished))
    return outcome


def _recall(step: Step) -> list[dict[str, Any]]:
    """The memories most relevant to the step's input, when the agent recalls memory automatically."""
    agent = step.agent
    if not agent.memory_top_k:
        return []
    from apps.memory.services import search_memory

    scopes = []
    if agent.memory_scope in ("swarm", "both") and step.run.swarm_id is not None:
        scopes.append({"swarm": step.run.swarm_id})
    if agent.memory_scope in ("agent", "both"):
        scopes.append({"agent": agent})
    hits, query = [], step.input or step.run.task
    with database_turn():  # on a pool thread: a connection only while recalling
        for scope in scopes:
            hits += search_memory(owner=step.run.owner, query=query, k=agent.memory_top_k, **scope)
    hits.sort(key=lambda hit: -hit.score)
    return [{"id": h.entry.pk, "score": round(h.score, 4), "text": h.entry.text} for h in hits[: agent.memory_top_k]]


def _with_memories(text: str, recalled: list[dict[str, Any]]) -> str:
    if not recalled:
        return text
    lines = "\n".join(f"- {m['text']}" for m in recalled)
    return f"Relevant memory (most similar first):\n{lines}\n\n{text}"


def _noting_recall(result: StepResult, recalled: list[dict[str, Any]]) -> StepResult:
    return replace(result, data={**result.data, "recalled_memory": recalled}) if recalled else result


def _start_child_run(step: Step) -> bool:
    """A step whose member is a swarm: run that swarm on the step's input as a child run.

    The step stays running without a lease (the child run is the unit of work
    now; the sweeper leaves it alone) until the child run ends.
    """
    claim = claim_step(step)
    if claim is None:
        return False
    Step.objects.filter(pk=step.pk).update(lease_expires_at=None)
    child_swarm = Swarm.objects.filter(pk=step.child_swarm_id).first()
    try:
        if child_swarm is None:
            raise FieldsError("The member swarm no longer exists.", fields={"swarm": ["Deleted."]})
        child = start_run(swarm=child_swarm, task=step.input, user=step.run.owner, parent_step=step)
    except FieldsError as exc:
        return complete_step(step, claim.token, StepResult(StepOutcome.ERROR, error=str(exc)))
    Step.objects.filter(pk=step.pk).update(data={"child_run": child.pk})
    return True


def child_run_finished(run_id: int) -> bool:
    """A child run ended: its result (or failure) completes the parent's step."""
    child = Run.objects.filter(pk=run_id).select_related("parent_step").first()
    if child is None or child.parent_step is None or child.is_active:
        return False
    if child.status == RunStatus.SUCCEEDED:
        result = StepResult(StepOutcome.SUCCESS, content=child.result)
    else:
        result = StepResult(
            StepOutcome.ERROR, error=f"Child run #{child.pk} {child.get_status_display().lower()}: {child.error}"
        )
    result = replace(result, usage=Usage(cost=child.cost, completion_tokens=child.tokens), data={"child_run": child.pk})
    return _record_result(child.parent_step, result, outstanding=True)


def cancel_child_runs(run_id: int) -> int:
    """The parent run ended: cancel its child runs that are still going."""
    cancelled = 0
    for child in Run.objects.filter(parent_step__run_id=run_id, status__in=RunStatus.active()):
        try:
            cancel_run(run_id=child.pk, user=None, reason=f"The parent run #{run_id} ended.")
            cancelled += 1
        except Conflict:
            pass
    return cancelled


@dataclass(frozen=True)
class Completion:
    """A step's result, and which writer's it is: the row is written only if the step is
    still in the state that writer expects (so each step is recorded exactly once)."""

    step: Step
    result: StepResult
    token: uuid.UUID | None = None  # ran under this claim; None: never claimed (still queued)
    outstanding: bool = False  # a cancellation or a child run's end: queued or running, any claim


def complete_step(step: Step, token: uuid.UUID, result: StepResult) -> bool:
    """Record ``result`` for a step claimed with ``token`` and feed it to the strategy.

    Exactly once: if the step was re-claimed (lease expired) or already
    finished, nothing is written and ``False`` is returned. Completions of
    the same run that arrive together in this process are combined into one
    transaction (see ``_Combiner``).
    """
    return _complete_all([Completion(step, result, token)])[step.pk]


def _complete_all(completions: Sequence[Completion]) -> dict[int, bool]:
    """Record completions (of any runs) through each run's combiner; whether each was recorded."""
    by_run: dict[int, list[Completion]] = {}
    for completion in completions:
        by_run.setdefault(completion.step.run_id, []).append(completion)
    outcome: dict[int, bool] = {}
    for run_id, group in by_run.items():
        for completion, recorded in zip(group, _combiner(run_id).complete(group), strict=True):
            outcome[completion.step.pk] = recorded
    return outcome


class _Combiner:
    """Group commit for one run's step completions within a process.

    Every completion needs the run's row lock, so the completions of a wide
    run serialise; each taking its own transaction (a lock wait, a commit, a
    WAL flush) makes that the bottleneck. Instead, the first thread to arrive
    becomes the leader: it takes the lock once and records every completion
    queued meanwhile in one transaction (``_record_completions``: a statement
    or two per table for the whole batch, one strategy transition), and keeps
    going while more arrive. If the batch fails (rare), each completion is
    recorded again on its own, so one bad completion never costs the others
    theirs. Each caller gets its outcomes (one ``Future`` per caller, however
    many completions it brought) only after the commit, so a caller never
    reports a result that was not stored.
    """

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.lock = threading.Lock()
        self.pending: list[tuple[list[Completion], Future]] = []
        self.leading = False
        self.batches = 0  # for tests and diagnostics
        self.largest_batch = 0

    def complete(self, completions: Sequence[Completion]) -> list[bool]:
        future: Future = Future()
        with self.lock:
            self.pending.append((list(completions), future))
            lead = not self.leading
            self.leading = self.leading or lead
        if lead:
            self._lead()
        outcomes = future.result()
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return outcomes

    def _lead(self) -> None:
        while True:
            with self.lock:
                batch, self.pending = self.pending, []
                if not batch:
                    self.leading = False
                    return
            self.batches += 1
            self.largest_batch = max(self.largest_batch, sum(len(completions) for completions, _done in batch))
            self._record(batch)

    def _record(self, batch: list[tuple[list[Completion], Future]]) -> None:
        completions = [completion for group, _done in batch for completion in group]
        outcomes: list[bool | BaseException]
        try:
            with transaction.atomic():
                run = _lock_run(self.run_id)
                if run is None:
                    outcomes = [False] * len(completions)
                else:
                    outcomes = list(_record_completions(run, completions, EventLog(run)))
        except Exception:
            # Rare: something in the batch failed and the whole transaction rolled back. Record each
            # completion on its own, so one bad completion cannot cost the others theirs.
            logger.exception(
                "Run %s: a combined batch of %s completions failed; recording one by one", self.run_id, len(completions)
            )
            outcomes = []
            for completion in completions:
                try:
                    outcomes.append(_record_one(completion))
                except Exception as exc:
                    outcomes.append(exc)
        except BaseException as exc:
            for _group, done in batch:
                done.set_exception(exc)
            raise
        start = 0
        for group, done in batch:
            done.set_result(outcomes[start : start + len(group)])
            start += len(group)


_combiners: dict[int, _Combiner] = {}
_combiners_lock = threading.Lock()


def _combiner(run_id: int) -> _Combiner:
    with _combiners_lock:
        combiner = _combiners.get(run_id)
        if combiner is None:
            if len(_combiners) > 1000:  # forget idle runs' combiners
                for key in [k for k, c in _combiners.items() if not c.leading and not c.pending]:
                    del _combiners[key]
            combiner = _combiners[run_id] = _Combiner(run_id)
        return combiner


def post_message(run_id: int, *, room: str, sender: str, content: str) -> None:
    """Post a message an agent sent with a tool (direct message or broadcast) to a room of the run."""
    with transaction.atomic():
        run = _lock_run(run_id)
        if run is None or not run.is_active:
            return
        room_row, _ = Room.objects.get_or_create(run=run, name=room)
        message = Message.objects.create(run=run, room=room_row, sender=sender, content=content[:20_000])
        log = EventLog(run)
        log.append(EventKind.MESSAGE_POSTED, message_data(message, room))
        log.flush(save_seq=True)


def change_run_members(run_id: int, *, joined=(), left=(), by: str = "") -> None:
    """Agents joined the run (spawned by a member) or left it (terminated): update the
    roster, tell the strategy, and say so in the conversation."""
    with transaction.atomic():
        run = _lock_run(run_id)
        if run is None or not run.is_active:
            return
        names_in = [a.name for a in joined if run.agent_id(a.name) is None]
        run.roster = [*run.roster, *[[a.name, a.pk, None] for a in joined if a.name in names_in]]
        names_out = [a.name for a in left if run.agent_id(a.name) is not None]
        if not names_in and not names_out:
            return
        log = EventLog(run)
        for name in names_in:
            log.append(EventKind.AGENT_JOINED, {"agent": name, "by": by})
        for name in names_out:
            log.append(EventKind.AGENT_LEFT, {"agent": name, "by": by})
        room_name = (run.state or {}).get("room") or run.strategy_config.get("room") or "main"
        room, _ = Room.objects.get_or_create(run=run, name=room_name)
        text = "; ".join([*(f"{by} spawned {n}" for n in names_in), *(f"{by} terminated {n}" for n in names_out)])
        message = Message.objects.create(run=run, room=room, sender="system", content=text + ".")
        log.append(EventKind.MESSAGE_POSTED, message_data(message, room.name))
        run.save(update_fields=["roster"])
        _feed(run, MembersChanged(joined=tuple(names_in), left=tuple(names_out)), log)


def cancel_steps_of_agents(agent_ids: list[int], *, reason: str) -> int:
    """Cancel the queued and running steps of these agents and tell their runs' strategies.

    Used when agents are terminated. A worker still running such a step
    finds its claim gone and its result is discarded.
    """
    cancelled = 0
    outstanding = Step.objects.filter(agent_id__in=agent_ids, status__in=OUTSTANDING).select_related("room")
    for step in outstanding:
        result = StepResult(StepOutcome.CANCELLED, error=reason)
        if _record_result(step, result, claimed_with=None, outstanding=True):
            cancelled += 1
    return cancelled


def _record_result(
    step: Step, result: StepResult, *, claimed_with: uuid.UUID | None = None, outstanding: bool = False
) -> bool:
    """Write a step's result and feed it to the run's strategy, in one transaction.

    With ``claimed_with``, only a running step holding that claim token is
    updated; without, only a still-queued step (the instant path); with
    ``outstanding``, a queued or running one (cancellation). Either way the
    conditional write decides which writer wins.
    """
    return _record_one(Completion(step, result, claimed_with, outstanding))


def _record_one(completion: Completion) -> bool:
    with transaction.atomic():
        run = _lock_run(completion.step.run_id)
        if run is None:
            return False
        return _record_completions(run, [completion], EventLog(run))[0]


def _record_completions(run: Run, completions: Sequence[Completion], log: EventLog) -> list[bool]:
    """Record step results for a caller holding ``run``'s lock in an open transaction.

    Each step's row is written only if it is in the state its completion expects
    (``_write_results``); the recorded results are fed to the strategy together, in
    order, and the run row is saved and the events inserted once. Returns whether
    each completion was recorded.
    """
    now = timezone.now()
    recorded = _write_results(completions, now)
    if not any(recorded):
        return recorded
    facts: list[StepFinished] = []
    rooms: dict[int, Room] = {}
    for completion, ok in zip(completions, recorded, strict=True):
        if not ok:
            continue
        step, result = completion.step, completion.result
        run.cost += result.usage.cost
        run.tokens += result.usage.total_tokens
        log.append(EventKind.STEP_FINISHED, step_data(step, run))
        facts.append(StepFinished(key=step.key, agent=step.agent_name, result=result))
        if step.room_id:
            rooms[step.room_id] = step.room
    if run.is_active:
        _feed(run, facts, log, rooms=tuple(rooms.values()), persist=False)
    _save_run(run)
    log.flush()
    return recorded


def _write_results(completions: Sequence[Completion], now) -> list[bool]:
    """Write each result whose step is still in the state its completion expects; which were written.

    One completion: one conditional UPDATE. Several that ran under claims (a batch of
    results, the common case) on PostgreSQL: one conditional UPDATE for all
    (``update_rows_if``). Others (cancellations, steps recorded without a claim, a step
    twice in the batch, SQLite): one locked read of their rows to decide, then one UPDATE
    for all that hold (a duplicate loses)."""
    if len(completions) == 1:
        (completion,) = completions
        fields = _result_fields(completion.result, now)
        pending = Step.objects.filter(pk=completion.step.pk)
        if completion.outstanding:
            pending = pending.filter(status__in=OUTSTANDING)
        elif completion.token is None:  # run and recorded without a claim
            pending = pending.filter(status=StepStatus.QUEUED)
            fields.update(started_at=now, attempts=F("attempts") + 1)
        else:
            pending = pending.filter(status=StepStatus.RUNNING, claim_token=completion.token)
        if not pending.update(**fields):
            return [False]
        if "attempts" in fields:
            fields["attempts"] = completion.step.attempts + 1
        for name, value in fields.items():
            setattr(completion.step, name, value)
        return [True]
    all_claimed = all(c.token is not None and not c.outstanding for c in completions)
    distinct = len({c.step.pk for c in completions}) == len(completions)
    # (On SQLite, a statement per row either way: there the locked read and executemany is cheaper.)
    if connection.vendor == "postgresql" and all_claimed and distinct:
        writes = [
            (c.step.pk, {"status": StepStatus.RUNNING, "claim_token": c.token}, _result_fields(c.result, now))
            for c in completions
        ]
        written = update_rows_if(Step, writes)
        for completion, (pk, _expected, fields) in zip(completions, writes, strict=True):
            if pk in written:
                for name, value in fields.items():
                    setattr(completion.step, name, value)
        return [c.step.pk in written for c in completions]
    rows = {
        pk: (status, token, attempts)
        for pk, status, token, attempts in Step.objects.select_for_update()
        .filter(pk__in=[c.step.pk for c in completions])
        .order_by()  # the default order joins the runs, and FOR UPDATE would lock them too
        .values_list("pk", "status", "claim_token", "attempts")
    }
    recorded: list[bool] = []
    writes: list[tuple[int, dict[str, Any]]] = []
    for completion in completions:
        status, token, attempts = rows.get(completion.step.pk, (None, None, 0))
        if completion.outstanding:
            ok = status in OUTSTANDING
        elif completion.token is None:
            ok = status == StepStatus.QUEUED
        else:
            ok = status == StepStatus.RUNNING and token == completion.token
        recorded.append(ok)
        if not ok:
            continue
        rows[completion.step.pk] = (None, None, attempts)  # a duplicate in the same batch records nothing
        fields = _result_fields(completion.result, now)
        if completion.token is None and not completion.outstanding:  # run and recorded without a claim
            fields.update(started_at=now, attempts=attempts + 1)
        writes.append((completion.step.pk, fields))
        for name, value in fields.items():
            setattr(completion.step, name, value)
    update_rows(Step, writes)
    return recorded


def _result_fields(result: StepResult, now) -> dict[str, Any]:
    if result.outcome is StepOutcome.CANCELLED:
        status = StepStatus.CANCELLED
    else:
        status = StepStatus.SUCCEEDED if result.ok else StepStatus.FAILED
    return {
        "status": status,
        "outcome": result.outcome.value,
        "output": result.content,
        "error": result.error,
        "done": result.done,
        "data": _jsonable(result.data),
        "cost": result.usage.cost,
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
        "latency_ms": result.latency_ms,
        "finished_at": now,
        "lease_expires_at": None,
        "claim_token": None,
    }


def _jsonable(data: Any) -> Any:
    if isinstance(data, dict):
        return {str(k): _jsonable(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_jsonable(v) for v in data]
    if isinstance(data, str | int | float | bool) or data is None:
        return data
    return str(data)


# ---- people ------------------------------------------------------------------


def answer_human_request(*, request_id: int, answer: dict[str, Any], user) -> HumanRequest:
    """Validate and record a person's answer, then resume the run with it."""
    with transaction.atomic():
        run_id = HumanRequest.objects.filter(pk=request_id).values_list("run_id", flat=True).first()
        run = _lock_run(run_id) if run_id is not None else None
        if run is None:
            raise Conflict("No such human request.", code=ErrorCode.NOT_FOUND)
        request = HumanRequest.objects.get(pk=request_id)
        if request.status != HumanRequestStatus.PENDING:
            raise Conflict("This request has already been answered or cancelled.", code=ErrorCode.HUMAN_REQUEST_CLOSED)
        if not run.is_active:
            raise Conflict("The run is no longer active.", code=ErrorCode.RUN_NOT_ACTIVE)
        question = parse_question({"prompt": request.prompt, "fields": request.fields})
        try:
            cleaned = validate_answer(question, answer)
        except EngineError as exc:
            raise FieldsError(exc.message, fields=exc.fields, code=ErrorCode.INVALID_ANSWER) from None
        request.status = HumanRequestStatus.ANSWERED
        request.answer = cleaned
        request.answered_by = user
        request.answered_at = timezone.now()
        request.save(update_fields=["status", "answer", "answered_by", "answered_at"])
        log = EventLog(run)
        log.append(EventKind.HUMAN_ANSWERED, human_request_data(request))
        if request.key.startswith(TOOL_REQUEST_PREFIX):
            _tool_request_answered(run, request, cleaned, log, user)
        else:
            _feed(run, HumanAnswered(key=request.key, answer=cleaned), log)
    return request


# ---- human requests made by tools (not by the strategy) -----------------------------------

TOOL_REQUEST_PREFIX = "tool:"
ANSWER_FIELD = [{"name": "answer", "label": "Answer", "kind": "textarea", "required": True}]
APPROVAL_FIELDS = [
    {"name": "approve", "label": "Approve this tool", "kind": "boolean", "required": False},
    {"name": "note", "label": "Note", "kind": "text", "required": False},
]


def _main_room(run: Run) -> str:
    return (run.state or {}).get("room") or run.strategy_config.get("room") or "main"


def _add_tool_request(run_id: int, *, key: str, prompt: str, fields: list[dict[str, Any]]) -> HumanRequest:
    with transaction.atomic():
        run = _lock_run(run_id)
        if run is None or not run.is_active:
            raise Conflict("The run is no longer active.", code=ErrorCode.RUN_NOT_ACTIVE)
        request = HumanRequest.objects.create(run=run, key=key, prompt=prompt, fields=fields)
        log = EventLog(run)
        log.append(EventKind.HUMAN_REQUESTED, human_request_data(request))
        log.flush(save_seq=True)
    return request


def ask_human_from_tool(run_id: int, *, agent: str, prompt: str, room: str | None = None) -> HumanRequest:
    """An agent's ``ask_human`` tool: the question goes to people now; the answer is posted to ``room`` later.

    The run keeps going meanwhile (the strategy does not wait on it).
    """
    run = Run.objects.only("state", "strategy_config").get(pk=run_id)
    room = room or _main_room(run)
    key = f"{TOOL_REQUEST_PREFIX}ask:{uuid.uuid4().hex[:10]}:{room}"[:120]
    request = _add_tool_request(run_id, key=key, prompt=f"{agent} asks: {prompt}", fields=ANSWER_FIELD)
    request.answer_room = room
    return request


def ask_human_for_tool_approval(run_id: int, tool) -> HumanRequest:
    """A tool an agent made waits for a person's yes or no in the run that made it."""
    prompt = (
        f"{tool.made_by.name if tool.made_by else 'An agent'} made the tool {tool.name} v{tool.version}: "
        f"{tool.description}\n\nParameters: {tool.parameters}\n\nSource:\n{tool.source}"
    )
    return _add_tool_request(
        run_id, key=f"{TOOL_REQUEST_PREFIX}approve:{tool.pk}", prompt=prompt, fields=APPROVAL_FIELDS
    )


def _tool_request_answered(run: Run, request: HumanRequest, answer: dict[str, Any], log: EventLog, user) -> None:
    """Route an answer to what asked: a message for ``ask_human``, a review for a made tool."""
    _, kind, rest = request.key.split(":", 2)
    if kind == "ask":
        room_name = rest.split(":", 1)[1]
        room, _ = Room.objects.get_or_create(run=run, name=room_name)
        message = Message.objects.create(
            run=run,
            room=room,
            sender=user.get_username(),
            is_human=True,
            content=f'Answer to "{request.prompt}": {answer.get("answer", "")}',
        )
        log.append(EventKind.MESSAGE_POSTED, message_data(message, room_name))
    elif kind == "approve":
        from apps.tools.models import MadeTool
        from apps.tools.services import review_tool

        tool = MadeTool.objects.filter(pk=int(rest)).first()
        if tool is not None:
            try:
                review_tool(tool, approve=bool(answer.get("approve")), user=user, note=str(answer.get("note") or ""))
            except Conflict:
                pass  # reviewed meanwhile on the Tools page
    log.flush(save_seq=True)


def cancel_run(*, run_id: int, user, reason: str = "") -> Run:
    with transaction.atomic():
        run = _lock_run(run_id)
        if run is None:
            raise Conflict("No such run.", code=ErrorCode.NOT_FOUND)
        if not run.is_active:
            raise Conflict(f"The run has already ended ({run.get_status_display()}).", code=ErrorCode.RUN_NOT_ACTIVE)
        log = EventLog(run)
        who = user.get_username() if user is not None else "the system"
        _finish(run, RunStatus.CANCELLED, log, error=reason or f"Cancelled by {who}.")
        run.save(update_fields=["status", "result", "error", "finished_at", "event_seq"])
        log.flush()
    return run


# ---- recovering lost work ---------------------------------------------------------


@dataclass
class SweepReport:
    requeued_steps: int = 0
    failed_steps: int = 0
    redispatched_steps: int = 0
    redispatched_runs: int = 0
    expired_runs: int = 0


def sweep(*, now=None, dispatch: Callable[[int], None] | None = None) -> SweepReport:
    """Recover from lost messages and dead workers; enforce wall-time budgets.

    - running steps whose lease expired are queued again (or failed after
      ``STEP_MAX_ATTEMPTS``), so a crashed worker never stalls a run;
    - queued steps and runs nobody picked up are dispatched again (a
      duplicate delivery is harmless: claims are atomic);
    - active runs past their time limit end as budget exhausted.
    """
    now = now or timezone.now()
    dispatch = dispatch or _dispatch_step
    report = SweepReport()
    stale = now - timedelta(seconds=_conf("REDISPATCH_AFTER_SECONDS"))
    expired = Step.objects.filter(status=StepStatus.RUNNING, lease_expires_at__lt=now).select_related("run")[:200]
    for step in expired:
        if step.attempts < _conf("STEP_MAX_ATTEMPTS"):
            if Step.objects.filter(pk=step.pk, status=StepStatus.RUNNING, claim_token=step.claim_token).update(
                status=StepStatus.QUEUED, claim_token=None, lease_expires_at=None, dispatched_at=now
            ):
                report.requeued_steps += 1
                transaction.on_commit(lambda step_id=step.pk: dispatch(step_id))
        else:
            error = f"The worker running this step was lost {step.attempts} times."
            if complete_step(step, step.claim_token, StepResult(StepOutcome.ERROR, error=error)):
                report.failed_steps += 1
    for step_id in Step.objects.filter(status=StepStatus.QUEUED, dispatched_at__lt=stale).values_list("pk", flat=True)[
        :500
    ]:
        if Step.objects.filter(pk=step_id, status=StepStatus.QUEUED).update(dispatched_at=now):
            report.redispatched_steps += 1
            dispatch(step_id)
    for run_id in Run.objects.filter(status=RunStatus.QUEUED, created_at__lt=stale).values_list("pk", flat=True)[:200]:
        report.redispatched_runs += 1
        _dispatch_begin(run_id)
    timed = Run.objects.filter(status__in=RunStatus.active(), max_seconds__isnull=False, started_at__isnull=False)
    for run_id, started_at, max_seconds in timed.values_list("pk", "started_at", "max_seconds"):
        if started_at + timedelta(seconds=max_seconds) <= now and _expire(run_id, now):
            report.expired_runs += 1
    return report


def _expire(run_id: int, now) -> bool:
    with transaction.atomic():
        run = _lock_run(run_id)
        if run is None or not run.is_active:
            return False
        reason = exceeded_limit(run.budget(), run.spend(now))
        if reason is None:
            return False
        log = EventLog(run)
        _finish(run, RunStatus.BUDGET_EXHAUSTED, log, error=f"Budget exhausted: {reason}.")
        run.save(update_fields=["status", "result", "error", "finished_at", "event_seq"])
        log.flush()
    return True
