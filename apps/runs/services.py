"""Run services: the only code that changes runs, steps, messages and human requests.

The pattern of every state change: lock the run row, feed one fact to the
strategy, turn the actions it returns into rows and events, save, and after
commit dispatch the queued steps and publish the events. Tasks, views, the
API and the admin all call these functions.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.agents.governance import check_may_act
from apps.core.errors import Conflict, FieldsError
from apps.engine.errors import EngineError, ErrorCode
from apps.engine.executor import run_agent_step
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
)
from apps.engine.values import ChatMessage, EventKind, StepOutcome, StepRequest, StepResult, Usage, exceeded_limit
from apps.swarms.models import Swarm

from . import broadcast
from .events import EventLog
from .hooks import hooks_for
from .models import HumanRequest, HumanRequestStatus, Message, Room, Run, RunStatus, Step, StepStatus
from .presenters import human_request_data, message_data, run_data, step_data
from .tools import RunToolHost, merge_records

logger = logging.getLogger(__name__)

MAX_TASK_LENGTH = 100_000
OUTSTANDING = (StepStatus.QUEUED, StepStatus.RUNNING)


def _conf(name: str) -> int:
    return settings.SWARMWEB[name]


def _dispatch_step(step_id: int, delay_s: float = 0.0) -> None:
    from .tasks import execute_step

    if delay_s > 0:
        execute_step.apply_async((step_id,), countdown=delay_s)
    else:
        execute_step.delay(step_id)


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
    return Run.objects.select_for_update().filter(pk=run_id).first()


# ---- starting ----------------------------------------------------------------


def _effective(run_value, swarm_value, default=None):
    if run_value is not None:
        return run_value
    if swarm_value is not None:
        return swarm_value
    return default


def check_start_run(*, swarm: Swarm, task: str, max_steps=None, max_cost=None, max_seconds=None) -> list[str]:
    """Validate a run request; return the member names. Raises ``FieldsError``."""
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
    names = swarm.member_names()
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
    check_start_run(swarm=swarm, task=task, max_steps=max_steps, max_cost=max_cost, max_seconds=max_seconds)
    depth = parent_step.run.depth + 1 if parent_step is not None else 0
    if depth > _conf("MAX_RUN_NESTING"):
        raise FieldsError(
            f"Swarms nest at most {_conf('MAX_RUN_NESTING')} deep.", fields={"swarm": ["Nesting limit reached."]}
        )
    members = list(swarm.members.select_related("agent", "child_swarm"))
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
    with transaction.atomic():
        run = _lock_run(run_id)
        if run is None or run.status != RunStatus.QUEUED:
            return
        run.started_at = timezone.now()
        log = EventLog(run)
        _feed(run, RunStarted(task=run.task), log, context=context)


def _start_context(run_id: int) -> dict[str, Any] | None:
    """What a strategy's start hook (``apps.runs.hooks``) supplies, or None without a hook."""
    run = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).first()
    hooks = hooks_for(run.strategy) if run is not None else None
    if hooks is None or hooks.start_context is None:
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
    """The run's strategy, built (and validated) once per run and roster.

    A run's strategy config is a snapshot that never changes, and strategies
    are immutable, so one instance serves every fact of the run in this process.
    """
    # created_at too: an id alone can come back (a rolled-back transaction on SQLite)
    key = (run.pk, run.created_at, run.strategy, tuple(run.member_names()))
    with _STRATEGY_CACHE_LOCK:
        if (strategy := _STRATEGY_CACHE.get(key)) is not None:
            _STRATEGY_CACHE.move_to_end(key)
            return strategy
    strategy = build_strategy(run.strategy, run.strategy_config, key[3])
    with _STRATEGY_CACHE_LOCK:
        _STRATEGY_CACHE[key] = strategy
        while len(_STRATEGY_CACHE) > _STRATEGY_CACHE_SIZE:
            _STRATEGY_CACHE.popitem(last=False)
    return strategy


