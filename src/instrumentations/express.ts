/**
 * express 4 (its own `express/lib/router/*`) and express 5 (the `router`
 * package): route templates and errors for the SERVER span, and optional
 * INTERNAL spans for middleware and route handlers.
 *
 * Where it hooks, and why there (plain middleware run untouched):
 * - `Route#dispatch`, reached once per matched route: names the span
 *   (`GET /api/users/:id`) from the route's path and the mount prefixes;
 * - the `Layer` constructor, to keep the path a `use()` layer is mounted at
 *   (express keeps only a regexp); a layer mounted below `/` (`app.use('/api',
 *   router)`) gets its own `handle_request` that pushes its template on the
 *   request's mount stack until it calls `next`. Registration time only;
 * - `Layer#handle_error` / `handleError`: an error passed on by `next(err)`,
 *   a throw or a rejection is offered to every later matching layer;
 * - `Router#handle` of the outermost router: errors that reach express's
 *   final handler without passing another layer;
 * - with INTERNAL spans on, `Layer#handle_request` / `handleRequest` itself.
 * router 2.3+ also publishes `express.router.request` on a TracingChannel, but
 * subscribing makes it allocate a context and closures for every layer of
 * every request, and it gives only the current layer's pattern, not the
 * mount prefixes; so it is not used.
 */
import type { Context } from '@opentelemetry/api';
import { activeContext, runIn } from '../context';
import type { PatchTarget, InstrumentationDefinition } from '../agent';
import { reportInternalError } from '../agent';
import {
  ATTR_EXPRESS_NAME,
  ATTR_EXPRESS_TYPE,
  ATTR_HTTP_ROUTE,
  internalSpansOn,
  onceEnder,
  resumeIn,
  startInternal,
  trackUntilResponse,
  withSpan,
} from '../framework-spans';
import { recordServerError, serverState, setRoute, type ServerRequestState } from '../server-span';
import { disguise, wrap } from '../shimmer';

const kMount = Symbol('otel-agent.express.mount');
const kMounts = Symbol('otel-agent.express.mounts');
const kText = Symbol('otel-agent.express.route-text');

type Fn = (this: any, ...args: any[]) => any;
interface Route {
  path: unknown;
  [kText]?: string;
}
interface Layer {
  handle: Fn & { stack?: unknown };
  name: string;
  route?: Route;
  method?: string;
  /** The template this `use()` layer is mounted at, trailing slashes removed; only on layers mounted below `/`. */
  [kMount]?: string;
}
interface Req {
  baseUrl?: string;
}
/**
 * The request's server state, which also holds the mount stack: express sets
 * the request's prototype per request, and adding a property to an object
 * after `setPrototypeOf` costs V8 a slow-mode transition (~4 µs measured).
 */
interface State extends ServerRequestState {
  /** Cumulative mount templates of the routers the request is in, outermost first. */
  [kMounts]?: string[];
}
type LayerCtor = Fn & { prototype: Record<string, unknown> };

/** Source text of a path argument: strings as written, regexps as literals, arrays comma-joined. */
function pathText(path: unknown): string {
  if (typeof path === 'string') return path;
  if (Array.isArray(path)) return path.map(pathText).join(',');
  return String(path);
}

function mountTemplate(path: unknown): string {
  const text = pathText(path);
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 47 /* / */) end--;
  return text.slice(0, end);
}

/** The full template of `route` as reached by the request: the mount prefixes, then the route's path. */
function fullTemplate(state: State, route: Route): string {
  let text = route[kText];
  if (text === undefined) route[kText] = text = pathText(route.path);
  const mounts = state[kMounts];
  if (mounts === undefined || mounts.length === 0) return text;
  const prefix = mounts[mounts.length - 1];
  return text === '/' || text === '' ? prefix : prefix + text;
}

/** Pushes a mount template; the returned `next` pops back to this depth before continuing. */
function enterMount(state: State, mount: string, routerNext: Fn): Fn {
  let mounts = state[kMounts];
  if (mounts === undefined) state[kMounts] = mounts = [];
  const stack = mounts;
  const depth = stack.length;
  stack.push(depth === 0 ? mount : stack[depth - 1] + mount);
  return function next(this: unknown) {
    stack.length = depth;
    return Reflect.apply(routerNext, this, arguments);
  };
}

