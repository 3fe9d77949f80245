/**
 * The resource every span carries: service identity, SDK, process and host.
 * Built from the config plus facts about this process; no network requests
 * (no cloud metadata probes).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import type { AgentConfig } from './config';

/**
 * The `name` of the nearest package.json above the entry script, stopping at
 * a node_modules boundary; undefined when there is none.
 */
export function discoverServiceName(entry: string | undefined): string | undefined {
  if (!entry) return undefined;
  let dir = path.dirname(path.resolve(entry));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (typeof pkg.name === 'string' && pkg.name !== '') return pkg.name;
      return undefined;
    } catch {
      // no (readable) package.json here: keep climbing
    }
    const up = path.dirname(dir);
    if (up === dir || path.basename(dir) === 'node_modules') return undefined;
    dir = up;
  }
}

/** Resource attributes, in the order of precedence the spec gives: config over detected. */
export function resourceAttributes(config: AgentConfig, agentVersion: string): Record<string, string | number> {
  let serviceName = config.serviceName ?? discoverServiceName(process.argv[1]) ?? 'unknown_service:node';
  // Coroot and others treat a leading slash as a path, not a name.
  if (serviceName.startsWith('/')) serviceName = serviceName.replace(/^\/+/, '') || 'unknown_service:node';
  return {
    'service.instance.id': randomUUID(),
    'telemetry.sdk.language': 'nodejs',
    'telemetry.sdk.name': 'opentelemetry',
    'telemetry.sdk.version': '2.12.0',
    'telemetry.distro.name': '@acme/otel-agent',
    'telemetry.distro.version': agentVersion,
    'process.pid': process.pid,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
    'process.runtime.description': 'Node.js',
    'process.executable.path': process.execPath,
    'process.command': process.argv[1] ?? '',
    'host.name': hostname(),
    'host.arch': process.arch,
    'os.type': process.platform,
    ...config.resourceAttributes,
    'service.name': serviceName,
  };
}
