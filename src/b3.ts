/**
 * Zipkin B3 propagation (`OTEL_PROPAGATORS=b3` / `b3multi`). Extraction
 * accepts both the single `b3` header and the `X-B3-*` headers, whichever
 * injection format is configured, as the OpenTelemetry spec asks.
 */
import {
  isSpanContextValid,
  trace,
  TraceFlags,
  type Context,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
} from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';

const SINGLE = 'b3';
const TRACE_ID = 'x-b3-traceid';
const SPAN_ID = 'x-b3-spanid';
const SAMPLED = 'x-b3-sampled';
const FLAGS = 'x-b3-flags';
const PARENT = 'x-b3-parentspanid';
const HEX_TRACE = /^([0-9a-f]{16}|[0-9a-f]{32})$/;
const HEX_SPAN = /^[0-9a-f]{16}$/;

function first(getter: TextMapGetter, carrier: unknown, key: string): string | undefined {
  const v = getter.get(carrier, key);
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === 'string' ? s.trim() : undefined;
}

function toContext(ctx: Context, traceId: string | undefined, spanId: string | undefined, sampled: string | undefined): Context {
  if (traceId === undefined || spanId === undefined || !HEX_TRACE.test(traceId) || !HEX_SPAN.test(spanId)) return ctx;
  const spanContext = {
    traceId: traceId.padStart(32, '0'),
    spanId,
    isRemote: true,
    // 'd' (debug) implies sampled; an absent decision defers to our sampler (treated as not sampled by the parent).
    traceFlags: sampled === '1' || sampled === 'd' || sampled === 'true' ? TraceFlags.SAMPLED : TraceFlags.NONE,
  };
  return isSpanContextValid(spanContext) ? trace.setSpanContext(ctx, spanContext) : ctx;
}

/** B3 propagator; `multi` selects the `X-B3-*` headers for injection. */
export class B3Propagator implements TextMapPropagator {
  constructor(private readonly multi: boolean) {}

  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const sc = trace.getSpanContext(ctx);
    if (!sc || !isSpanContextValid(sc) || isTracingSuppressed(ctx)) return;
    const sampled = (sc.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? '1' : '0';
    if (this.multi) {
      setter.set(carrier, 'X-B3-TraceId', sc.traceId);
      setter.set(carrier, 'X-B3-SpanId', sc.spanId);
      setter.set(carrier, 'X-B3-Sampled', sampled);
    } else {
      setter.set(carrier, SINGLE, `${sc.traceId}-${sc.spanId}-${sampled}`);
    }
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const single = first(getter, carrier, SINGLE);
    if (single !== undefined) {
      const [traceId, spanId, sampled] = single.toLowerCase().split('-');
      return toContext(ctx, traceId, spanId, sampled);
    }
    const flags = first(getter, carrier, FLAGS);
    return toContext(
      ctx,
      first(getter, carrier, TRACE_ID)?.toLowerCase(),
      first(getter, carrier, SPAN_ID)?.toLowerCase(),
      flags === '1' ? 'd' : first(getter, carrier, SAMPLED)?.toLowerCase(),
    );
  }

  fields(): string[] {
    return this.multi ? [TRACE_ID, SPAN_ID, SAMPLED, FLAGS, PARENT] : [SINGLE];
  }
}
