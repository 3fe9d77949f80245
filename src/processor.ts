/**
 * The batch span processor: a bounded queue drained in batches by a timer or
 * when a batch is full. Memory is capped whatever the collector does: spans
 * beyond the cap are dropped and counted.
 *
 * With an exporter that can encode ahead (OTLP protobuf), spans are encoded
 * into an open request body soon after they end, and only bytes are kept; the
 * body is closed every {@link CHUNK} spans. A server (or consumer) span is
 * encoded as it ends, its response being out by then, with the spans that
 * waited for it; other spans end before their request's response and wait
 * for the end of the event loop's turn (a setImmediate). So a span object
 * dies young. Waiting for a 128-span chunk, ended spans were most of what
 * survived a scavenge under load, which made V8 grow its young generation,
 * and the RSS with it (bench/README, "Seventh session"). A queue held up by a
 * slow collector costs ~430 bytes per span, not the span objects.
 *
 * Export failures are reported once when they start and once when exports
 * work again, never per batch; drops at most once a minute; at `debug`, a
 * summary of spans exported, dropped and failed once a minute (when it
 * changed) and at exit.
 */
import { context, ROOT_CONTEXT, SpanKind, type Context } from '@opentelemetry/api';
import { ExportResultCode, suppressTracing, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SpanEncoder, SpanExporterLike } from './exporter';
import { log, logEnabled } from './logger';
import type { EndProcessor } from './tracer';

/** Batch settings (`OTEL_BSP_*`). */
export interface BatchSettings {
  readonly scheduleDelayMs: number;
  readonly exportTimeoutMs: number;
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
}

/** Counters, for the periodic debug summary and for tests. */
export interface BatchStats {
  exported: number;
  dropped: number;
  failed: number;
}

const SAMPLED = 1;
/** Spans per request body encoded ahead of the export, when the exporter can (at most one batch). */
export const CHUNK = 128;

/** Spans on their way out: as objects, or encoded. */
interface Batch {
  readonly count: number;
  readonly spans?: ReadableSpan[];
  readonly body?: Uint8Array;
}
const DROP_REPORT_INTERVAL_MS = 60_000;
/** How often drops (warn) and, at `debug`, the exported/dropped/failed summary are reported. */
export const REPORT_INTERVAL_MS = 60_000;

/** The export target as it may appear in a log line: no credentials, no query (signed URLs, API keys). */
function shownTarget(target: string): string {
  if (!/^https?:/i.test(target)) return target;
  try {
    const u = new URL(target);
    if (u.username || u.password) u.username = u.password = 'REDACTED';
    u.search = '';
    return u.href;
  } catch {
    return '(invalid URL)';
  }
}

/** A span processor that batches sampled spans into one exporter. */
export class BatchProcessor implements SpanProcessor, EndProcessor {
  /** Ended spans not encoded yet. */
  private queue: ReadableSpan[] = [];
  /** Closed chunks of spans encoded ahead, oldest first, and how many spans they hold. */
  private chunks: Batch[] = [];
  private chunked = 0;
  /** The open chunk, when the exporter encodes ahead. */
  private readonly encoder: SpanEncoder | undefined;
  /** Spans per chunk when encoding ahead; 0 when the exporter cannot. */
  private readonly chunkSize: number;
  private readonly onImmediateBound = (): void => this.onImmediate();
  private readonly onTickBound = (): void => this.onTick();
  /** A full batch's export waits for a tick (see onEnd). */
  private exportSoon = false;
  /** The batch being exported: one export at a time. */
  private inFlight: Batch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private failing = false;
  private droppedSinceReport = 0;
  private lastDropReport = 0;
  private flushWaiters: Array<() => void> = [];
  private lastSummary = '0/0/0';
  private readonly target: string;
  private readonly reporter: NodeJS.Timeout;
  readonly stats: BatchStats = { exported: 0, dropped: 0, failed: 0 };

