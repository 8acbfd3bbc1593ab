"""The pool of threads a step worker process runs agent calls on.

A batch of steps (``services.execute_steps``) hands its agent calls to this
pool so they wait on their models concurrently, far beyond the worker's
Celery threads. Slots are reserved before steps are claimed, so a claimed
step never sits in a queue while its lease runs: a batch larger than the
free slots is claimed in waves as calls finish.

Pool threads hold a database connection only while they use it: the work of a
call that needs the database (a tool, memory recall) runs in a database turn
(``database_turn``), one of ``AGENT_CALL_DB_CONNECTIONS`` per process, and
gives its connection back when the turn ends, before the call goes back to
waiting on its model. So hundreds of concurrent calls that each use a tool
never hold hundreds of connections (a fan-out of 200 such LLM calls ran
PostgreSQL out of them: 88 of its steps failed with "too many clients").

A call's outcome goes onto the queue its submitter gave (no ``Future`` per
call): a wide fan-out submits hundreds at once, and the submitter reads them
back in the order they end.

Calls that only wait (``Provider.waits_async``: an HTTP exchange with a model,
a scripted delay) are awaited instead on the pool's one event loop
(``submit_awaiting``), in the same slots: hundreds of them start and end
without waking a thread each (200 threads woken one by one took 10-16 ms to
get a wide fan-out's calls under way, and as long again to hand their results
back). Nothing on the loop touches the database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.backends.signals import connection_created

logger = logging.getLogger(__name__)


class AgentCallPool:
    """A fixed set of daemon threads, all started at once, with reservable slots."""

    def __init__(self, size: int, database_turns: int = 8) -> None:
        self.size = size
        self._free = size
        self.database_turns = _DatabaseTurns(database_turns)
        self._slots = threading.Condition()
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None  # started on first awaited call
        self._awaiting: set[asyncio.Task] = set()
        self._threads = [
            threading.Thread(target=self._serve, name=f"swarmweb-agent-call-{i}", daemon=True) for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def reserve(self, wanted: int, *, wait: bool) -> int:
        """Take up to ``wanted`` free slots; with ``wait``, block until at least one is free."""
        with self._slots:
            if wait:
                self._slots.wait_for(lambda: self._free > 0)
            taken = min(wanted, self._free)
            self._free -= taken
            return taken

    def release(self, count: int = 1) -> None:
        if count <= 0:
            return
        with self._slots:
            self._free += count
            self._slots.notify_all()

    @property
    def free(self) -> int:
        with self._slots:
            return self._free

    def submit(
        self, fn: Callable[..., Any], *args: Any, done: queue.SimpleQueue, tag: Any = None, **kwargs: Any
    ) -> None:
        """Run ``fn`` on a pool thread in a slot reserved beforehand. When it returns, the slot
        is released and ``(tag, result, None)`` (or ``(tag, None, exception)``) put on ``done``."""
        self._work.put((done, tag, fn, args, kwargs))

    def submit_awaiting(
        self, calls: Sequence[tuple[Callable[..., Awaitable[Any]], tuple, Any]], *, done: queue.SimpleQueue
    ) -> None:
        """Await each ``fn(*args)`` of ``calls`` (``(fn, args, tag)``) on the pool's event loop,
        each in a slot reserved beforehand; as each ends, its slot is released and ``(tag,
        result, None)`` (or ``(tag, None, exception)``) put on ``done``, as ``submit`` does.
        The whole batch reaches the loop in one hand-over."""
        if calls:
            self._event_loop().call_soon_threadsafe(self._start_awaiting, list(calls), done)

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._slots:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="swarmweb-agent-call-loop", daemon=True).start()
            return self._loop

    def _start_awaiting(self, calls: list[tuple[Callable[..., Awaitable[Any]], tuple, Any]], done) -> None:
        assert self._loop is not None
        for fn, args, tag in calls:
            task = self._loop.create_task(self._awaited(fn, args, tag, done))
            self._awaiting.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._awaiting.discard)

    async def _awaited(self, fn: Callable[..., Awaitable[Any]], args: tuple, tag: Any, done) -> None:
        result, error = None, None
        try:
            result = await fn(*args)
        except BaseException as exc:  # reported to the submitter, as a thread's call would be
            error = exc
        finally:
            self.release(1)
        done.put((tag, result, error))

    def _serve(self) -> None:
        _pool_thread.turns = self.database_turns
        while True:
            done, tag, fn, args, kwargs = self._work.get()
            result, error = None, None
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                error = exc
            finally:
                if getattr(_opened, "connection", False):  # pool threads hold no connection between calls
                    _opened.connection = False
                    connections.close_all()
                self.release(1)
            done.put((tag, result, error))


_opened = threading.local()  # whether this thread opened a database connection since it last closed
_pool_thread = threading.local()  # .turns on the pool's threads: the pool's _DatabaseTurns


class _DatabaseTurns:
    """How many of a pool's threads may hold a database connection at once, and how many do."""

    def __init__(self, size: int) -> None:
        self._slots = threading.BoundedSemaphore(size)
        self._count = threading.Lock()
        self.taking = 0  # threads in a turn now
        self.most = 0  # the most that were at once (for tests and diagnostics)

    @contextmanager
    def turn(self) -> Iterator[None]:
        self._slots.acquire()
        with self._count:
            self.taking += 1
            self.most = max(self.most, self.taking)
        try:
            yield
        finally:
            if getattr(_opened, "connection", False):
                _opened.connection = False
                connections.close_all()
            with self._count:
                self.taking -= 1
            self._slots.release()


@contextmanager
def database_turn() -> Iterator[None]:
    """Around work of an agent call that uses the database (a tool, memory recall).

    On an agent-call pool thread: waits for one of the pool's database turns
    (``AGENT_CALL_DB_CONNECTIONS``), and closes the connection the work opened when it ends,
    so a call holds none while it waits on its model. Nested turns are one turn. Elsewhere (a
    worker's task thread, which keeps its connection; a web request) it does nothing.
    """
    turns: _DatabaseTurns | None = getattr(_pool_thread, "turns", None)
    if turns is None or getattr(_pool_thread, "in_turn", False):
        yield
        return
    _pool_thread.in_turn = True
    try:
        with turns.turn():
            yield
    finally:
        _pool_thread.in_turn = False


def _note_connection(sender, connection, **kwargs) -> None:
    _opened.connection = True


# Closing every alias after each call cost more than many calls' own Python (Django's
# connection handler looks each alias up in an asgiref local); most calls never open one.
connection_created.connect(_note_connection, dispatch_uid="swarmweb-agent-call-pool-connections")


_pool: AgentCallPool | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def agent_call_pool() -> AgentCallPool:
    """This process's pool (``AGENT_CALLS_PER_WORKER`` threads), started on first use."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():  # first use, or we were forked
            _pool = AgentCallPool(
                settings.SWARMWEB["AGENT_CALLS_PER_WORKER"], settings.SWARMWEB["AGENT_CALL_DB_CONNECTIONS"]
            )
            _pool_pid = os.getpid()
        return _pool
