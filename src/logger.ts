/**
 * The agent's own diagnostics: one line per message on stderr, prefixed so a
 * user can grep for it. Writing never throws into the caller.
 */

/** Accepted values of `OTEL_LOG_LEVEL`, least to most verbose. */
export const LOG_LEVELS = ['none', 'error', 'warn', 'info', 'debug', 'verbose', 'all'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const PREFIX = '[@acme/otel-agent] ';
let threshold = LOG_LEVELS.indexOf('warn');
const said = new Set<string>();

/** Sets the most verbose level that is still printed. */
export function setLogLevel(level: LogLevel): void {
  threshold = LOG_LEVELS.indexOf(level);
}

/** True when a message at `level` would be printed: guard costly messages with it. */
export function logEnabled(level: Exclude<LogLevel, 'none' | 'all'>): boolean {
  return LOG_LEVELS.indexOf(level) <= threshold;
}

function write(level: Exclude<LogLevel, 'none' | 'all'>, message: string): void {
  if (!logEnabled(level)) return;
  // One line per message, whatever the message holds (error texts may span lines).
  const nl = message.indexOf('\n');
  const line = nl === -1 ? message : message.slice(0, nl);
  try {
    process.stderr.write(`${PREFIX}${level}: ${line}\n`);
  } catch {
    // stderr closed or broken: there is nowhere left to report to.
  }
}

/** Leveled log lines; `once` variants print a given key at most once per process. */
export const log = {
  error: (message: string): void => write('error', message),
  warn: (message: string): void => write('warn', message),
  info: (message: string): void => write('info', message),
  debug: (message: string): void => write('debug', message),
  verbose: (message: string): void => write('verbose', message),
  /** Prints `message` at `level` the first time `key` is seen, then never again. */
  once(level: 'error' | 'warn' | 'info' | 'debug', key: string, message: string): void {
    if (said.has(key)) return;
    said.add(key);
    write(level, message);
  },
};