def _feed(
    run: Run,
    fact: Fact,
    log: EventLog,
    *,
    rooms: tuple[Room, ...] = (),
    context: dict[str, Any] | None = None,
    persist: bool = True,
) -> None:
    """Feed ``fact`` to the run's strategy and apply the transition. Call holding the run lock.

    With ``persist=False`` the run row and ``log`` are left for the caller to save and flush
    (a batch of completions does it once)."""
    try:
        strategy = _strategy(run)
        if isinstance(fact, RunStarted):
            kwargs = {"context": context} if context is not None else {}
            transition = strategy.start(fact.task, **kwargs)
        else:
            transition = strategy.on_fact(run.state, fact)
    except EngineError as exc:
        logger.warning("Run %s: strategy rejected %r: %s", run.pk, fact, exc)
        transition = Transition(run.state, (Fail(f"Strategy error: {exc}"),))
    except Exception as exc:
        logger.exception("Run %s: strategy crashed on %r", run.pk, fact)
        transition = Transition(run.state, (Fail(f"Internal strategy error: {type(exc).__name__}: {exc}"),))
    _apply(run, transition, log, rooms=rooms, persist=persist)
    hooks = hooks_for(run.strategy)
    if hooks is not None and hooks.after_transition is not None:
        hooks.after_transition(run)


class _Rooms:
    """Room rows of a run by name, created on first use; ``known`` rooms need no query."""

    def __init__(self, run: Run, known: tuple[Room, ...] = ()) -> None:
        self.run = run
        self.cache: dict[str, Room] = {room.name: room for room in known}

    def get(self, name: str) -> Room:
        if name not in self.cache:
            self.cache[name], _ = Room.objects.get_or_create(run=self.run, name=name)
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