  /** `target` names the destination in log lines (redacted here); `reportIntervalMs` is for tests. */
  constructor(
    private readonly exporter: SpanExporterLike,
    private readonly settings: BatchSettings,
    target: string,
    reportIntervalMs = REPORT_INTERVAL_MS,
  ) {
    this.target = shownTarget(target);
    this.encoder = exporter.encoder !== undefined && exporter.exportEncoded !== undefined ? exporter.encoder() : undefined;
    this.chunkSize = this.encoder !== undefined ? Math.min(CHUNK, settings.maxExportBatchSize) : 0;
    // Drops that happen after the last report would otherwise wait for the next drop (or the exit) to be told.
    this.reporter = setInterval(() => {
      if (Date.now() - this.lastDropReport >= DROP_REPORT_INTERVAL_MS) this.reportDrops();
      this.reportSummary(false);
    }, reportIntervalMs).unref();
  }

  onStart(_span: Span, _parentContext: Context): void {}

  /** Spans queued, encoded or not (the in-flight batch excluded). */
  private get queued(): number {
    return this.queue.length + this.chunked + (this.encoder !== undefined ? this.encoder.count : 0);
  }

  onEnd(span: ReadableSpan): void {
    // Our spans carry their flags: their context (hex ids) is made only when something asks for it.
    const flags = (span as { traceFlags?: number }).traceFlags ?? span.spanContext().traceFlags;
    if ((flags & SAMPLED) === 0) return;
    if (this.queued >= this.settings.maxQueueSize) {
      this.drop(1);
      return;
    }
    if (this.encoder !== undefined) {
      const kind = span.kind;
      if (kind === SpanKind.SERVER || kind === SpanKind.CONSUMER) {
        // The end of a unit of work: its response is out (a server span ends at the response's
        // 'finish'). Encoding it now, after the spans that waited (its client spans), costs no
        // one any latency, and no span object survives a scavenge waiting for its turn.
        if (this.queue.length > 0) this.encodeQueued();
        this.encode(span);
        if (this.queued < this.settings.maxExportBatchSize) {
          this.schedule();
          return;
        }
        // A full batch: the export in flight starts the next one as it ends. Otherwise it starts
        // once the code that ended this span has returned, never in onEnd; on a tick, not an
        // Immediate: the app may make no Immediates, and a kind of async resource it does not
        // make costs each of its requests (see transport.ts).
        if (this.inFlight === undefined && !this.exportSoon) {
          this.exportSoon = true;
          process.nextTick(this.onTickBound);
        }
        return;
      } else {
        this.queue.push(span);
      }
      // Otherwise at the end of this turn of the loop, not here: a client span ends before its
      // request's response. The export of a full batch starts there too.
      if (this.immediate === undefined) this.immediate = setImmediate(this.onImmediateBound);
      return;
    }
    this.queue.push(span);
    const full = this.queued >= this.settings.maxExportBatchSize;
    if (full && this.inFlight === undefined) {
      if (this.immediate === undefined) this.immediate = setImmediate(this.onImmediateBound);
    } else if (!full) {
      this.schedule();
    }
  }

  private onTick(): void {
    this.exportSoon = false;
    if (this.inFlight === undefined) this.exportBatch();
  }

  private onImmediate(): void {
    this.immediate = undefined;
    this.encodeQueued();
    if (this.queued >= this.settings.maxExportBatchSize) {
      if (this.inFlight === undefined) this.exportBatch();
    } else {
      this.schedule();
    }
  }

  /** Encodes the queued spans into the open chunk. */
  private encodeQueued(): void {
    const queue = this.queue;
    if (this.encoder === undefined || queue.length === 0) return;
    // A new array: emptying this one (length = 0) is a call into the runtime, and shrinks it.
    this.queue = [];
    for (let i = 0; i < queue.length; i++) this.encode(queue[i]!);
  }

  /** Encodes `span` into the open chunk, closing it at {@link chunkSize} spans; a span that cannot be encoded is counted as failed. */
  private encode(span: ReadableSpan): void {
    const encoder = this.encoder!;
    try {
      encoder.add(span);
    } catch (err) {
      this.onResult(1, { code: ExportResultCode.FAILED, error: err as Error });
    }
    if (encoder.count >= this.chunkSize) this.closeChunk();
  }

  /** Moves the open chunk to the closed ones. */
  private closeChunk(): void {
    const encoder = this.encoder!;
    const n = encoder.count;
    if (n === 0) return;
    try {
      this.chunks.push({ count: n, body: encoder.take() });
      this.chunked += n;
    } catch (err) {
      encoder.clear();
      this.onResult(n, { code: ExportResultCode.FAILED, error: err as Error });
    }
  }

