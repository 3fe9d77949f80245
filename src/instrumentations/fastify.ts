/**
 * fastify 4 and 5: route templates and errors for the SERVER span, and
 * optional INTERNAL spans for hooks and handlers.
 *
 * Nothing of fastify is patched. Every fastify since 3.x publishes each new
 * instance on the `fastify.initialization` diagnostics channel, from inside
 * the factory (so `fastify()`, `.default`, `{ fastify }` and ESM imports are
 * all seen) before the app can add a plugin, hook or route. There we add, with
 * fastify's own API, one `onRequest` hook (first in every route's chain, so
 * requests that an auth hook rejects are named too) and one `onError` hook
 * (which sees throws and rejections in handlers and hooks and
 * `reply.send(err)`, before any custom error handler).
 *
 * fastify 5 also publishes `tracing:fastify.request.handler:*`, but only around
 * the handler of a matched route (not hooks, not requests rejected before the
 * handler), and a subscriber makes fastify allocate a store per request; it
 * cannot make an INTERNAL span the active context either (that needs the
 * context manager's own AsyncLocalStorage). So it is not used.
 */
import type { Context } from '@opentelemetry/api';
import { activeContext, runIn } from '../context';
import { subscribe } from 'node:diagnostics_channel';
import satisfies = require('semver/functions/satisfies');
import { reportInternalError, type InstrumentationDefinition } from '../agent';
import {
  ATTR_FASTIFY_TYPE,
  ATTR_HOOK_CALLBACK,
  ATTR_HOOK_NAME,
  ATTR_HTTP_ROUTE,
  endAfter,
  internalSpansOn,
  onceEnder,
  resumeIn,
  startInternal,
  trackUntilResponse,
  withSpan,
} from '../framework-spans';
import { log, logEnabled } from '../logger';
import { recordServerError, serverState, setRoute } from '../server-span';
import { disguise, isWrapped, wrap } from '../shimmer';

const SUPPORTED = '>=4.0.0 <6';
/** The hooks that run per request (fastify's `lifecycleHooks`). */
const LIFECYCLE = new Set([
  'onRequest',
  'preParsing',
  'preValidation',
  'preHandler',
  'preSerialization',
  'onSend',
  'onResponse',
  'onError',
  'onTimeout',
  'onRequestAbort',
]);

type Fn = (this: any, ...args: any[]) => any;
interface Request {
  raw: object;
  routeOptions?: { url?: string };
  routerPath?: string;
}
interface Reply {
  raw?: object;
}
interface Instance {
  version?: string;
  addHook(name: string, fn: Fn): unknown;
}

/**
 * Where a fastify 4 or 5 request keeps its route context: an own property,
 * `Symbol('fastify.context')` (4.x, 5.x) or `context` (early 4.x). Read directly
 * because the public ways cost: the `routeOptions` getter builds an object
 * per call (4.x also freezes it, ~4 µs measured; 5.x asks the router for
 * its constraint strategies), and
 * `routerPath`/`context` print deprecation warnings in later 4.x.
 */
function contextKey(request: object): PropertyKey | null {
  for (const key of Object.getOwnPropertySymbols(request)) if (key.description === 'fastify.context') return key;
  const own = Object.getOwnPropertyDescriptor(request, 'context');
  return own !== undefined && 'value' in own && typeof own.value === 'object' && own.value !== null ? 'context' : null;
}

/** The route context's `config.url`, through the key found on the first traced request (`routeOptions` as a fallback). */
function routeFromContext(): (request: Request, reply: unknown, done: () => void) => void {
  let key: PropertyKey | null | undefined;
  return function otelAgentRoute(request, _reply, done) {
    const raw = request.raw;
    if (serverState(raw) !== undefined) {
      try {
        if (key === undefined) key = contextKey(request);
        const url =
          key !== null
            ? (request as unknown as Record<PropertyKey, { config?: { url?: unknown } } | undefined>)[key]?.config?.url
            : (request.routeOptions?.url ?? request.routerPath);
        if (typeof url === 'string') setRoute(raw, url);
      } catch (err) {
        reportInternalError('fastify route', err);
      }
    }
    done();
  };
}

function recordError(request: Request, _reply: unknown, error: unknown, done: () => void): void {
  try {
    recordServerError(request.raw, error);
  } catch (err) {
    reportInternalError('fastify error', err);
  }
  done();
}

/** Makes `wrapper` pass fastify's checks the way `fn` does (it rejects async hooks that also take `done`). */
function lookAlike(fn: Fn, wrapper: Fn): Fn {
  disguise(fn, wrapper);
  if (fn.constructor !== Function) Object.defineProperty(wrapper, 'constructor', { value: fn.constructor, configurable: true, writable: true });
  return wrapper;
}

/** The response a hook or handler call belongs to, to end its span with the response at the latest. */
function responseOf(reply: unknown): object | undefined {
  const raw = (reply as Reply | undefined)?.raw;
  return typeof raw === 'object' && raw !== null && typeof (raw as { prependOnceListener?: unknown }).prependOnceListener === 'function'
    ? raw
    : undefined;
}