def _apply(
    run: Run, transition: Transition, log: EventLog, *, rooms: tuple[Room, ...] = (), persist: bool = True
) -> None:
    now = timezone.now()
    previous_status = run.status
    if run.status == RunStatus.QUEUED:
        run.status = RunStatus.RUNNING
    run.state = transition.state
    room_cache = _Rooms(run, rooms)
    new_steps: list[tuple[Step, float]] = []
    for action in transition.actions:
        if not run.is_active:
            break
        if isinstance(action, RunStep):
            reason = exceeded_limit(run.budget(), run.spend(now), extra_steps=1)
            if reason:
                _finish(run, RunStatus.BUDGET_EXHAUSTED, log, error=f"Budget exhausted: {reason}.")
                break
            member = run.member(action.agent)
            if member is None:
                _finish(run, RunStatus.FAILED, log, error=f"Strategy asked for unknown agent {action.agent!r}.")
                break
            agent_id, child_swarm_id = member
            calls = run.agent_calls.get(action.agent, 0)
            run.agent_calls[action.agent] = calls + 1
            run.steps_started += 1
            step = Step.objects.create(
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
            new_steps.append((step, action.delay_s))
            log.append(EventKind.STEP_QUEUED, step_data(step, run))
        elif isinstance(action, PostMessage):
            room = room_cache.get(action.room)
            message = Message.objects.create(
                run=run, room=room, sender=action.sender, is_human=action.is_human, content=action.content
            )
            log.append(EventKind.MESSAGE_POSTED, message_data(message, room.name))
        elif isinstance(action, Progress):
            log.append(EventKind.STRATEGY_PROGRESS, action.data)
        elif isinstance(action, AskHuman):
            question = question_to_dict(action.question)
            request = HumanRequest.objects.create(
                run=run, key=action.key, prompt=question["prompt"], fields=question["fields"]
            )
            log.append(EventKind.HUMAN_REQUESTED, human_request_data(request))
        elif isinstance(action, Finish):
            _finish(run, RunStatus.SUCCEEDED, log, result=action.result)
        elif isinstance(action, Fail):
            _finish(run, RunStatus.FAILED, log, error=action.reason)
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
        run.save(update_fields=RUN_FIELDS_CHANGED_BY_FACTS)
        log.flush()
    for step, delay_s in new_steps:
        transaction.on_commit(lambda step_id=step.pk, delay=delay_s: _dispatch_step(step_id, delay))


def _finish(run: Run, status: RunStatus, log: EventLog, *, result: str = "", error: str = "") -> None:
    """End the run: cancel outstanding steps and open human requests. Holding the run lock."""
    now = timezone.now()
    run.status = status
    run.result = result
    run.error = error
    run.finished_at = now
    outstanding = list(Step.objects.filter(run=run, status__in=OUTSTANDING))
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
    for request in HumanRequest.objects.filter(run=run, status=HumanRequestStatus.PENDING):
        request.status = HumanRequestStatus.CANCELLED
        request.save(update_fields=["status"])
        log.append(EventKind.HUMAN_ANSWERED, human_request_data(request))
    log.append(EventKind.RUN_STATUS, run_data(run))


# ---- executing steps ---------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    step: Step
    token: uuid.UUID


def claim_step(step: Step) -> Claim | None:
    """Atomically move a queued step to running under a fresh claim token and lease.

    Returns ``None`` if the step was already claimed or finished: a duplicate
    delivery is a no-op. (A run that ends cancels its queued steps, so a
    claimed step always belongs to an active run.) Viewers are told the step
    is running; that notice is live-only, the row keeps ``started_at``.
    """
    token = uuid.uuid4()
    now = timezone.now()
    lease = now + timedelta(seconds=_conf("STEP_LEASE_SECONDS"))
    claimed = Step.objects.filter(pk=step.pk, status=StepStatus.QUEUED).update(
        status=StepStatus.RUNNING, claim_token=token, started_at=now, lease_expires_at=lease, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    step.status, step.claim_token, step.started_at, step.lease_expires_at = StepStatus.RUNNING, token, now, lease
    step.attempts += 1
    broadcast.publish_step_started(step.run_id, step_data(step))
    return Claim(step=step, token=token)


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


def execute_step(step_id: int, *, stream: bool = True) -> bool:
    """Run one queued step and record its result. Returns whether this call recorded it.

    Instant agents (local, side-effect free: see ``Provider.is_instant``) are
    run and recorded in one transaction. Others are claimed first, under a
    lease, so a slow model call holds no lock and a lost worker is noticed.
    """
    step = Step.objects.select_related("agent", "room", "run").filter(pk=step_id, status=StepStatus.QUEUED).first()
    if step is None:
        return False  # gone, taken or finished: a duplicate delivery
    if step.child_swarm_id is not None:
        return _start_child_run(step)
    if step.agent is None:
        return _record_result(step, StepResult(StepOutcome.ERROR, error=f"Agent {step.agent_name!r} no longer exists."))
    try:
        check_may_act(step.agent, run=step.run)
    except GovernanceError as exc:
        return _record_result(
            step, StepResult(StepOutcome.ERROR, error=f"Permission denied ({exc.rule}): {exc.message}")
        )
    provider = get_provider(step.agent.provider)
    recalled = _recall(step)
    request = StepRequest(
        task=step.run.task,
        input=_with_memories(step.input, recalled),
        step_key=step.key,
        history=_history(step) if provider.uses_history else (),
        call_index=step.call_index,
        timeout_s=min(step.timeout_s or float("inf"), float(_conf("STEP_TIMEOUT_SECONDS"))),
    )
    try:
        spec = step.agent.to_spec()
    except EngineError as exc:  # e.g. its instructions template no longer renders
        return _record_result(step, StepResult(StepOutcome.ERROR, error=f"Agent {step.agent_name}: {exc.message}"))
    if provider.is_instant(step.agent.config):
        return _record_result(step, _noting_recall(run_agent_step(spec, request), recalled))
    claim = claim_step(step)
    if claim is None:
        return False
    relay = _DeltaRelay(step.run_id, step.pk) if stream and step.agent.provider == "openai" else None
    tools = RunToolHost(step, step.agent)
    result = run_agent_step(spec, request, on_token=relay, tools=tools)
    if relay is not None:
        relay.close()
    if tools.calls or result.data.get("tool_calls"):
        calls = merge_records(list(result.data.get("tool_calls") or []), tools.calls)
        result = replace(result, data={**result.data, "tool_calls": calls})
    return complete_step(step, claim.token, _noting_recall(result, recalled))


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
    hits = []
    for scope in scopes:
        hits += search_memory(owner=step.run.owner, query=step.input or step.run.task, k=agent.memory_top_k, **scope)
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


def complete_step(step: Step, token: uuid.UUID, result: StepResult) -> bool:
    """Record ``result`` for a step claimed with ``token`` and feed it to the strategy.

    Exactly once: if the step was re-claimed (lease expired) or already
    finished, nothing is written and ``False`` is returned. Completions of
    the same run that arrive together in this process are combined into one
    transaction (see ``_Combiner``).
    """
    return _combiner(step.run_id).complete(step, token, result)


class _Combiner:
    """Group commit for one run's step completions within a process.

    Every completion needs the run's row lock, so the completions of a wide
    run serialise; each taking its own transaction (a lock wait, a commit, a
    WAL flush) makes that the bottleneck. Instead, the first thread to arrive
    becomes the leader: it takes the lock once and records every completion
    queued meanwhile in one transaction, and keeps going while more arrive.
    If the batch fails (rare), each completion is recorded again on its own,
    so one bad completion never costs the others theirs. Each
    caller gets its own outcome only after the commit, so a caller never
    reports a result that was not stored. The strategy still sees the facts
    one at a time, in arrival order.
    """

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.lock = threading.Lock()
        self.pending: list[tuple[Step, uuid.UUID, StepResult, Future]] = []
        self.leading = False
        self.batches = 0  # for tests and diagnostics
        self.largest_batch = 0

    def complete(self, step: Step, token: uuid.UUID, result: StepResult) -> bool:
        done: Future = Future()
        with self.lock:
            self.pending.append((step, token, result, done))
            lead = not self.leading
            self.leading = self.leading or lead
        if lead:
            self._lead()
        return done.result()

    def _lead(self) -> None:
        while True:
            with self.lock:
                batch, self.pending = self.pending, []
                if not batch:
                    self.leading = False
                    return
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(batch))
            self._record(batch)

    def _record(self, batch: list[tuple[Step, uuid.UUID, StepResult, Future]]) -> None:
        outcomes: list[tuple[Future, bool | BaseException]] = []
        try:
            with transaction.atomic():
                run = _lock_run(self.run_id)
                log = EventLog(run) if run is not None else None
                for step, token, result, done in batch:
                    recorded = run is not None and _record_locked(run, step, result, claimed_with=token, batch_log=log)
                    outcomes.append((done, recorded))
                if run is not None and any(recorded for _done, recorded in outcomes):
                    run.save(update_fields=RUN_FIELDS_CHANGED_BY_FACTS)  # once for the batch
                    log.flush()
        except Exception:
            # Rare: something in the batch failed and the whole transaction rolled back. Record each
            # completion on its own, so one bad completion cannot cost the others theirs.
            logger.exception(
                "Run %s: a combined batch of %s completions failed; recording one by one", self.run_id, len(batch)
            )
            outcomes = []
            for step, token, result, done in batch:
                try:
                    outcomes.append((done, _record_result(step, result, claimed_with=token)))
                except Exception as exc:
                    outcomes.append((done, exc))
        except BaseException as exc:
            for _step, _token, _result, done in batch:
                done.set_exception(exc)
            raise
        for done, outcome in outcomes:
            if isinstance(outcome, BaseException):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)


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
    conditional UPDATE decides which writer wins.
    """
    with transaction.atomic():
        run = _lock_run(step.run_id)
        if run is None:
            return False
        return _record_locked(run, step, result, claimed_with=claimed_with, outstanding=outstanding)


def _record_locked(
    run: Run,
    step: Step,
    result: StepResult,
    *,
    claimed_with: uuid.UUID | None = None,
    outstanding: bool = False,
    batch_log: EventLog | None = None,
) -> bool:
    """``_record_result``'s work, for a caller that holds ``run``'s lock in an open transaction.

    With ``batch_log`` the events go to that log and the run row is not saved: the caller saves
    and flushes once for its whole batch."""
    now = timezone.now()
    if result.outcome is StepOutcome.CANCELLED:
        status = StepStatus.CANCELLED
    else:
        status = StepStatus.SUCCEEDED if result.ok else StepStatus.FAILED
    fields: dict[str, Any] = {
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
    if outstanding:
        recorded = Step.objects.filter(pk=step.pk, status__in=OUTSTANDING).update(**fields)
    elif claimed_with is None:
        pending = Step.objects.filter(pk=step.pk, status=StepStatus.QUEUED)
        recorded = pending.update(**fields, started_at=now, attempts=F("attempts") + 1)
        step.started_at, step.attempts = now, step.attempts + 1
    else:
        recorded = Step.objects.filter(pk=step.pk, status=StepStatus.RUNNING, claim_token=claimed_with).update(**fields)
    if not recorded:
        return False
    for name, value in fields.items():
        setattr(step, name, value)
    run.cost += result.usage.cost
    run.tokens += result.usage.total_tokens
    log = batch_log if batch_log is not None else EventLog(run)
    log.append(EventKind.STEP_FINISHED, step_data(step, run))
    if run.is_active:
        fact = StepFinished(key=step.key, agent=step.agent_name, result=result)
        _feed(run, fact, log, rooms=(step.room,) if step.room_id else (), persist=batch_log is None)
    elif batch_log is None:
        run.save(update_fields=["cost", "tokens", "event_seq"])
        log.flush()
    return True


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