  /**
   * Takes the next batch: spans as objects, or, when the exporter encodes ahead, the closed
   * chunks in order, with the open one closed and taken after them when it fits the batch.
   */
  private takeBatch(): Batch | undefined {
    const max = this.settings.maxExportBatchSize;
    if (this.chunkSize === 0) {
      const spans = this.queue.length <= max ? this.queue : this.queue.slice(0, max);
      this.queue = spans === this.queue ? [] : this.queue.slice(spans.length);
      return { count: spans.length, spans };
    }
    this.encodeQueued();
    if (this.chunks.length === 0 || this.chunked + this.encoder!.count <= max) this.closeChunk();
    const parts: Uint8Array[] = [];
    let count = 0;
    while (this.chunks.length > 0 && count + this.chunks[0]!.count <= max) {
      const c = this.chunks.shift()!;
      parts.push(c.body!);
      count += c.count;
      this.chunked -= c.count;
    }
    if (count === 0) return undefined;
    // Protobuf messages concatenate: the request's resource_spans field is repeated.
    return { count, body: parts.length === 1 ? parts[0]! : Buffer.concat(parts) };
  }

  /**
   * Arms the schedule-delay timer, unless an export is in flight (its end
   * schedules the next one). One export at a time: a collector that hangs must
   * not gather one pending request per schedule delay, with its spans and
   * encoded body, beyond the queue cap.
   */
  private schedule(): void {
    if (this.timer !== undefined || this.inFlight !== undefined || this.queued === 0) return;
    // Armed in the root context: a timer keeps the context it was made in (here, that of the app
    // code that ended a span, with whatever the app keeps in it) until it fires.
    this.timer = context.with(ROOT_CONTEXT, () =>
      setTimeout(() => {
        this.timer = undefined;
        this.exportBatch();
      }, this.settings.scheduleDelayMs),
    );
    // Never keep the app alive just to export.
    this.timer.unref();
  }

  private drop(n: number): void {
    this.stats.dropped += n;
    this.droppedSinceReport += n;
    if (Date.now() - this.lastDropReport >= DROP_REPORT_INTERVAL_MS) this.reportDrops();
  }

  /** Says how many spans were dropped since the last report (rate-limited by the caller). */
  reportDrops(): void {
    if (this.droppedSinceReport === 0) return;
    log.warn(
      `export queue full (OTEL_BSP_MAX_QUEUE_SIZE=${this.settings.maxQueueSize}): ${this.droppedSinceReport} span(s) dropped since the last report, ${this.stats.dropped} in all`,
    );
    this.lastDropReport = Date.now();
    this.droppedSinceReport = 0;
  }

