/**
 * `OTEL_TRACES_EXPORTER=console`: each batch printed on stdout as one block
 * per trace, spans as an indented tree with kind, duration, status and
 * attributes, for a person to read.
 */
import { SpanKind, SpanStatusCode, type HrTime } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { SpanExporterLike } from './exporter';

const KINDS: Record<number, string> = {
  [SpanKind.INTERNAL]: 'INTERNAL',
  [SpanKind.SERVER]: 'SERVER',
  [SpanKind.CLIENT]: 'CLIENT',
  [SpanKind.PRODUCER]: 'PRODUCER',
  [SpanKind.CONSUMER]: 'CONSUMER',
};
const MAX_VALUE = 120;

function ms(t: HrTime): number {
  return t[0] * 1e3 + t[1] / 1e6;
}

function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? JSON.stringify(v) : String(v);
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}…` : s;
}

/** Renders spans as trace trees (one block per trace, children indented under their parent). */
export function formatTraces(spans: readonly ReadableSpan[]): string {
  const byTrace = new Map<string, ReadableSpan[]>();
  for (const s of spans) {
    const id = s.spanContext().traceId;
    const list = byTrace.get(id);
    if (list) list.push(s);
    else byTrace.set(id, [s]);
  }
  const out: string[] = [];
  for (const [traceId, list] of byTrace) {
    const ids = new Set(list.map((s) => s.spanContext().spanId));
    const children = new Map<string, ReadableSpan[]>();
    const roots: ReadableSpan[] = [];
    for (const s of list.sort((a, b) => ms(a.startTime) - ms(b.startTime))) {
      const parent = s.parentSpanContext?.spanId;
      if (parent && ids.has(parent)) {
        const c = children.get(parent);
        if (c) c.push(s);
        else children.set(parent, [s]);
      } else {
        roots.push(s);
      }
    }
    const service = list[0]?.resource.attributes['service.name'];
    out.push(`trace ${traceId}${service ? ` (service ${String(service)})` : ''}`);
    const walk = (s: ReadableSpan, indent: string, last: boolean, remote: boolean) => {
      const status =
        s.status.code === SpanStatusCode.ERROR ? `ERROR${s.status.message ? ` ${show(s.status.message)}` : ''}` : s.status.code === SpanStatusCode.OK ? 'OK' : '';
      const from = remote ? ` (parent ${s.parentSpanContext?.spanId} in another service)` : '';
      out.push(
        `${indent}${last ? '└─' : '├─'} ${KINDS[s.kind] ?? 'INTERNAL'} ${s.name}  ${(ms(s.duration)).toFixed(1)} ms${status ? `  ${status}` : ''}${from}`,
      );
      const inner = indent + (last ? '   ' : '│  ');
      const attrs = Object.entries(s.attributes).map(([k, v]) => `${k}=${show(v)}`);
      if (attrs.length > 0) out.push(`${inner}   ${attrs.join(' ')}`);
      for (const e of s.events) {
        const ea = Object.entries(e.attributes ?? {})
          .filter(([k]) => k !== 'exception.stacktrace')
          .map(([k, v]) => `${k}=${show(v)}`);
        out.push(`${inner}   event ${e.name}${ea.length ? ` ${ea.join(' ')}` : ''}`);
      }
      const kids = children.get(s.spanContext().spanId) ?? [];
      kids.forEach((k, i) => walk(k, inner, i === kids.length - 1, false));
    };
    roots.forEach((r, i) => walk(r, '', i === roots.length - 1, r.parentSpanContext?.spanId !== undefined));
  }
  return out.join('\n') + '\n';
}

/** The console exporter. */
export function createConsoleExporter(): SpanExporterLike {
  const write = (spans: ReadableSpan[]) => {
    try {
      process.stdout.write(formatTraces(spans));
      return true;
    } catch {
      return false;
    }
  };
  return {
    export(spans, done) {
      done({ code: write(spans) ? ExportResultCode.SUCCESS : ExportResultCode.FAILED });
    },
    exportSync: (spans) => write(spans),
    shutdown: async () => {},
  };
}
