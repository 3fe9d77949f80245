/**
 * W3C Trace Context Level 2 (https://www.w3.org/TR/trace-context-2/), to the
 * letter where the upstream `W3CTraceContextPropagator` is not:
 * - `tracestate` is all or nothing: one invalid member, a duplicated key or
 *   more than 32 members discards the whole header; keys follow the Level 2
 *   grammar (`@` is an ordinary key character); no silent truncation at 512.
 * - More than one `traceparent` value restarts the trace.
 * - trace-flags: only `sampled` (0x01) and `random-trace-id` (0x02) are sent,
 *   other bits are zeroed; the random flag received with a trace id is sent
 *   again with that trace id (set or unset), and traces started here (random
 *   ids) carry it. The SDK keeps only the sampled bit on child spans, so the
 *   flag of a continued trace travels in the context ({@link withTraceOrigin}).
 */
import {
  createContextKey,
  isSpanContextValid,
  trace,
  TraceFlags,
  type Context,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  type TraceState,
} from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import { AgentSpan } from './tracer';

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';
/** The random-trace-id flag (Level 2, section 3.2.2.5.2). */
export const RANDOM_FLAG = 0x02;
const KNOWN_FLAGS = TraceFlags.SAMPLED | RANDOM_FLAG;

// Lowercase hex only; version ff is invalid; version 00 has exactly four fields,
// a higher version may carry more fields, each introduced by a dash.
const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^]*)?$/;
const ZERO_TRACE_ID = '00000000000000000000000000000000';
const ZERO_SPAN_ID = '0000000000000000';
const KEY_RE = /^[a-z0-9][a-z0-9_\-*/@]{0,255}$/;
const VALUE_RE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const MAX_MEMBERS = 32;

/**
 * Without the optional white space (RFC 9110: SP and HTAB) around `s`. A loop,
 * not a regex: `/[ \t]+$/` is quadratic on a long run of spaces mid-value.
 */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** An immutable `tracestate`: members left (most recent) to right. */
class W3CTraceState implements TraceState {
  constructor(private readonly members: ReadonlyArray<readonly [string, string]>) {}

  get(key: string): string | undefined {
    for (const [k, v] of this.members) if (k === key) return v;
    return undefined;
  }

  /** Adds or updates `key`, moving it to the left; invalid input leaves the state as it is. */
  set(key: string, value: string): TraceState {
    if (!KEY_RE.test(key) || !VALUE_RE.test(value)) return this;
    const rest = this.members.filter(([k]) => k !== key);
    // Full list: the spec's truncation drops entries from the right end.
    return new W3CTraceState([[key, value] as const, ...rest].slice(0, MAX_MEMBERS));
  }

  unset(key: string): TraceState {
    const rest = this.members.filter(([k]) => k !== key);
    return rest.length === this.members.length ? this : new W3CTraceState(rest);
  }

  serialize(): string {
    return this.members.map(([k, v]) => `${k}=${v}`).join(',');
  }
}

/**
 * Parses a combined `tracestate` value. Returns undefined when it is invalid
 * (then the whole header is discarded) or holds no member.
 */
export function parseTraceState(value: string): TraceState | undefined {
  const members: Array<readonly [string, string]> = [];
  const seen = new Set<string>();
  for (const raw of value.split(',')) {
    const member = trimOws(raw);
    if (member === '') continue; // empty and white-space-only members are allowed
    const eq = member.indexOf('=');
    if (eq <= 0) return undefined;
    const key = member.slice(0, eq);
    const val = member.slice(eq + 1);
    if (!KEY_RE.test(key) || !VALUE_RE.test(val) || seen.has(key)) return undefined;
    seen.add(key);
    members.push([key, val]);
    if (members.length > MAX_MEMBERS) return undefined;
  }
  return members.length === 0 ? undefined : new W3CTraceState(members);
}

function single(v: string | string[] | undefined): string | undefined {
  if (Array.isArray(v)) return v.length === 1 ? v[0] : undefined;
  return v;
}

/** Trace Context propagation (`OTEL_PROPAGATORS=tracecontext`), Level 2. */
export class W3CTraceContextPropagator implements TextMapPropagator {
  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const span = trace.getSpan(ctx);
    const sc = span?.spanContext();
    // Our own spans' ids are valid by construction (random and non-zero, or a validated parent's).
    if (!sc || isTracingSuppressed(ctx) || !(span instanceof AgentSpan || isSpanContextValid(sc))) return;
    const flags = (sc.traceFlags & TraceFlags.SAMPLED) | (isRandomTrace(ctx, sc.traceId, sc.traceFlags, sc.isRemote) ? RANDOM_FLAG : 0);
    setter.set(carrier, TRACEPARENT, `00-${sc.traceId}-${sc.spanId}-0${flags}`);
    // Vendors SHOULD avoid sending an empty tracestate.
    const state = sc.traceState?.serialize();
    if (state) setter.set(carrier, TRACESTATE, state);
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const header = single(getter.get(carrier, TRACEPARENT));
    if (typeof header !== 'string') return ctx;
    const m = TRACEPARENT_RE.exec(trimOws(header));
    if (m === null) return ctx;
    const [, version, traceId, spanId, flags, rest] = m;
    if (version === 'ff' || (version === '00' && rest !== undefined)) return ctx;
    if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return ctx;
    // Multiple tracestate fields are combined in order (RFC 9110 5.3); Node already joins them with ", ".
    const ts = getter.get(carrier, TRACESTATE);
    const combined = Array.isArray(ts) ? ts.join(',') : ts;
    return trace.setSpanContext(ctx, {
      traceId: traceId!,
      spanId: spanId!,
      traceFlags: parseInt(flags!, 16) & KNOWN_FLAGS,
      isRemote: true,
      traceState: typeof combined === 'string' ? parseTraceState(combined) : undefined,
    });
  }

  fields(): string[] {
    return [TRACEPARENT, TRACESTATE];
  }
}

/** Where the trace in a context came from: its id and the random flag it arrived with. */
interface TraceOrigin {
  readonly traceId: string;
  readonly random: boolean;
}
const kTraceOrigin = createContextKey('@acme/otel-agent trace origin');

/**
 * Whether the random-trace-id flag goes out with `traceId`: as received when
 * the trace came from elsewhere (flag on a remote span context, or recorded by
 * {@link withTraceOrigin} for its local descendants); set for a trace started
 * here, whose ids the SDK draws at random.
 */
function isRandomTrace(ctx: Context, traceId: string, flags: number, remote: boolean | undefined): boolean {
  if ((flags & RANDOM_FLAG) !== 0) return true;
  const origin = ctx.getValue(kTraceOrigin) as TraceOrigin | undefined;
  if (origin !== undefined && origin.traceId === traceId) return origin.random;
  return remote !== true;
}

/**
 * Wraps the configured propagator so that every extracted remote trace (by
 * any format) leaves its origin in the context: spans continuing it then
 * send the random flag exactly as it arrived (unset for formats without one).
 */
export function withTraceOrigin(inner: TextMapPropagator): TextMapPropagator {
  return {
    inject: (ctx, carrier, setter) => inner.inject(ctx, carrier, setter),
    extract(ctx, carrier, getter) {
      const out = inner.extract(ctx, carrier, getter);
      const sc = out === ctx ? undefined : trace.getSpanContext(out);
      if (sc === undefined || sc.isRemote !== true) return out;
      const origin: TraceOrigin = { traceId: sc.traceId, random: (sc.traceFlags & RANDOM_FLAG) !== 0 };
      return out.setValue(kTraceOrigin, origin);
    },
    fields: () => inner.fields(),
  };
}