function isRouter(fn: Layer['handle']): boolean {
  return Array.isArray(fn.stack) || fn.name === 'mounted_app';
}

/** Runs a layer in an INTERNAL span that ends at `next` or when the response finishes. */
function runInSpan(layer: Layer, original: Fn, args: unknown[], state: State, error: boolean): unknown {
  const at = error ? 3 : 2;
  let ctx: Context;
  let copy: unknown[];
  try {
    const parent = activeContext();
    const mount = error ? '' : layer[kMount];
    const mounts = state[kMounts];
    let name: string;
    let type: string;
    if (layer.method !== undefined) {
      type = 'request_handler';
      name = `request handler - ${state.route ?? layer.name}`;
    } else if (isRouter(layer.handle)) {
      type = 'router';
      name = `router - ${mount ? (mounts !== undefined && mounts.length > 0 ? mounts[mounts.length - 1] : '') + mount : '/'}`;
    } else {
      type = 'middleware';
      name = `middleware - ${layer.name}`;
    }
    const attributes: Record<string, string> = { [ATTR_EXPRESS_NAME]: layer.name, [ATTR_EXPRESS_TYPE]: type };
    if (type === 'request_handler' && state.route !== undefined) attributes[ATTR_HTTP_ROUTE] = state.route;
    const span = startInternal(name, attributes, parent);
    trackUntilResponse(state, args[error ? 2 : 1] as object, span);
    ctx = withSpan(parent, span);
    copy = args.slice();
    // The mount is entered last: nothing after it can fail and leave the stack one level too deep.
    const next = mount ? enterMount(state, mount, args[at] as Fn) : (args[at] as Fn);
    copy[at] = resumeIn(parent, next, onceEnder(span, state));
  } catch (err) {
    reportInternalError('express span', err);
    return original.apply(layer, args);
  }
  return runIn(ctx, original, layer, copy);
}

/** `handle_request` of a layer mounted below `/`: the mount template is on the stack while the request is inside. */
function mountHandler(proto: Record<string, unknown>, request: string): Fn {
  return function handleRequest(this: Layer, req: Req, res: unknown, next: Fn) {
    const original = proto[request] as Fn;
    const state = serverState(req) as State | undefined;
    if (state === undefined) return original.call(this, req, res, next);
    return original.call(this, req, res, enterMount(state, this[kMount] as string, next));
  };
}

/** `handle_request` with INTERNAL spans on: every layer but the route dispatcher in a span. */
function wrapHandleRequest(original: Fn): Fn {
  return function handleRequest(this: Layer, req: Req, res: unknown, next: Fn) {
    const state = serverState(req) as State | undefined;
    if (state === undefined || this.route !== undefined) return original.call(this, req, res, next);
    if (state.span.isRecording()) return runInSpan(this, original, [req, res, next], state, false);
    const mount = this[kMount];
    return original.call(this, req, res, mount ? enterMount(state, mount, next) : next);
  };
}

/** `Route#dispatch`: the request matched this route. */
function wrapDispatch(original: Fn): Fn {
  return function dispatch(this: Route, req: Req, res: unknown, done: Fn) {
    const state = serverState(req) as State | undefined;
    if (state !== undefined) {
      try {
        setRoute(req, fullTemplate(state, this));
      } catch (err) {
        reportInternalError('express route', err);
      }
    }
    return original.call(this, req, res, done);
  };
}

function wrapHandleError(original: Fn, spans: boolean): Fn {
  return function handleError(this: Layer, error: unknown, req: Req, res: unknown, next: Fn) {
    const state = serverState(req) as State | undefined;
    if (state === undefined) return original.call(this, error, req, res, next);
    try {
      // The same error is offered to each later layer: record it once (strings cannot be deduplicated by identity elsewhere).
      if (state.error !== error) recordServerError(req, error);
    } catch (err) {
      reportInternalError('express error', err);
    }
    if (spans && this.handle.length === 4 && state.span.isRecording()) {
      return runInSpan(this, original, [error, req, res, next], state, true);
    }
    return original.call(this, error, req, res, next);
  };
}

