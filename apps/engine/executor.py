"""The agent-step executor: run one agent on one request and report a ``StepResult``.

It never raises for a failed step: provider errors, timeouts and crashes all
become a result with an outcome and an error message, so the run engine can
decide (retry, skip, fail) in the strategy rather than in a stack trace.
"""

from __future__ import annotations

import logging
import time

from .errors import EngineError, ProviderTimeout
from .providers import Reply, TokenSink, get_provider
from .tools import NoTools, ToolHost
from .values import AgentSpec, StepOutcome, StepRequest, StepResult

logger = logging.getLogger(__name__)


def run_agent_step(
    spec: AgentSpec, request: StepRequest, *, on_token: TokenSink | None = None, tools: ToolHost | None = None
) -> StepResult:
    started = time.perf_counter()
    try:
        reply = get_provider(spec.provider).reply(spec, request, on_token=on_token, tools=tools or NoTools())
    except Exception as exc:
        return _failed(spec, request, exc, started)
    return _succeeded(reply, started)


async def arun_agent_step(spec: AgentSpec, request: StepRequest, *, on_token: TokenSink | None = None) -> StepResult:
    """``run_agent_step`` for a reply that waits on an event loop (``Provider.areply``; only
    where ``Provider.waits_async`` says so, and without tools). Same outcomes, same errors."""
    started = time.perf_counter()
    try:
        reply = await get_provider(spec.provider).areply(spec, request, on_token=on_token)
    except Exception as exc:
        return _failed(spec, request, exc, started)
    return _succeeded(reply, started)


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _succeeded(reply: Reply, started: float) -> StepResult:
    return StepResult(
        StepOutcome.SUCCESS,
        content=reply.content,
        usage=reply.usage,
        latency_ms=_elapsed_ms(started),
        done=reply.done,
        data=dict(reply.data),
    )


def _failed(spec: AgentSpec, request: StepRequest, exc: Exception, started: float) -> StepResult:
    if isinstance(exc, ProviderTimeout):
        return StepResult(StepOutcome.TIMEOUT, error=exc.message, latency_ms=_elapsed_ms(started))
    if isinstance(exc, EngineError):
        return StepResult(StepOutcome.ERROR, error=str(exc), latency_ms=_elapsed_ms(started))
    # a bug in a provider must not take the worker down
    logger.exception("Agent %s crashed on step %s", spec.name, request.step_key, exc_info=exc)
    return StepResult(
        StepOutcome.ERROR, error=f"Internal error: {type(exc).__name__}: {exc}", latency_ms=_elapsed_ms(started)
    )
