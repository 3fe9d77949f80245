/**
 * The contract between the http server instrumentation, which owns the
 * SERVER span of each incoming request, and the framework instrumentations
 * (express, fastify), which know the route template and see the errors.
 * The state rides on the request's context object (see {@link ServerContext}): no map, nothing
 * to clean up, and no property of our own on the request or response beyond that context.
 */
import type { Context, Span } from '@opentelemetry/api';
import { ContextWithSpan, kContext } from './context';
import { recordException } from './spans';
import { AgentSpan, retiredSpan } from './tracer';

/** What the agent knows about one incoming request while it is served. */
export interface ServerRequestState {
  /** The SERVER span; once it has ended, a stand-in with its ids (see {@link ServerContext#retire}). */
  span: Span;
  /** The method as it appears in the span name (`GET`, or `_OTHER` for unknown methods). */
  readonly method: string;
  /** The route template, once a framework supplied it. */
  route?: string;
  /** The error a framework saw while serving the request; its message becomes the status message of a 5xx. */
  error?: unknown;
}

/**
 * The context a traced request is served in, holding the request's state too. The request and
 * the response each carry it under {@link kContext}, which their `emit` wrappers read anyway.
 * Why not properties of their own: express swaps the prototype of every request and response
 * it serves, and V8 then copies each property to a new layout; each property added costs some
 * 1.5k instructions a request there.
 */
export class ServerContext extends ContextWithSpan {
  constructor(
    parent: Context,
    readonly state: ServerRequestState,
  ) {
    super(parent, state.span);
  }

  /**
   * Once the span has ended: holds a stand-in with its ids and flags instead (see
   * `AgentSpan#retired`), and lets go of the error it kept. This context can outlive the request:
   * when a response finishes, Node arms the connection's keep-alive timer, in this context when
   * the app listens to `finish` too (otherwise `finish` is emitted in the root context, see
   * `wrapResponseEmit`), and the timer keeps it until the connection's next request or its
   * timeout; so does anything the app schedules from the request. With the span, each
   * idle keep-alive connection held its last request's span, attributes and strings through every
   * scavenge (~0.9 kB surviving a scavenge per connection, measured on Node 24), bytes that make
   * V8 grow its young generation sooner (bench/README, "What the RSS is"). Code that
   * runs later in this context still finds a span with the same ids, recording nothing, as the
   * ended span did.
   */
  retire(): void {
    const standIn = retiredSpan(this.state.span);
    this.span = standIn;
    this.state.span = standIn;
    this.state.error = undefined;
  }
}

/** The state of an incoming request (or of its response), when it is traced. */
export function serverState(msg: object | undefined | null): ServerRequestState | undefined {
  if (msg == null) return undefined;
  const ctx = (msg as { [kContext]?: unknown })[kContext];
  return ctx instanceof ServerContext ? ctx.state : undefined;
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
  const span = state.span;
  // At a site of its own with a constant key, as the server span's other attributes (see `AgentSpan#openAttributes`).
  const attrs = span instanceof AgentSpan ? span.openAttributes(1) : undefined;
  if (attrs !== undefined) {
    if (attrs['http.route'] === undefined) (span as AgentSpan).countAdded(1);
    attrs['http.route'] = route;
  } else {
    span.setAttribute('http.route', route);
  }
  state.span.updateName(routeName(state.method, route));
}

/** Span names made by {@link routeName}, by route then method: a bounded cache, emptied when full. */
const routeNames = new Map<string, Map<string, string>>();
const ROUTE_NAMES_MAX = 512;
// The last pair asked for, checked before the maps: most requests repeat the previous route.
let lastRoute = '';
let lastMethod = '';
let lastName = '';

/**
 * `METHOD route`, one string per pair. A template literal made a new cons string per request:
 * an allocation, then a flattening copy when the encoder hashes it to look up the name's bytes
 * (and when anything else reads its characters). The cached copy is flat: JSON's parser makes a
 * sequential string, with every character kept (lone surrogates included).
 */
function routeName(method: string, route: string): string {
  if (route === lastRoute && method === lastMethod) return lastName;
  let byMethod = routeNames.get(route);
  if (byMethod === undefined) {
    if (routeNames.size >= ROUTE_NAMES_MAX) routeNames.clear();
    routeNames.set(route, (byMethod = new Map()));
  }
  let name = byMethod.get(method);
  if (name === undefined) byMethod.set(method, (name = JSON.parse(JSON.stringify(`${method} ${route}`)) as string));
  lastRoute = route;
  lastMethod = method;
  lastName = name;
  return name;
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
