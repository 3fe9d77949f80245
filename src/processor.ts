/**
 * The batch span processor: a bounded queue drained in batches by a timer or
 * when a batch is full. Memory is capped whatever the collector does: spans
 * beyond the cap are dropped and counted. Export failures are reported once
 * when they start and once when exports work again, never per batch; drops at
 * most once a minute; at `debug`, a summary of spans exported, dropped and
 * failed once a minute (when it changed) and at exit.
 */
import { context, ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import { ExportResultCode, suppressTracing, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SpanExporterLike } from './exporter';
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
  private queue: ReadableSpan[] = [];
  /** The batch being exported: one export at a time. */
  private inFlight: ReadableSpan[] | undefined;
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
    // Drops that happen after the last report would otherwise wait for the next drop (or the exit) to be told.
    this.reporter = setInterval(() => {
      if (Date.now() - this.lastDropReport >= DROP_REPORT_INTERVAL_MS) this.reportDrops();
      this.reportSummary(false);
    }, reportIntervalMs).unref();
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & SAMPLED) === 0) return;
    if (this.queue.length >= this.settings.maxQueueSize) {
      this.drop(1);
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.settings.maxExportBatchSize) {
      // Export soon, but not here: onEnd runs on the app's request path (a response's 'finish').
      if (this.inFlight === undefined && this.immediate === undefined) {
        this.immediate = setImmediate(() => {
          this.immediate = undefined;
          this.exportBatch();
        });
      }
    } else {
      this.schedule();
    }
  }

  /**
   * Arms the schedule-delay timer, unless an export is in flight (its end
   * schedules the next one). One export at a time: a collector that hangs must
   * not gather one pending request per schedule delay, with its spans and
   * encoded body, beyond the queue cap.
   */
  private schedule(): void {
    if (this.timer !== undefined || this.inFlight !== undefined || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.exportBatch();
    }, this.settings.scheduleDelayMs);
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
    if (this.queue.length === 0) {
      this.settle();
      return;
    }
    if (this.inFlight !== undefined) return;
    const batch = this.queue.length <= this.settings.maxExportBatchSize ? this.queue : this.queue.slice(0, this.settings.maxExportBatchSize);
    this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
    this.inFlight = batch;
    let finished = false;
    const done = (result: ExportResult) => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      if (this.inFlight === batch) this.inFlight = undefined;
      this.onResult(batch.length, result);
      if (this.queue.length >= this.settings.maxExportBatchSize || (this.flushWaiters.length > 0 && this.queue.length > 0)) {
        this.exportBatch();
      } else {
        this.schedule();
        this.settle();
      }
    };
    const deadline = setTimeout(
      () => done({ code: ExportResultCode.FAILED, error: new Error(`export timed out after ${this.settings.exportTimeoutMs} ms`) }),
      this.settings.exportTimeoutMs,
    );
    deadline.unref();
    // The exporter's own HTTP requests must never be traced.
    context.with(suppressTracing(ROOT_CONTEXT), () => {
      try {
        this.exporter.export(batch, done);
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
    if (this.queue.length === 0 && this.inFlight === undefined && this.flushWaiters.length > 0) {
      const waiters = this.flushWaiters;
      this.flushWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** True when spans are queued or being exported. */
  get pending(): boolean {
    return this.queue.length > 0 || this.inFlight !== undefined;
  }

  /**
   * Gives up on everything queued or in flight (the process is about to die
   * by a signal): counts it as failed and returns how many spans that is.
   */
  abandon(): number {
    const n = this.queue.length + (this.inFlight?.length ?? 0);
    this.queue = [];
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
    const spans = (this.inFlight ?? []).concat(this.queue);
    this.queue = [];
    this.inFlight = undefined;
    if (spans.length === 0) return 0;
    // A receiver that is already failing would only make the exit wait for nothing.
    let ok = false;
    try {
      ok = !this.failing && (this.exporter.exportSync?.(spans, timeoutMs) ?? false);
    } catch {
      // An encoding or spawn error at exit must not turn into an exception in the app's exit.
    }
    if (ok) this.stats.exported += spans.length;
    else this.stats.failed += spans.length;
    return ok ? 0 : spans.length;
  }

  async shutdown(): Promise<void> {
    clearInterval(this.reporter);
    await this.forceFlush();
    await this.exporter.shutdown();
  }
}
