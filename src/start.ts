/**
 * Starting the agent: config, SDK, hooks, shutdown handling. Called once per
 * process (per thread) by the entry points, inside their try/catch.
 */
import { setAgent } from './agent';
import type { AgentConfig } from './config';
import { installHooks } from './hooks';
import { log, logEnabled, setLogLevel } from './logger';
import { startSdk } from './sdk';
import { installShutdown } from './shutdown';

/** The agent's own package version. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const VERSION: string = require('../package.json').version;

/** The endpoint as it may be shown in a log line: no credentials, no query. */
function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) u.username = u.password = 'REDACTED';
    u.search = '';
    return u.href;
  } catch {
    return '(invalid URL)';
  }
}

/** Starts the SDK and the instrumentations for an already-read, enabled config. */
export function start(config: AgentConfig): void {
  // This module is bundled apart from the tiny entry (which has its own logger copy): set our level too.
  setLogLevel(config.logLevel);
  const sdk = startSdk(config, VERSION);
  const exportUrl = config.exporters.includes('otlp') ? new URL(config.otlp.url) : undefined;
  setAgent({ config, tracer: sdk.provider.getTracer('@acme/otel-agent', VERSION), exportUrl });
  installHooks(config.instrumentations);
  installShutdown(sdk.processors, config.shutdownTimeoutMs);
  if (logEnabled('info')) {
    const exporters = config.exporters.length === 0 ? 'none' : config.exporters.join(',');
    const endpoint = config.exporters.includes('otlp') ? ` ${config.otlp.protocol} to ${shownUrl(config.otlp.url)}` : '';
    const headers = Object.keys(config.otlp.headers);
    log.info(
      `started @acme/otel-agent ${VERSION} on Node.js ${process.versions.node}: service ${sdk.serviceName}, exporter ${exporters}${endpoint}` +
        `${headers.length ? ` (headers: ${headers.map((h) => `${h}=***`).join(', ')})` : ''}, sampler ${config.sampler.name}` +
        `${config.sampler.name.endsWith('ratio') ? `(${config.sampler.ratio})` : ''}, instrumentations ${[...config.instrumentations].join(',') || 'none'}`,
    );
  }
}
