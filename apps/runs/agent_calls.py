"""The pool of threads a step worker process runs agent calls on.

A batch of steps (``services.execute_steps``) hands its agent calls to this
pool so they wait on their models concurrently, far beyond the worker's
Celery threads. Slots are reserved before steps are claimed, so a claimed
step never sits in a queue while its lease runs: a batch larger than the
free slots is claimed in waves as calls finish.

Pool threads keep no database connection: a call that opened one (a tool,
memory recall) closes it when it ends, so hundreds of concurrent calls never
hold hundreds of connections.

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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.backends.signals import connection_created

logger = logging.getLogger(__name__)


class AgentCallPool:
    """A fixed set of daemon threads, all started at once, with reservable slots."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
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
            _pool = AgentCallPool(settings.SWARMWEB["AGENT_CALLS_PER_WORKER"])
            _pool_pid = os.getpid()
        return _pool
