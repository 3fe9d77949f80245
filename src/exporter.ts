/**
 * The OTLP/HTTP trace exporter, built from our config (never from
 * `process.env`): our encoder (otlp-encode.ts) and transport (transport.ts), plus a
 * synchronous last-resort send used at process exit.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { reportInternalError } from './agent';
import type { AgentConfig } from './config';
import { ChunkEncoder, encodeJson, encodeProtobuf } from './otlp-encode';
import { HttpTransport } from './transport';

/** What the span processor needs from an exporter. */
export interface SpanExporterLike {
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void;
  /** Sends `spans` before returning, within `timeoutMs`; false when it could not. */
  exportSync?(spans: ReadableSpan[], timeoutMs: number): boolean;
  /**
   * Exporters whose request bodies concatenate into one request (protobuf:
   * the top-level field is repeated) offer these three, so that the processor
   * can encode spans soon after they end and keep bytes instead of objects.
   */
  encoder?(): SpanEncoder;
  exportEncoded?(body: Uint8Array, done: (result: ExportResult) => void): void;
  exportEncodedSync?(body: Uint8Array, timeoutMs: number): boolean;
  shutdown(): Promise<void>;
}

/** Encodes spans one at a time into an open request body (otlp-encode.ts's ChunkEncoder). */
export interface SpanEncoder {
  /** Spans in the open body. */
  readonly count: number;
  /** Encodes `span` into the open body; throws, leaving nothing of it behind, when it cannot. */
  add(span: ReadableSpan): void;
  /** The open body (undefined when it holds no span), emptied. */
  take(): Uint8Array | undefined;
  /** Drops the open body's spans. */
  clear(): void;
}

type Otlp = AgentConfig['otlp'];

function contentType(otlp: Otlp): string {
  return otlp.protocol === 'http/json' ? 'application/json' : 'application/x-protobuf';
}

function encoder(otlp: Otlp): (spans: ReadableSpan[]) => Uint8Array {
  return otlp.protocol === 'http/json' ? encodeJson : encodeProtobuf;
}

/**
 * An OTLP exporter. The transport is created now, before any instrumentation
 * patches `http`, so it holds node's own `request`.
 */
export function createOtlpExporter(otlp: Otlp, version: string): SpanExporterLike {
  const transport = new HttpTransport({
    url: otlp.url,
    headers: { ...otlp.headers, 'Content-Type': contentType(otlp) },
    timeoutMs: otlp.timeoutMs,
    gzip: otlp.compression === 'gzip',
    userAgent: `acme-otel-agent/${version}`,
  });
  const encode = encoder(otlp);
  const send = (body: Uint8Array, done: (result: ExportResult) => void): void => {
    transport.send(body, (r) => {
      // Called from a socket's or a timer's callback: nothing may escape into the app.
      try {
        done(r.ok ? { code: ExportResultCode.SUCCESS } : { code: ExportResultCode.FAILED, error: new Error(r.error) });
      } catch (err) {
        reportInternalError('OTLP export', err);
      }
    });
  };
  const exporter: SpanExporterLike = {
    export(spans, done) {
      let body: Uint8Array;
      try {
        body = encode(spans);
      } catch (err) {
        done({ code: ExportResultCode.FAILED, error: err as Error });
        return;
      }
      send(body, done);
    },
    exportSync(spans, timeoutMs) {
      return sendSync(otlp, encode(spans), timeoutMs);
    },
    async shutdown() {
      transport.close();
    },
  };
  if (otlp.protocol !== 'http/json') {
    exporter.encoder = () => new ChunkEncoder();
    exporter.exportEncoded = send;
    exporter.exportEncodedSync = (body, timeoutMs) => sendSync(otlp, body, timeoutMs);
  }
  return exporter;
}

/**
 * Sends one request synchronously, from a short-lived child process, so that
 * spans still queued when the app calls `process.exit()` are not lost and the
 * exit itself stays synchronous, exactly as without the agent.
 */
function sendSync(otlp: Otlp, body: Uint8Array, timeoutMs: number): boolean {
  if (timeoutMs <= 0) return false;
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
