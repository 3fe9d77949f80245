/**
 * The context manager (AsyncLocalStorage, as upstream's) and the two calls
 * our instrumentations make on every request, without the API's detour.
 *
 * `context.with(ctx, fn, thisArg, ...args)` goes through the API's global
 * registry (a version-compatibility lookup per call), then upstream's
 * manager binds `fn` to `thisArg` and spreads the arguments twice. Our
 * wrappers call {@link runIn} and {@link activeContext}, which go straight
 * to the storage. If another context manager was registered before ours
 * (the API keeps the first), they go through the API, so the app and the
 * agent always agree on the active context.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { context as api, ROOT_CONTEXT, type Context, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';

type Fn = (this: any, ...args: any[]) => any;

let storage: AsyncLocalStorage<Context> | undefined;

/** Upstream's storage field (TypeScript-private, a plain property at run time; the library is bundled at a fixed version). */
function storageOf(manager: AsyncLocalStorageContextManager): AsyncLocalStorage<Context> | undefined {
  const s = (manager as unknown as { _asyncLocalStorage?: unknown })._asyncLocalStorage;
  return s instanceof AsyncLocalStorage ? (s as AsyncLocalStorage<Context>) : undefined;
}

/** Upstream's manager (its `bind` of functions and event emitters is kept) with a leaner `with`. */
class AgentContextManager extends AsyncLocalStorageContextManager {
  private readonly als = storageOf(this);

  override with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    if (this.als === undefined) return super.with(ctx, fn, thisArg, ...args);
    return this.als.run(ctx, Reflect.apply, fn, thisArg, args) as ReturnType<F>;
  }
}

/** Registers our context manager globally; returns false when another one was there first. */
export function installContextManager(): boolean {
  const manager = new AgentContextManager();
  if (!api.setGlobalContextManager(manager)) return false;
  storage = storageOf(manager);
  if (storage !== undefined) splitPropagation(storage);
  return true;
}

/** Node 20's and 22's `AsyncLocalStorage#_propagate`, white space aside: the only method {@link splitPropagation} replaces. */
const NODE_PROPAGATE = '_propagate(resource,triggerResource,type){conststore=triggerResource[this.kResourceStore];if(this.enabled){resource[this.kResourceStore]=store;}}';

/**
 * On Node 20 and 22 the storage's async hook copies the store onto every async resource and
 * promise, through one load and one store for all of them. Resources of more than four layouts
 * reach that store (ticks, timers, promises, sockets, the HTTP parser's resource, DNS and connect
 * requests: the export's own connection brings some a hello-world app would not have), so V8
 * makes it megamorphic, a lookup in the runtime per resource. This gives the storage its own
 * `_propagate`: the same load and store, at a site of their own for each frequent kind of
 * resource. The stores onto ticks, promises and timers then see one layout each and are compiled
 * inline; the loads, from whatever resource is running, still see many. Counted (bench/README,
 * fourteenth session): ~2.5k instructions fewer a request on `http` and fastify, 3%. Only over the
 * method we know; Node 24 keeps context without a hook.
 */
function splitPropagation(s: AsyncLocalStorage<Context>): void {
  const own = s as unknown as { _propagate?: unknown; kResourceStore?: unknown; enabled?: boolean };
  const key = own.kResourceStore;
  if (typeof own._propagate !== 'function' || typeof key !== 'symbol') return;
  if (Function.prototype.toString.call(own._propagate).replace(/\s+/g, '') !== NODE_PROPAGATE) return;
  type Resource = Record<symbol, unknown>;
  Object.defineProperty(s, '_propagate', {
    configurable: true,
    writable: true,
    value: function _propagate(this: typeof own, resource: Resource, trigger: Resource, type: string): void {
      if (type === 'TickObject') {
        const store = trigger[key];
        if (this.enabled) resource[key] = store;
      } else if (type === 'PROMISE') {
        const store = trigger[key];
        if (this.enabled) resource[key] = store;
      } else if (type === 'Timeout') {
        const store = trigger[key];
        if (this.enabled) resource[key] = store;
      } else {
        const store = trigger[key];
        if (this.enabled) resource[key] = store;
      }
    },
  });
}

/** The active context. */
export function activeContext(): Context {
  return storage === undefined ? api.active() : (storage.getStore() ?? ROOT_CONTEXT);
}

/** Calls `fn` with `thisArg` and `args` (an array or `arguments`) in `ctx`. */
export function runIn<R>(ctx: Context, fn: (...args: any[]) => R, thisArg: unknown, args: ArrayLike<unknown>): R {
  if (storage === undefined) return api.with(ctx, fn as Fn, thisArg, ...Array.from(args));
  return storage.run(ctx, Reflect.apply, fn, thisArg, args) as R;
}

/**
 * Makes the root context the active one, for code that must not keep the caller's (what it
 * creates, timers among them, would hold that context until they are done), and returns what to
 * give {@link leaveRoot} afterwards, in a `finally`. Cheaper than {@link runIn}: no arguments are
 * passed along, and on Node 20 one load and two stores on the current async resource instead of
 * two loads and two stores behind a rest-parameter call. Does nothing under another context manager (the API has no such call).
 */
export function enterRoot(): Context | undefined {
  if (storage === undefined) return undefined;
  const prior = storage.getStore();
  if (prior === undefined || prior === ROOT_CONTEXT) return undefined;
  storage.enterWith(ROOT_CONTEXT);
  return prior;
}

/** Makes `prior`, from {@link enterRoot}, the active context again. */
export function leaveRoot(prior: Context | undefined): void {
  if (prior !== undefined) storage!.enterWith(prior);
}

/** The API's key for the active span (`createContextKey` is `Symbol.for`, so every copy of the API shares it). */
const SPAN_KEY = Symbol.for('OpenTelemetry Context Key SPAN');

/** The context an emitter's events run in (server request and response, client request and response). */
export const kContext = Symbol('otel-agent.context');

/**
 * `parent` with a span as its active span: what `trace.setSpan(parent, span)` makes, without
 * the API's copy of the parent's `Map` (some 900 instructions, for every span a request starts
 * under). Reads of other keys go to `parent`; setting the span again (a child's context) makes
 * another of these over the same parent; setting any other key makes a full context.
 */
export class ContextWithSpan implements Context {
  constructor(
    private readonly parent: Context,
    /** Replaced only once the span has ended, by a stand-in with the same ids (see `ServerContext#retire`). */
    protected span: unknown,
  ) {}

  getValue(key: symbol): unknown {
    return key === SPAN_KEY ? this.span : this.parent.getValue(key);
  }

  setValue(key: symbol, value: unknown): Context {
    if (key === SPAN_KEY) return new ContextWithSpan(this.parent, value);
    return this.parent.setValue(SPAN_KEY, this.span).setValue(key, value);
  }

  deleteValue(key: symbol): Context {
    if (key !== SPAN_KEY) return new ContextWithSpan(this.parent.deleteValue(key), this.span);
    return this.parent === ROOT_CONTEXT ? ROOT_CONTEXT : this.parent.deleteValue(SPAN_KEY);
  }
}

/** `parent` with `span` as its active span, as `trace.setSpan`. */
export function contextWithSpan(parent: Context, span: Span): Context {
  return parent instanceof ContextWithSpan ? parent.setValue(SPAN_KEY, span) : new ContextWithSpan(parent, span);
}
