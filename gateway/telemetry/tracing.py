"""OpenTelemetry traces, off by default; when off, no OpenTelemetry code is imported or run.

A trace crosses processes as a W3C ``traceparent`` string: from a business's HTTP
request into the message's CloudEvent (the ``traceparent`` extension of the
CloudEvents distributed-tracing spec), so through the outbox row and the AMQP
headers to the network; and from an inbound message's CloudEvent to the host's
webhook request. Passing the string, not an OpenTelemetry context, is what lets
it wait in a database row between two spans.

Spans are exported over OTLP/HTTP to ``[tracing] otlp_endpoint``; the exporter
also reads the standard ``OTEL_EXPORTER_OTLP_HEADERS`` for a collector's API key.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span

TRACEPARENT = "traceparent"
Kind = Literal["server", "client", "producer", "consumer", "internal"]

# The traceparent of the span the current task is in (None when tracing is off or outside a span).
_current: ContextVar[str | None] = ContextVar("hostgate_traceparent", default=None)


def current_traceparent() -> str | None:
    """The traceparent of the span the caller is in (None when tracing is off or outside a span)."""
    return _current.get()


def tracing_installed() -> bool:
    """Whether the ``tracing`` extra (OpenTelemetry's SDK and OTLP exporter) is installed."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")
    )


def trace_headers() -> dict[str, str]:
    """``traceparent`` of the current span for an outgoing request; empty when there is none."""
    current = _current.get()
    return {} if current is None else {TRACEPARENT: current}


@dataclass(frozen=True, slots=True)
class TracingOptions:
    """What ``[tracing]`` in gateway.toml asks for."""

    enabled: bool = False
    otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    service_name: str = "hostgate"
    sample_ratio: float = 1.0


class OpenSpan:
    """A span started by ``Tracing.start`` and ended by the caller (for work spread over awaits)."""

    def __init__(self, span: Span | None, traceparent: str | None) -> None:
        self._span = span
        self.traceparent = traceparent

    def end(self, error: str | None = None) -> None:
        """End it, marked failed with ``error`` if given."""
        if self._span is None:
            return
        if error is not None:
            from opentelemetry.trace import Status, StatusCode  # noqa: PLC0415 -- only with tracing on

            self._span.set_status(Status(StatusCode.ERROR, error))
        self._span.end()


_NO_SPAN = OpenSpan(None, None)


class Tracing:
    """Makes spans when a provider is set; otherwise every call is a no-op."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self._provider = provider
        self.enabled = provider is not None
        if provider is not None:
            from opentelemetry.trace.propagation.tracecontext import (  # noqa: PLC0415 -- only with tracing on
                TraceContextTextMapPropagator,
            )

            self._tracer = provider.get_tracer("hostgate")
            self._propagator = TraceContextTextMapPropagator()

    @classmethod
    def from_options(cls, options: TracingOptions) -> Tracing:
        """Off, or an OTLP/HTTP exporter in batches to ``options.otlp_endpoint``."""
        if not options.enabled:
            return cls()
        # The config check (gateway.config.settings) has already said so if the extra is missing.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415 -- optional extra
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415 -- optional extra

        provider = _provider(options.service_name, options.sample_ratio)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=options.otlp_endpoint)))
        return cls(provider)

    @classmethod
    def to_exporter(cls, exporter: SpanExporter, service_name: str = "hostgate") -> Tracing:
        """Spans handed to ``exporter`` as each ends (tests use the SDK's in-memory exporter)."""
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415 -- optional extra

        provider = _provider(service_name, 1.0)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return cls(provider)

    @contextmanager
    def span(
        self, name: str, *, parent: str | None, kind: Kind, attributes: Mapping[str, str] | None = None
    ) -> Iterator[str | None]:
        """A span for the block, child of ``parent`` (a traceparent) if given; yields its own traceparent."""
        if not self.enabled:
            yield None
            return
        opened = self.start(name, parent=parent, kind=kind, attributes=attributes)
        token = _current.set(opened.traceparent)
        try:
            yield opened.traceparent
        except BaseException as exc:
            opened.end(error=type(exc).__name__)
            raise
        else:
            opened.end()
        finally:
            _current.reset(token)

    def start(
        self, name: str, *, parent: str | None, kind: Kind, attributes: Mapping[str, str] | None = None
    ) -> OpenSpan:
        """Start a span the caller ends; its traceparent goes into what is sent on."""
        if not self.enabled:
            return _NO_SPAN
        from opentelemetry import trace  # noqa: PLC0415 -- only with tracing on

        context = self._propagator.extract({TRACEPARENT: parent}) if parent else None
        span = self._tracer.start_span(
            name, context=context, kind=trace.SpanKind[kind.upper()], attributes=dict(attributes or {})
        )
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier, context=trace.set_span_in_context(span))
        return OpenSpan(span, carrier.get(TRACEPARENT))

    def shutdown(self) -> None:
        """Export what is still buffered and stop."""
        if self._provider is not None:
            self._provider.shutdown()


def _provider(service_name: str, sample_ratio: float) -> TracerProvider:
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415 -- optional extra
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415 -- optional extra
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased  # noqa: PLC0415

    return TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