  /** Exports up to one batch from the queue; chains the next one when the queue is still full. */
  private exportBatch(): void {
    if (this.inFlight !== undefined) return;
    const batch = this.queued === 0 ? undefined : this.takeBatch();
    if (batch === undefined) {
      this.settle();
      return;
    }
    this.inFlight = batch;
    let finished = false;
    let deadline: NodeJS.Timeout | undefined;
    const done = (result: ExportResult) => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      if (this.inFlight === batch) this.inFlight = undefined;
      this.onResult(batch.count, result);
      if (this.queued >= this.settings.maxExportBatchSize || (this.flushWaiters.length > 0 && this.queued > 0)) {
        this.exportBatch();
      } else {
        this.schedule();
        this.settle();
      }
    };
    // The exporter's own HTTP requests must never be traced. And what the export makes (its deadline,
    // the transport's sockets and timers) is made outside the context of the code that ended a span
    // (an export can start on a tick or an Immediate of that code): a timer keeps the context it
    // was made in, and the app's data with it, until it fires or is cleared.
    context.with(suppressTracing(ROOT_CONTEXT), () => {
      deadline = setTimeout(
        () => done({ code: ExportResultCode.FAILED, error: new Error(`export timed out after ${this.settings.exportTimeoutMs} ms`) }),
        this.settings.exportTimeoutMs,
      );
      deadline.unref();
      try {
        if (batch.body !== undefined) this.exporter.exportEncoded!(batch.body, done);
        else this.exporter.export(batch.spans!, done);
      } catch (err) {
        done({ code: ExportResultCode.FAILED, error: err as Error });
      }
    });
  }

  private onResult(n: number, result: ExportResult): void {
    if (result.code === ExportResultCode.SUCCESS) {
      this.stats.exported += n;
      if (this.failing) {
        this.failing = false;
        log.warn(`exporting spans to ${this.target} works again`);
      }
    } else {
      this.stats.failed += n;
      if (!this.failing) {
        this.failing = true;
        log.warn(
          `cannot export spans to ${this.target} (${result.error?.message ?? 'unknown error'}); spans are dropped until it answers again`,
        );
      }
    }
  }

  /**
   * At `debug`: spans exported, dropped and failed so far. Periodic calls print
   * only when a count changed; `final` (at exit) always prints.
   */
  reportSummary(final: boolean): void {
    if (!logEnabled('debug')) return;
    const { exported, dropped, failed } = this.stats;
    const counts = `${exported}/${dropped}/${failed}`;
    if (!final && counts === this.lastSummary) return;
    this.lastSummary = counts;
    log.debug(`spans to ${this.target}${final ? ' (at exit)' : ''}: exported ${exported}, dropped ${dropped}, failed ${failed}`);
  }

  private settle(): void {
    if (this.queued === 0 && this.inFlight === undefined && this.flushWaiters.length > 0) {
      const waiters = this.flushWaiters;
      this.flushWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** True when spans are queued or being exported. */
  get pending(): boolean {
    return this.queued > 0 || this.inFlight !== undefined;
  }

  /**
   * Gives up on everything queued or in flight (the process is about to die
   * by a signal): counts it as failed and returns how many spans that is.
   */
  abandon(): number {
    const n = this.queued + (this.inFlight?.count ?? 0);
    this.queue = [];
    this.chunks = [];
    this.chunked = 0;
    this.encoder?.clear();
    this.inFlight = undefined;
    this.stats.failed += n;
    return n;
  }

  /** Exports everything queued; resolves when all exports (including in-flight ones) settled. */
  forceFlush(): Promise<void> {
    if (!this.pending) return Promise.resolve();
    return new Promise((resolve) => {
      this.flushWaiters.push(resolve);
      if (this.timer !== undefined) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      if (this.inFlight === undefined) this.exportBatch();
    });
  }

  /**
   * Last chance at process exit, when nothing asynchronous can run: sends the
   * queued spans and the in-flight ones (whose requests die with the process)
   * synchronously. Returns the number of spans it could not send.
   */
  flushSync(timeoutMs: number): number {
    const inFlight = this.inFlight;
    this.inFlight = undefined;
    // Spans that cannot be encoded are counted as failed here, and not again below.
    this.encodeQueued();
    const n = this.queued + (inFlight?.count ?? 0);
    if (n === 0) return 0;
    // A receiver that is already failing would only make the exit wait for nothing.
    let ok = false;
    try {
      if (!this.failing) ok = this.chunkSize > 0 ? this.sendAllEncoded(inFlight, timeoutMs) : this.sendAllSpans(inFlight, timeoutMs);
    } catch {
      // An encoding or spawn error at exit must not turn into an exception in the app's exit.
    }
    this.queue = [];
    this.chunks = [];
    this.chunked = 0;
    this.encoder?.clear();
    if (ok) this.stats.exported += n;
    else this.stats.failed += n;
    return ok ? 0 : n;
  }

  private sendAllSpans(inFlight: Batch | undefined, timeoutMs: number): boolean {
    const spans = (inFlight?.spans ?? []).concat(this.queue);
    return this.exporter.exportSync?.(spans, timeoutMs) ?? false;
  }

  private sendAllEncoded(inFlight: Batch | undefined, timeoutMs: number): boolean {
    const parts: Uint8Array[] = [];
    if (inFlight?.body !== undefined) parts.push(inFlight.body);
    for (const c of this.chunks) parts.push(c.body!);
    const open = this.encoder!.take();
    if (open !== undefined) parts.push(open);
    return this.exporter.exportEncodedSync?.(Buffer.concat(parts), timeoutMs) ?? false;
  }

  async shutdown(): Promise<void> {
    clearInterval(this.reporter);
    await this.forceFlush();
    await this.exporter.shutdown();
  }
}