/** A hook in an INTERNAL span that ends at `done`, when its promise settles or, if it answers the request itself, with the response. */
function wrapHook(hook: string, fn: Fn): Fn {
  if (isWrapped(fn)) return fn;
  const callback = fn.name || 'anonymous';
  const name = `${hook} - ${callback}`;
  return lookAlike(fn, function (this: unknown) {
    const state = serverState((arguments[0] as Request | undefined)?.raw);
    if (state === undefined || !state.span.isRecording()) return Reflect.apply(fn, this, arguments);
    let ctx: Context;
    let args: unknown[];
    let end: (err?: unknown) => void;
    try {
      const parent = activeContext();
      const span = startInternal(name, { [ATTR_FASTIFY_TYPE]: 'hook', [ATTR_HOOK_NAME]: hook, [ATTR_HOOK_CALLBACK]: callback }, parent);
      const res = hook === 'onRequestAbort' ? undefined : responseOf(arguments[1]);
      if (res !== undefined) trackUntilResponse(state, res, span);
      end = onceEnder(span, res === undefined ? undefined : state);
      ctx = withSpan(parent, span);
      args = Array.prototype.slice.call(arguments);
      const last = args.length - 1;
      if (last > 0 && typeof args[last] === 'function') args[last] = resumeIn(parent, args[last] as Fn, end);
    } catch (err) {
      reportInternalError('fastify span', err);
      return Reflect.apply(fn, this, arguments);
    }
    let result: unknown;
    try {
      result = runIn(ctx, fn, this, args);
    } catch (err) {
      end(err);
      throw err;
    }
    // A callback-style hook returns nothing and ends at `done` (or with the response).
    if (result !== undefined) endAfter(result, end);
    return result;
  });
}

/**
 * The route handler in an INTERNAL span that ends when its promise settles, when
 * it returns a value, or (returning nothing: it calls `reply.send` later) with the response.
 */
function wrapHandler(fn: Fn, url: string): Fn {
  if (isWrapped(fn)) return fn;
  const name = `request handler - ${url}`;
  return lookAlike(fn, function (this: unknown) {
    const state = serverState((arguments[0] as Request | undefined)?.raw);
    if (state === undefined || !state.span.isRecording()) return Reflect.apply(fn, this, arguments);
    let ctx: Context;
    let end: (err?: unknown) => void;
    let res: object | undefined;
    try {
      const parent = activeContext();
      const span = startInternal(name, { [ATTR_FASTIFY_TYPE]: 'request_handler', [ATTR_HTTP_ROUTE]: url }, parent);
      res = responseOf(arguments[1]);
      if (res !== undefined) trackUntilResponse(state, res, span);
      end = onceEnder(span, res === undefined ? undefined : state);
      ctx = withSpan(parent, span);
    } catch (err) {
      reportInternalError('fastify span', err);
      return Reflect.apply(fn, this, arguments);
    }
    let result: unknown;
    try {
      result = runIn(ctx, fn, this, arguments);
    } catch (err) {
      end(err);
      throw err;
    }
    if (result !== undefined || res === undefined) endAfter(result, end);
    return result;
  });
}

/** `onRoute`: the handler and the route's own hooks in INTERNAL spans. */
function wrapRoute(opts: Record<string, unknown>): void {
  try {
    if (typeof opts.handler === 'function') opts.handler = wrapHandler(opts.handler as Fn, String(opts.url));
    for (const hook of LIFECYCLE) {
      const v = opts[hook];
      if (typeof v === 'function') opts[hook] = wrapHook(hook, v as Fn);
      else if (Array.isArray(v)) opts[hook] = v.map((f: unknown) => (typeof f === 'function' ? wrapHook(hook, f as Fn) : f));
    }
  } catch (err) {
    reportInternalError('fastify onRoute', err);
  }
}

function instrument(instance: Instance, version: string): void {
  const spans = internalSpansOn();
  instance.addHook('onRequest', routeFromContext());
  instance.addHook('onError', recordError);
  if (!spans) return;
  instance.addHook('onRoute', wrapRoute);
  // Plugins are `Object.create(parent)`: wrapping the root's `addHook` covers every encapsulated instance.
  wrap(instance, 'addHook', (original) =>
    function addHook(this: unknown, name: unknown, fn: unknown) {
      if (typeof name !== 'string' || typeof fn !== 'function' || !LIFECYCLE.has(name)) return Reflect.apply(original, this, arguments);
      const args = Array.prototype.slice.call(arguments);
      args[1] = wrapHook(name, fn as Fn);
      return Reflect.apply(original, this, args);
    },
  );
}

/** Subscriber of `fastify.initialization`; Node turns a subscriber's throw into an uncaught exception, hence the guard. */
function onInstance(message: unknown): void {
  try {
    const instance = (message as { fastify?: Instance } | null)?.fastify;
    if (instance == null || typeof instance.addHook !== 'function') return;
    const version = String(instance.version);
    if (!satisfies(version, SUPPORTED, { includePrerelease: true })) {
      if (logEnabled('debug')) log.debug(`skipping a fastify@${version} instance: supported versions are ${SUPPORTED}`);
      return;
    }
    instrument(instance, version);
  } catch (err) {
    reportInternalError('fastify instance', err);
  }
}

let subscribed = false;

const definition: InstrumentationDefinition = {
  name: 'fastify',
  targets: [
    {
      module: 'fastify',
      versions: SUPPORTED,
      patch(exports: unknown) {
        if (typeof exports !== 'function') throw new Error('unexpected fastify exports');
        if (!subscribed) {
          subscribe('fastify.initialization', onInstance);
          subscribed = true;
        }
      },
    },
  ],
};
export default definition;
