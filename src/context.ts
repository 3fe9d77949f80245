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
import { context as api, ROOT_CONTEXT, type Context } from '@opentelemetry/api';
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
  return true;
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
