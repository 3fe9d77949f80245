/**
 * What every instrumentation gets from the running agent: the configuration
 * and the tracer, plus the guard that keeps agent failures away from the app.
 * Set once by `start()`; instrumentations are only loaded after that.
 */
import type { AgentConfig, InstrumentationName } from './config';
import { log } from './logger';
import type { AgentTracer } from './tracer';

/** The running agent, as instrumentations see it. */
export interface Agent {
  readonly config: AgentConfig;
  readonly tracer: AgentTracer;
  /** The OTLP endpoint; requests to it are never traced. */
  readonly exportUrl: URL | undefined;
}

let current: Agent | undefined;

/** Called once by `start()`. */
export function setAgent(agent: Agent): void {
  current = agent;
}

/** The running agent. Only called from code that runs after `start()`. */
export function agent(): Agent {
  if (current === undefined) throw new Error('@acme/otel-agent has not been started');
  return current;
}

/** One module an instrumentation patches, and how. */
export interface PatchTarget {
  /** The package or builtin name as required (`express`, `http`); `node:` forms are matched too. */
  readonly module: string;
  /** A file inside the package (`lib/router/layer.js`), when the patch is on an internal file. */
  readonly file?: string;
  /** Supported versions (semver range); builtins ignore it. */
  readonly versions: string;
  /**
   * Patches the module's exports in place (or returns replacement exports).
   * A throw leaves the original exports and disables this target, with one warning.
   */
  patch(exports: any, version: string): unknown;
}

/** The shape of every file in `src/instrumentations/`. */
export interface InstrumentationDefinition {
  readonly name: InstrumentationName;
  readonly targets: readonly PatchTarget[];
  /** For instrumentations without a module to hook (fetch's diagnostics channels): runs once at start. */
  enable?(): void;
}

const failures = new Map<string, number>();

/**
 * Reports an error raised inside agent code on the request path: once per
 * `where`, at warn, with the message; never rethrows. Returns how often
 * `where` has failed, so callers may switch themselves off.
 */
export function reportInternalError(where: string, err: unknown): number {
  const n = (failures.get(where) ?? 0) + 1;
  failures.set(where, n);
  if (n === 1) {
    let message: string;
    try {
      message = String(err instanceof Error ? err.message : err);
    } catch {
      // A hostile value (a getter or toString that throws) must not escape from here.
      message = 'unknown error';
    }
    log.warn(`internal error in ${where} (the app is unaffected; further errors here are not reported): ${message}`);
  }
  return n;
}

/** Failures after which a {@link guarded} function switches itself off. */
export const MAX_FAILURES = 10;

/**
 * Wraps agent code that runs on the request path (a diagnostics-channel
 * subscriber, a hook callback) so that nothing it throws reaches the app:
 * the first error is reported (see {@link reportInternalError}); after
 * `MAX_FAILURES` errors the wrapper stops calling `fn`, says so once, and
 * calls `onSwitchOff` (e.g. to unsubscribe; run on the next tick, never while a
 * channel is publishing). Node turns a subscriber's throw into an uncaught
 * exception, so every subscriber should go through this.
 */
export function guarded<A, B>(where: string, fn: (a: A, b: B) => void, onSwitchOff?: () => void): (a: A, b: B) => void {
  let off = false;
  // Two fixed parameters (a channel message and its name): no arguments array per call.
  return (a: A, b: B): void => {
    if (off) return;
    try {
      fn(a, b);
    } catch (err) {
      if (reportInternalError(where, err) < MAX_FAILURES) return;
      off = true;
      log.warn(`internal errors in ${where} keep happening: switched off (the app is unaffected)`);
      if (onSwitchOff !== undefined) {
        process.nextTick(() => {
          try {
            onSwitchOff();
          } catch {
            // already off: the wrapper calls nothing any more
          }
        });
      }
    }
  };
}
