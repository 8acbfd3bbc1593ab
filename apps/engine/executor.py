"""The agent-step executor: run one agent on one request and report a ``StepResult``.

It never raises for a failed step: provider errors, timeouts and crashes all
become a result with an outcome and an error message, so the run engine can
decide (retry, skip, fail) in the strategy rather than in a stack trace.
"""

from __future__ import annotations

import logging
import time

from .errors import EngineError, ProviderTimeout
from .providers import TokenSink, get_provider
from .tools import NoTools, ToolHost
from .values import AgentSpec, StepOutcome, StepRequest, StepResult

logger = logging.getLogger(__name__)


def run_agent_step(
    spec: AgentSpec, request: StepRequest, *, on_token: TokenSink | None = None, tools: ToolHost | None = None
) -> StepResult:
    started = time.perf_counter()

    def elapsed_ms() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        reply = get_provider(spec.provider).reply(spec, request, on_token=on_token, tools=tools or NoTools())
    except ProviderTimeout as exc:
        return StepResult(StepOutcome.TIMEOUT, error=exc.message, latency_ms=elapsed_ms())
    except EngineError as exc:
        return StepResult(StepOutcome.ERROR, error=str(exc), latency_ms=elapsed_ms())
    except Exception as exc:  # a bug in a provider must not take the worker down
        logger.exception("Agent %s crashed on step %s", spec.name, request.step_key)
        return StepResult(
            StepOutcome.ERROR, error=f"Internal error: {type(exc).__name__}: {exc}", latency_ms=elapsed_ms()
        )
    return StepResult(
        StepOutcome.SUCCESS,
        content=reply.content,
        usage=reply.usage,
        latency_ms=elapsed_ms(),
        done=reply.done,
        data=dict(reply.data),
    )
