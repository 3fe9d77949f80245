/**
 * The `--require` entry (`node --require @acme/otel-agent app.js`). Tiny on
 * purpose: start once per process (per thread), never throw into the app.
 * With OTEL_SDK_DISABLED=true nothing beyond the config is loaded.
 */
import type * as Config from './config';
import type * as Logger from './logger';

const kStarted = Symbol.for('@acme/otel-agent.started');
const g = globalThis as { [kStarted]?: boolean };

/** Package managers whose own processes we leave alone (`otel-instrument npm start` instruments the app, not npm). */
const PACKAGE_MANAGER = /[\\/](npm|npx|yarn|yarnpkg|pnpm|pnpx|corepack)(-cli)?(\.[cm]?js)?$|[\\/]node_modules[\\/](npm|yarn|pnpm|corepack)[\\/]/;

/**
 * Whether this is Node's module-hooks thread: Node runs `--require` preloads
 * there too once any loader is registered (e.g. `--import tsx`), and there is
 * nothing to trace in it. Only threads without a script argument can be it,
 * which keeps `worker_threads` out of the usual start.
 */
function inHooksThread(): boolean {
  if (process.argv[1] !== undefined) return false;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const wt = require('node:worker_threads') as typeof import('node:worker_threads') & { isInternalThread?: boolean };
  return !wt.isMainThread && (wt.isInternalThread === true || wt.parentPort === null);
}

function main(): void {
  if (g[kStarted]) return;
  g[kStarted] = true;
  try {
    // The one setting read before config.ts: disabled means nothing else is even loaded.
    if (process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return;
    if (inHooksThread()) return;
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { readConfig } = require('./config') as typeof Config;
    const { log, setLogLevel } = require('./logger') as typeof Logger;
    const { config, warnings } = readConfig(process.env);
    setLogLevel(config.logLevel);
    for (const w of warnings) log.warn(w);
    if (config.disabled) return;
    if (PACKAGE_MANAGER.test(process.argv[1] ?? '')) return;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require('./start') as typeof import('./start')).start(config);
  } catch (err) {
    try {
      (require('./logger') as typeof Logger).log.error(`failed to start; the app runs without tracing: ${(err as Error)?.stack ?? err}`);
    } catch {
      // nothing left to report with
    }
  }
}

main();
