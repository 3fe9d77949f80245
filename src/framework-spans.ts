/**
 * What the express and fastify instrumentations share: the optional INTERNAL
 * spans for middleware, hooks and handlers (`OTEL_NODE_INTERNAL_SPANS`), and
 * the rule that a framework callback (`next`, `done`) ends its span and hands
 * control back in the parent's context, so sequential middleware are
 * siblings, not a staircase.
 */
import { SpanKind, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { agent, reportInternalError } from './agent';
import { contextWithSpan, runIn } from './context';
import { recordError } from './spans';

/** Attribute names on framework INTERNAL spans. */
export const ATTR_EXPRESS_NAME = 'express.name';
export const ATTR_EXPRESS_TYPE = 'express.type';
export const ATTR_FASTIFY_TYPE = 'fastify.type';
export const ATTR_HOOK_NAME = 'hook.name';
export const ATTR_HOOK_CALLBACK = 'hook.callback.name';
export const ATTR_HTTP_ROUTE = 'http.route';

const kOpen = Symbol('otel-agent.open-internal-spans');

type Callback = (this: any, ...args: any[]) => any;
interface Response {
  prependOnceListener(event: string, listener: () => void): unknown;
  once(event: string, listener: () => void): unknown;
}
/** Open spans of a request sit on its server state: a plain object, cheap to extend (the response's prototype may have been swapped). */
interface Tracked {
  [kOpen]?: Set<Span>;
}

/** True when INTERNAL framework spans are switched on. */
export function internalSpansOn(): boolean {
  return agent().config.internalSpans;
}

/** Starts an INTERNAL span under `parent`. */
export function startInternal(name: string, attributes: Attributes, parent: Context): Span {
  return agent().tracer.startOwned(name, SpanKind.INTERNAL, attributes, parent);
}

/** `parent` with `span` as the active span. */
export function withSpan(parent: Context, span: Span): Context {
  return contextWithSpan(parent, span);
}

/**
 * Ends `span` when the response finishes (or the connection closes) unless it
 * ended earlier through {@link endTracked}: a middleware that answers the
 * request never calls `next`. One listener pair per response, not per span;
 * prepended so the spans end before the server span does.
 */
export function trackUntilResponse(state: object, res: object, span: Span): void {
  const t = state as Tracked;
  let open = t[kOpen];
  if (open === undefined) {
    const all = (t[kOpen] = open = new Set());
    // Runs as an event listener: a throw here would be an uncaught exception in the app.
    const endAll = (): void => {
      for (const s of all) {
        try {
          s.end();
        } catch (err) {
          reportInternalError('framework span end', err);
        }
      }
      all.clear();
    };
    (res as Response).prependOnceListener('finish', endAll);
    (res as Response).once('close', endAll);
  }
  open.add(span);
}

/** Ends a span registered with {@link trackUntilResponse} (or, without `state`, any span), once. */
export function endTracked(state: object | undefined, span: Span): void {
  if (state === undefined) {
    span.end();
    return;
  }
  const open = (state as Tracked)[kOpen];
  if (open !== undefined && open.delete(span)) span.end();
}

/** An error passed to a framework callback, as opposed to express's `'route'`/`'router'` signals. */
function isError(err: unknown): boolean {
  return err !== undefined && err !== null && err !== false && err !== 'route' && err !== 'router';
}

/**
 * The one way a framework INTERNAL span ends: the first call records the
 * error it is given (if any) and ends the span (through {@link endTracked}
 * when it was tracked on `state`); later calls do nothing.
 */
export function onceEnder(span: Span, state?: object): (err?: unknown) => void {
  let ended = false;
  return (err?: unknown) => {
    if (ended) return;
    ended = true;
    try {
      if (isError(err)) recordError(span, err);
      endTracked(state, span);
    } catch (e) {
      reportInternalError('framework span end', e);
    }
  };
}

/**
 * Wraps a framework continuation (`next(err)`, `done(err)`): calls `end` with
 * the first argument, then runs `cb` in `parent`'s context with the same
 * `this` and arguments, and returns its result.
 */
export function resumeIn<F extends Callback>(parent: Context, cb: F, end: (err?: unknown) => void): F {
  return function next(this: unknown, ...args: unknown[]): unknown {
    end(args[0]);
    return runIn(parent, cb as Callback, this, args);
  } as F;
}

/**
 * Calls `end` when `result` settles if it is a native promise (with the
 * rejection reason), else now. The promise observed here keeps its own
 * rejection handling: the observer handles only the copy it creates.
 */
export function endAfter(result: unknown, end: (err?: unknown) => void): void {
  if (result instanceof Promise) result.then(() => end(), end);
  else end();
}
