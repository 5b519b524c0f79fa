"""Postgres spans, only for calls made inside a recording span.

opentelemetry-instrumentation-asyncpg wraps every asyncpg call and, before asking the sampler
anything, strips the statement's comments with a regex and builds the span's attributes; a call
made outside any span (the relay's and the projector's reads, leader leases) then starts a
trace of its own, sampled at the configured ratio. Here a call whose current span is not
recording goes straight to asyncpg: an unsampled request, or work done for no sampled one,
pays one context lookup per call and starts nothing.

The three hooks are the instrumentor's own (private) methods; `instrumentor()` fails loudly if
a release renames them, and tests/integration/test_tracing.py holds both halves (a call inside
a sampled span is a span, a call outside any is not).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.trace import get_current_span

HOOKS = ("_do_execute", "_do_cursor_execute", "_do_prepared_execute")


class SampledOnly(AsyncPGInstrumentor):
    async def _do_execute(self, func: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not get_current_span().is_recording():
            return await func(*args, **kwargs)
        return await super()._do_execute(func, instance, args, kwargs)  # type: ignore[no-untyped-call]

    async def _do_cursor_execute(self, func: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not get_current_span().is_recording():
            return await func(*args, **kwargs)
        return await super()._do_cursor_execute(  # type: ignore[no-untyped-call]
            func, instance, args, kwargs
        )

    async def _do_prepared_execute(self, func: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not get_current_span().is_recording():
            return await func(*args, **kwargs)
        return await super()._do_prepared_execute(  # type: ignore[no-untyped-call]
            func, instance, args, kwargs
        )


def instrumentor() -> AsyncPGInstrumentor:
    """The asyncpg instrumentation that records only inside recording spans."""
    missing = [hook for hook in HOOKS if not callable(getattr(AsyncPGInstrumentor, hook, None))]
    if missing:
        raise RuntimeError(
            f"opentelemetry-instrumentation-asyncpg no longer has {', '.join(missing)}: "
            "stockledger/tracing/postgres.py must follow its new hooks"
        )
    return SampledOnly()  # type: ignore[no-untyped-call]
