/**
 * What every instrumentation gets from the running agent: the configuration
 * and the tracer, plus the guard that keeps agent failures away from the app.
 * Set once by `start()`; instrumentations are only loaded after that.
 */
import type { Tracer } from '@opentelemetry/api';
import type { AgentConfig, InstrumentationName } from './config';
import { log } from './logger';

/** The running agent, as instrumentations see it. */
export interface Agent {
  readonly config: AgentConfig;
  readonly tracer: Tracer;
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
    const message = err instanceof Error ? err.message : String(err);
    log.warn(`internal error in ${where} (the app is unaffected; further errors here are not reported): ${message}`);
  }
  return n;
}
