/**
 * Which modules each instrumentation needs, known without loading its code:
 * an instrumentation file is required only when one of its modules is.
 */
import type { InstrumentationDefinition } from './agent';
import type { InstrumentationName } from './config';

/** One instrumentation as the hook registry sees it before it is loaded. */
export interface RegistryEntry {
  readonly name: InstrumentationName;
  /** Module names (as in `PatchTarget.module`) whose loading triggers `load()`. */
  readonly modules: readonly string[];
  /** Loads the instrumentation's code. */
  load(): InstrumentationDefinition;
}

/* eslint-disable @typescript-eslint/no-require-imports */
export const REGISTRY: readonly RegistryEntry[] = [
  { name: 'http', modules: ['http', 'https'], load: () => require('./instrumentations/http').default },
  { name: 'fetch', modules: [], load: () => require('./instrumentations/fetch').default },
  { name: 'express', modules: ['express', 'router'], load: () => require('./instrumentations/express').default },
  { name: 'fastify', modules: ['fastify'], load: () => require('./instrumentations/fastify').default },
  { name: 'pg', modules: ['pg', 'pg-pool'], load: () => require('./instrumentations/pg').default },
];
