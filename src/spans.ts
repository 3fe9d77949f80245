/**
 * Span rules shared by every instrumentation: how an exception is recorded
 * and how error status is set, so that http, fetch, express, fastify and pg
 * agree without copied code.
 */
import { SpanStatusCode, type Span } from '@opentelemetry/api';

const recorded = new WeakMap<object, WeakSet<Span>>();

/** `exception.type` for a thrown value: the error's class name (or its `code` when it has no class). */
export function errorType(err: unknown): string {
  if (err instanceof Error || (typeof err === 'object' && err !== null && 'name' in err)) {
    const ctor = (err as { constructor?: { name?: unknown } }).constructor;
    const name = typeof ctor?.name === 'string' && ctor.name !== 'Object' ? ctor.name : String((err as { name: unknown }).name);
    return name || 'Error';
  }
  return typeof err;
}

function message(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}

/**
 * Records `err` on `span` as an `exception` event (type, message, stack
 * trace), once per span and error however many layers report it. Returns
 * false when it was already recorded there.
 */
export function recordException(span: Span, err: unknown): boolean {
  if (typeof err === 'object' && err !== null) {
    let spans = recorded.get(err);
    if (spans === undefined) recorded.set(err, (spans = new WeakSet()));
    if (spans.has(span)) return false;
    spans.add(span);
  }
  const attributes: Record<string, string> = {
    'exception.type': errorType(err),
    'exception.message': message(err),
  };
  const stack = (err as { stack?: unknown } | null)?.stack;
  if (typeof stack === 'string') attributes['exception.stacktrace'] = stack;
  span.addEvent('exception', attributes);
  return true;
}

/** Status ERROR with the error's message (Coroot shows the message first). */
export function setError(span: Span, err: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: message(err) });
}

/** Both of the above: the usual response to an error that surfaced in a span. */
export function recordError(span: Span, err: unknown): void {
  recordException(span, err);
  setError(span, err);
}
