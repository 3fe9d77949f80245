/**
 * Flush on the way out, then behave exactly as the app would have without
 * the agent: natural exit, `process.exit()`, SIGTERM/SIGINT, uncaught
 * exceptions. Every wait is bounded by the shutdown deadline.
 */
import { trace } from '@opentelemetry/api';
import { log } from './logger';
import type { BatchProcessor } from './processor';
import { recordError } from './spans';

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** Flushes all processors, resolving after at most `timeoutMs`. */
function flushWithin(processors: readonly BatchProcessor[], timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    Promise.all(processors.map((p) => p.forceFlush().catch(() => undefined))).then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Installs the exit, signal and uncaught-exception handlers. */
export function installShutdown(processors: readonly BatchProcessor[], timeoutMs: number): void {
  if (processors.length === 0) return;
  // One deadline for the whole way out, whichever path starts it.
  let deadline: number | undefined;
  const remaining = () => {
    deadline ??= Date.now() + timeoutMs;
    return Math.max(0, deadline - Date.now());
  };
  let flushing = false;

  // Natural exit: the loop is empty, so an async flush can still run (and keeps the loop alive while it does),
  // for queued spans and for exports in flight (their sockets do not hold the loop: waiting here is what
  // lets them finish instead of being sent again at exit). Once the deadline has passed, the exit flush
  // takes over; otherwise a receiver that never answers would bring us back here forever.
  process.on('beforeExit', () => {
    if (flushing || !processors.some((p) => p.pending) || remaining() === 0) return;
    flushing = true;
    void flushWithin(processors, remaining()).then(() => {
      flushing = false;
      // Everything went out: if the app's own beforeExit work keeps it running, its next exit gets a full deadline.
      if (!processors.some((p) => p.pending)) deadline = undefined;
    });
  });

  // process.exit() and fatal errors: nothing async runs any more, so send what is left synchronously.
  process.on('exit', () => {
    for (const p of processors) {
      try {
        p.reportDrops();
        const lost = p.flushSync(remaining());
        if (lost > 0) log.warn(`${lost} span(s) could not be exported before exit`);
        p.reportSummary(true);
      } catch {
        // A throw here would replace the app's exit code: telemetry is what we give up.
      }
    }
  });

  // Signals: flush, then die by the same signal unless the app has its own handler.
  let dying = false;
  const onSignal = (signal: NodeJS.Signals) => {
    const appHandles = process.listenerCount(signal) > 1;
    if (dying && !appHandles) {
      // A second signal during the flush: stop waiting.
      die(signal);
      return;
    }
    dying = !appHandles;
    void flushWithin(processors, remaining()).then(() => {
      if (!appHandles && process.listenerCount(signal) === 1) die(signal);
    });
  };
  const die = (signal: NodeJS.Signals) => {
    for (const p of processors) {
      p.reportDrops();
      // Said as on the other ways out: what the deadline left behind is lost, not silently.
      const lost = p.abandon();
      if (lost > 0) log.warn(`${lost} span(s) could not be exported before exit`);
      p.reportSummary(true);
    }
    process.removeListener(signal, onSignal);
    process.kill(process.pid, signal);
  };
  for (const s of SIGNALS) process.on(s, onSignal);

  // An uncaught exception: record it where it surfaced; if it is fatal, end that span so the exit flush sends it.
  process.on('uncaughtExceptionMonitor', (err) => {
    try {
      const span = trace.getActiveSpan();
      if (span === undefined || !span.isRecording()) return;
      recordError(span, err);
      if (process.listenerCount('uncaughtException') === 0) span.end();
    } catch {
      // never interfere with the app's own failure
    }
  });
}
