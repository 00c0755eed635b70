"""Database work in the trace: one CLIENT span per SQL statement, a child of whatever span is current (the
handling of an event, an HTTP request). Recorded only while tracing is on (voltline_bus.tracing); statements
are recorded without their parameters, which may hold personal data."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import event
from sqlalchemy.engine import Engine
from voltline_bus import tracing as bus_tracing

_tracer = trace.get_tracer("voltline.store")
_SPAN = "_voltline_span"
_MAX_STATEMENT = 1000


def trace_statements(engine: Engine) -> None:
    """Register the listeners on a (sync) engine (create_engine does when tracing is on at that time; the
    services turn tracing on before they create their engine); they return at once if it is off later."""
    system = {"postgresql": "postgresql", "sqlite": "sqlite"}.get(engine.dialect.name, engine.dialect.name)

    @event.listens_for(engine, "before_cursor_execute")
    def _before(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        if not bus_tracing.enabled() or context is None:
            return
        operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = _tracer.start_span(
            f"db {operation}",
            kind=SpanKind.CLIENT,
            attributes={
                "db.system.name": system,
                "db.operation.name": operation,
                "db.query.text": statement[:_MAX_STATEMENT],
            },
        )
        setattr(context, _SPAN, span)

    @event.listens_for(engine, "after_cursor_execute")
    def _after(_conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool) -> None:
        span = getattr(context, _SPAN, None)
        if span is not None:
            span.end()
            setattr(context, _SPAN, None)

    @event.listens_for(engine, "handle_error")
    def _error(exception_context: Any) -> None:
        span = getattr(exception_context.execution_context, _SPAN, None)
        if span is not None:
            span.set_status(StatusCode.ERROR, type(exception_context.original_exception).__name__)
            span.end()
            setattr(exception_context.execution_context, _SPAN, None)
