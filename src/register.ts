/**
 * The `--require` entry (`node --require @acme/otel-agent app.js`). Tiny on
 * purpose: start once per process (per thread), never throw into the app.
 * With OTEL_SDK_DISABLED=true nothing beyond the config is loaded.
 */
import { readConfig } from './config';
import { log, setLogLevel } from './logger';

const kStarted = Symbol.for('@acme/otel-agent.started');
const g = globalThis as { [kStarted]?: boolean };

/** Package managers whose own processes we leave alone (`otel-instrument npm start` instruments the app, not npm). */
const PACKAGE_MANAGER = /[\\/](npm|npx|yarn|yarnpkg|pnpm|pnpx|corepack)(-cli)?(\.[cm]?js)?$|[\\/]node_modules[\\/](npm|yarn|pnpm|corepack)[\\/]/;

function main(): void {
  if (g[kStarted]) return;
  g[kStarted] = true;
  try {
    const { config, warnings } = readConfig(process.env);
    setLogLevel(config.logLevel);
    for (const w of warnings) log.warn(w);
    if (config.disabled) return;
    if (PACKAGE_MANAGER.test(process.argv[1] ?? '')) return;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require('./start') as typeof import('./start')).start(config);
  } catch (err) {
    log.error(`failed to start; the app runs without tracing: ${(err as Error)?.stack ?? err}`);
  }
}

main();
