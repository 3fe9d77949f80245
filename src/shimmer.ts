/**
 * Transparent, idempotent method wrapping. A wrapper keeps the original's
 * `name` and `length`, is marked with a Symbol that points back to the
 * original, and wrapping twice is a no-op.
 */

const kOriginal = Symbol('otel-agent.original');

type AnyFunction = (this: unknown, ...args: any[]) => any;

/** True when `fn` is a wrapper made by {@link wrap}. */
export function isWrapped(fn: unknown): boolean {
  return typeof fn === 'function' && kOriginal in fn;
}

/** The function a wrapper wraps, or `fn` itself. */
export function unwrapped<T>(fn: T): T {
  return typeof fn === 'function' && kOriginal in fn ? ((fn as Record<symbol, T>)[kOriginal] as T) : fn;
}

/**
 * Makes `wrapper` look like `original` (name, length, own properties such as
 * `util.promisify.custom`) and marks it.
 */
export function disguise<T extends AnyFunction>(original: T, wrapper: T): T {
  for (const key of Reflect.ownKeys(original)) {
    if (key === 'prototype' || key === 'caller' || key === 'arguments') continue;
    const d = Object.getOwnPropertyDescriptor(original, key);
    if (!d) continue;
    try {
      Object.defineProperty(wrapper, key, d);
    } catch {
      // non-configurable on the wrapper: keep the wrapper's own
    }
  }
  if (original.prototype !== undefined && wrapper.prototype !== original.prototype) {
    try {
      wrapper.prototype = original.prototype;
    } catch {
      // class wrappers have a read-only prototype
    }
  }
  Object.defineProperty(wrapper, kOriginal, { value: original, enumerable: false });
  return wrapper;
}

/**
 * Replaces `target[name]` with `factory(original)`. Returns false (and
 * changes nothing) when the property is not a function or cannot be set.
 * Wrapping an already-wrapped method does nothing and returns true.
 */
export function wrap<T extends object, K extends keyof T>(
  target: T,
  name: K,
  factory: (original: T[K] & AnyFunction) => T[K] & AnyFunction,
): boolean {
  const original = target[name] as unknown;
  if (typeof original !== 'function') return false;
  if (kOriginal in original) return true;
  const wrapper = disguise(original as T[K] & AnyFunction, factory(original as T[K] & AnyFunction));
  const own = Object.getOwnPropertyDescriptor(target, name);
  try {
    Object.defineProperty(target, name, {
      configurable: true,
      enumerable: own ? own.enumerable : false,
      writable: true,
      value: wrapper,
    });
  } catch {
    return false;
  }
  return target[name] === (wrapper as unknown);
}

/** Restores `target[name]` to what it was before {@link wrap}. */
export function unwrap<T extends object, K extends keyof T>(target: T, name: K): void {
  const current = target[name];
  if (typeof current === 'function' && kOriginal in current) {
    try {
      Object.defineProperty(target, name, {
        configurable: true,
        writable: true,
        value: (current as Record<symbol, unknown>)[kOriginal],
      });
    } catch {
      // leave it wrapped; the wrapper still calls straight through
    }
  }
}
