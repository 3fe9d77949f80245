/**
 * The contract between the http server instrumentation, which owns the
 * SERVER span of each incoming request, and the framework instrumentations
 * (express, fastify), which know the route template and see the errors.
 * State hangs off the request object under a Symbol: no map, nothing to clean up.
 */
import type { Span } from '@opentelemetry/api';
import { recordException } from './spans';

const kState = Symbol('otel-agent.server-request');

/** What the agent knows about one incoming request while it is served. */
export interface ServerRequestState {
  /** The SERVER span. */
  readonly span: Span;
  /** The method as it appears in the span name (`GET`, or `_OTHER` for unknown methods). */
  readonly method: string;
  /** The route template, once a framework supplied it. */
  route?: string;
  /** The error a framework saw while serving the request; its message becomes the status message of a 5xx. */
  error?: unknown;
}

/** Attaches `state` to `req` (the http server instrumentation does this). */
export function attachServerState(req: object, state: ServerRequestState): void {
  (req as { [kState]?: ServerRequestState })[kState] = state;
}

/** The state of an incoming request, when it is traced. */
export function serverState(req: object | undefined | null): ServerRequestState | undefined {
  return req == null ? undefined : (req as { [kState]?: ServerRequestState })[kState];
}

/**
 * Sets `http.route` and renames the server span `METHOD route`. Frameworks
 * call it with the full template (mount prefixes included) once matched;
 * a later call wins (the most specific match is the last one).
 */
export function setRoute(req: object, route: string): void {
  const state = serverState(req);
  if (state === undefined || route === '' || state.route === route) return;
  state.route = route;
  state.span.setAttribute('http.route', route);
  state.span.updateName(`${state.method} ${route}`);
}

/**
 * Records an error a framework saw while serving `req`: an `exception` event
 * on the server span now (once per error), and the error kept so that the
 * http instrumentation uses its message if the response turns out to be 5xx.
 */
export function recordServerError(req: object, err: unknown): void {
  const state = serverState(req);
  if (state === undefined) return;
  state.error = err;
  recordException(state.span, err);
}
