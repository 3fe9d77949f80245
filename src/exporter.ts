/**
 * The OTLP/HTTP trace exporter, built from our config (never from
 * `process.env`), plus a synchronous last-resort send used at process exit.
 * The upstream transport brings the spec's retry rules (retryable codes,
 * exponential backoff with jitter, `Retry-After`, bounded by the timeout).
 */
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { AgentConfig } from './config';

/** What the span processor needs from an exporter. */
export interface SpanExporterLike {
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void;
  /** Sends `spans` before returning, within `timeoutMs`; false when it could not. */
  exportSync?(spans: ReadableSpan[], timeoutMs: number): boolean;
  shutdown(): Promise<void>;
}

type Otlp = AgentConfig['otlp'];

function contentType(otlp: Otlp): string {
  return otlp.protocol === 'http/json' ? 'application/json' : 'application/x-protobuf';
}

/* eslint-disable @typescript-eslint/no-require-imports */
function serializer(otlp: Otlp): import('@opentelemetry/otlp-transformer').ISerializer<ReadableSpan[], unknown> {
  // Loaded on first use: the encoder is a large part of the agent's start-up cost.
  const t = require('@opentelemetry/otlp-transformer') as typeof import('@opentelemetry/otlp-transformer');
  return otlp.protocol === 'http/json' ? t.JsonTraceSerializer : t.ProtobufTraceSerializer;
}

/** An OTLP exporter whose transport is created on the first export. */
export function createOtlpExporter(otlp: Otlp, version: string): SpanExporterLike {
  let delegate: import('@opentelemetry/otlp-exporter-base').IOtlpExportDelegate<ReadableSpan[]> | undefined;
  const init = () => {
    const base = require('@opentelemetry/otlp-exporter-base/node-http') as typeof import('@opentelemetry/otlp-exporter-base/node-http');
    const t = require('@opentelemetry/otlp-transformer') as typeof import('@opentelemetry/otlp-transformer');
    const headers = { ...otlp.headers, 'Content-Type': contentType(otlp) };
    return base.createOtlpHttpExportDelegate(
      {
        url: otlp.url,
        headers: async () => headers,
        timeoutMillis: otlp.timeoutMs,
        concurrencyLimit: 4,
        compression: otlp.compression,
        agentFactory: base.httpAgentFactoryFromOptions({ keepAlive: true }),
        userAgent: `acme-otel-agent/${version}`,
      },
      serializer(otlp),
      'otlp_http_span_exporter',
      t.TraceExporterMetricsHelper,
      undefined,
    );
  };
  return {
    export(spans, done) {
      delegate ??= init();
      delegate.export(spans, done);
    },
    exportSync(spans, timeoutMs) {
      return sendSync(otlp, serializer(otlp).serializeRequest(spans), timeoutMs);
    },
    async shutdown() {
      await delegate?.shutdown();
    },
  };
}

/**
 * Sends one request synchronously, from a short-lived child process, so that
 * spans still queued when the app calls `process.exit()` are not lost and the
 * exit itself stays synchronous, exactly as without the agent.
 */
function sendSync(otlp: Otlp, body: Uint8Array | undefined, timeoutMs: number): boolean {
  if (body === undefined || timeoutMs <= 0) return false;
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const { gzipSync } = require('node:zlib') as typeof import('node:zlib');
  const headers: Record<string, string> = { ...otlp.headers, 'Content-Type': contentType(otlp) };
  let payload = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (otlp.compression === 'gzip') {
    payload = gzipSync(payload);
    headers['Content-Encoding'] = 'gzip';
  }
  const env: NodeJS.ProcessEnv = {
    // Headers travel in the environment, not argv: they may hold API keys.
    ACME_OTEL_EXIT_SEND: JSON.stringify({ url: otlp.url, headers, timeoutMs }),
    OTEL_SDK_DISABLED: 'true',
  };
  const r = spawnSync(process.execPath, [require.resolve('./exit-send')], {
    input: payload,
    env,
    timeout: timeoutMs + 500,
    stdio: ['pipe', 'ignore', 'ignore'],
    windowsHide: true,
  });
  return r.status === 0;
}