/** Patches a `Layer` module's exports; returns the constructor that records mount paths. */
function patchLayer(Original: LayerCtor, request: string, error: string): LayerCtor {
  const proto = Original?.prototype;
  if (typeof Original !== 'function' || typeof proto?.[request] !== 'function' || typeof proto[error] !== 'function') {
    throw new Error(`unexpected Layer shape (no ${request}/${error})`);
  }
  const spans = internalSpansOn();
  if (spans) wrap(proto, request, (original) => wrapHandleRequest(original as Fn));
  wrap(proto, error, (original) => wrapHandleError(original as Fn, spans));
  const mounted = spans ? undefined : mountHandler(proto, request);
  const Recording = function Layer(this: unknown, path: unknown, options?: { end?: unknown }) {
    const layer = Reflect.construct(Original, arguments, new.target ?? Original) as Layer;
    try {
      const mount = options != null && options.end === false ? mountTemplate(path) : '';
      if (mount !== '') {
        layer[kMount] = mount;
        if (mounted !== undefined) Object.defineProperty(layer, request, { value: mounted, writable: true, configurable: true });
      }
    } catch (err) {
      reportInternalError('express layer', err);
    }
    return layer;
  };
  return disguise(Original, Recording as unknown as LayerCtor);
}

/** Patches a `Route` module's exports. */
function patchRoute(Route: LayerCtor): void {
  if (typeof Route !== 'function' || typeof Route.prototype?.dispatch !== 'function') throw new Error('unexpected Route shape (no dispatch)');
  wrap(Route.prototype as { dispatch: Fn }, 'dispatch', (original) => wrapDispatch(original));
}

/** Wraps the outermost `Router#handle` call of a request to see errors that reach the final handler. */
function patchRouterHandle(proto: { handle?: unknown }): void {
  if (typeof proto?.handle !== 'function') throw new Error('unexpected Router shape (no handle)');
  wrap(proto as { handle: Fn }, 'handle', (original) =>
    function handle(this: unknown, req: Req, res: unknown, out: Fn) {
      // `baseUrl` is set by the first router a request enters: only the outermost call sees it undefined.
      if (req == null || req.baseUrl !== undefined || typeof out !== 'function' || serverState(req) === undefined) {
        return Reflect.apply(original, this, arguments);
      }
      return original.call(this, req, res, function done(this: unknown, err?: unknown) {
        if (err) {
          try {
            if (serverState(req)?.error !== err) recordServerError(req, err);
          } catch (e) {
            reportInternalError('express error', e);
          }
        }
        return Reflect.apply(out, this, arguments);
      });
    },
  );
}

const EXPRESS_4 = '>=4.6.0 <5';
/** express/router versions one of whose parts did not fit: their other parts are left alone. */
const misfits = new Set<string>();

/**
 * The parts of one express are patched file by file as they load; the first
 * that does not fit is reported (once, by the hook registry) and the rest of
 * that version is left untouched and unreported.
 */
function part(module: string, file: string | undefined, versions: string, patch: (exports: any) => unknown): PatchTarget {
  return {
    module,
    file,
    versions,
    patch(exports: unknown, version: string) {
      const key = `${module === 'router' ? 'router' : 'express'}@${version}`;
      if (misfits.has(key)) return undefined;
      try {
        return patch(exports);
      } catch (err) {
        misfits.add(key);
        throw err;
      }
    },
  };
}

const targets: PatchTarget[] = [
  // Nothing to patch on the main module: it declares the supported range, so other versions get a debug line.
  part('express', undefined, '>=4.6.0 <6', (exports: Fn & { application?: unknown }) => {
    if (typeof exports !== 'function' || typeof exports.application !== 'object' || exports.application === null) throw new Error('unexpected express exports');
  }),
  part('express', 'lib/router/layer.js', EXPRESS_4, (e) => patchLayer(e, 'handle_request', 'handle_error')),
  part('express', 'lib/router/route.js', EXPRESS_4, (e) => patchRoute(e)),
  part('express', 'lib/router/index.js', EXPRESS_4, (e) => patchRouterHandle(e)),
  part('router', 'lib/layer.js', '>=2.0.0 <3', (e) => patchLayer(e, 'handleRequest', 'handleError')),
  part('router', 'lib/route.js', '>=2.0.0 <3', (e) => patchRoute(e)),
  part('router', undefined, '>=2.0.0 <3', (e) => patchRouterHandle(e?.prototype)),
];

const definition: InstrumentationDefinition = { name: 'express', targets };
export default definition;
