/**
 * `OTEL_*` environment → typed, frozen configuration. This is the only module
 * that reads settings from the environment, and it never throws: a bad value
 * yields one warning (naming the variable, the value and the default used)
 * and the default.
 */
import { LOG_LEVELS, type LogLevel } from './logger';

/** Names accepted in `OTEL_NODE_ENABLED_INSTRUMENTATIONS` / `..._DISABLED_...`. */
export const INSTRUMENTATION_NAMES = ['http', 'fetch', 'express', 'fastify', 'pg'] as const;
export type InstrumentationName = (typeof INSTRUMENTATION_NAMES)[number];

export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';
const SAMPLERS: readonly SamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];
export type PropagatorName = 'tracecontext' | 'baggage' | 'b3' | 'b3multi';
const PROPAGATORS: readonly string[] = ['tracecontext', 'baggage', 'b3', 'b3multi', 'none'];
export type ExporterName = 'otlp' | 'console';
const COMPRESSIONS = ['gzip', 'none'] as const;

/** Which semantic-convention attribute names to emit, per domain. */
export interface SemconvMode {
  /** Emit the old names (`http.method`, `db.statement`, ...). */
  readonly old: boolean;
  /** Emit the stable names (`http.request.method`, `db.query.text`, ...). */
  readonly stable: boolean;
}

/** Headers to record on HTTP spans, lower-cased. */
export interface CaptureHeaders {
  readonly serverRequest: readonly string[];
  readonly serverResponse: readonly string[];
  readonly clientRequest: readonly string[];
  readonly clientResponse: readonly string[];
  /** Header names whose captured values are replaced by `[REDACTED]`. */
  readonly sanitize: readonly RegExp[];
}

/** The agent's configuration, derived from the environment only. */
export interface AgentConfig {
  readonly disabled: boolean;
  /** From `OTEL_SERVICE_NAME` (or `service.name` in the resource attributes); unset means "discover". */
  readonly serviceName: string | undefined;
  readonly resourceAttributes: Readonly<Record<string, string>>;
  readonly exporters: readonly ExporterName[];
  readonly otlp: {
    readonly url: string;
    readonly protocol: 'http/protobuf' | 'http/json';
    readonly headers: Readonly<Record<string, string>>;
    readonly timeoutMs: number;
    readonly compression: 'gzip' | 'none';
  };
  readonly sampler: { readonly name: SamplerName; readonly ratio: number };
  readonly propagators: readonly PropagatorName[];
  readonly bsp: {
    readonly scheduleDelayMs: number;
    readonly exportTimeoutMs: number;
    readonly maxQueueSize: number;
    readonly maxExportBatchSize: number;
  };
  readonly spanLimits: {
    readonly attributeValueLengthLimit: number;
    readonly attributeCountLimit: number;
    readonly eventCountLimit: number;
    readonly linkCountLimit: number;
    readonly attributePerEventCountLimit: number;
    readonly attributePerLinkCountLimit: number;
  };
  readonly logLevel: LogLevel;
  readonly instrumentations: ReadonlySet<InstrumentationName>;
  readonly semconv: { readonly http: SemconvMode; readonly db: SemconvMode };
  readonly http: {
    /** Incoming request URL paths matching one of these get no span. */
    readonly excludedUrls: readonly RegExp[];
    readonly captureHeaders: CaptureHeaders;
  };
  /** INTERNAL spans for framework middleware, hooks and handlers. */
  readonly internalSpans: boolean;
  readonly db: { readonly statement: 'sanitized' | 'raw' | 'off'; readonly sqlcommenter: boolean };
  readonly shutdownTimeoutMs: number;
}

/** The result of reading the environment: the configuration and what was wrong with it. */
export interface ConfigResult {
  readonly config: AgentConfig;
  /** One line per bad value, ready to print. */
  readonly warnings: readonly string[];
}

type Env = Readonly<Record<string, string | undefined>>;

const ALWAYS_SANITIZED = ['authorization', 'cookie', 'set-cookie', 'proxy-authorization'];

/**
 * Reads the agent's configuration from `env` (normally `process.env`).
 * Pure: the same env gives the same result, and nothing is printed.
 */
export function readConfig(env: Env): ConfigResult {
  const warnings: string[] = [];
  const r = new Reader(env, warnings);

  const resourceAttributes = r.keyValues('OTEL_RESOURCE_ATTRIBUTES');
  const serviceName = r.str('OTEL_SERVICE_NAME') ?? resourceAttributes['service.name'];

  const exporters = r.list('OTEL_TRACES_EXPORTER', ['otlp', 'console', 'none'], ['otlp']);
  for (const signal of ['OTEL_METRICS_EXPORTER', 'OTEL_LOGS_EXPORTER']) {
    const v = r.str(signal);
    if (v !== undefined && v.toLowerCase() !== 'none') {
      warnings.push(`${signal}=${quote(v)}: this agent exports traces only; ${signal} is ignored.`);
    }
  }

  const protocol = r.protocol();
  const timeoutMs = r.int('OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', undefined, 1) ?? r.int('OTEL_EXPORTER_OTLP_TIMEOUT', 10000, 1)!;
  const compression =
    r.oneOf('OTEL_EXPORTER_OTLP_TRACES_COMPRESSION', COMPRESSIONS, undefined) ??
    r.oneOf('OTEL_EXPORTER_OTLP_COMPRESSION', COMPRESSIONS, 'none');

  const samplerName = r.oneOf('OTEL_TRACES_SAMPLER', SAMPLERS, 'parentbased_always_on')!;
  let ratio = 1;
  if (samplerName.endsWith('traceidratio')) {
    ratio = r.num('OTEL_TRACES_SAMPLER_ARG', 1, 0, 1);
  }

  const propagatorList = r.list('OTEL_PROPAGATORS', PROPAGATORS, ['tracecontext', 'baggage']);
  const propagators = propagatorList.filter((p): p is PropagatorName => p !== 'none');

  const maxQueueSize = r.int('OTEL_BSP_MAX_QUEUE_SIZE', 2048, 1)!;
  let maxExportBatchSize = r.int('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512, 1)!;
  if (maxExportBatchSize > maxQueueSize) {
    warnings.push(
      `OTEL_BSP_MAX_EXPORT_BATCH_SIZE=${maxExportBatchSize} is larger than OTEL_BSP_MAX_QUEUE_SIZE=${maxQueueSize}; using ${maxQueueSize}.`,
    );
    maxExportBatchSize = maxQueueSize;
  }

  const lengthSetting =
    r.int('OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', undefined, 0) ?? r.int('OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', Infinity, 0)!;
  // 0 cuts nothing, as in the OpenTelemetry JS SDK (which ignores limits of 0 or less).
  const valueLength = lengthSetting === 0 ? Infinity : lengthSetting;
  const attributeCount =
    r.int('OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', undefined, 0) ?? r.int('OTEL_ATTRIBUTE_COUNT_LIMIT', 128, 0)!;

  const config: AgentConfig = {
    disabled: r.bool('OTEL_SDK_DISABLED', false),
    serviceName,
    resourceAttributes,
    exporters: exporters.filter((e): e is ExporterName => e !== 'none'),
    otlp: {
      url: r.endpoint(protocol.fellBackFromGrpc),
      protocol: protocol.value,
      headers: { ...r.keyValues('OTEL_EXPORTER_OTLP_HEADERS'), ...r.keyValues('OTEL_EXPORTER_OTLP_TRACES_HEADERS') },
      timeoutMs,
      compression,
    },
    sampler: { name: samplerName, ratio },
    propagators,
    bsp: {
      scheduleDelayMs: r.int('OTEL_BSP_SCHEDULE_DELAY', 5000, 0)!,
      exportTimeoutMs: r.int('OTEL_BSP_EXPORT_TIMEOUT', 30000, 1)!,
      maxQueueSize,
      maxExportBatchSize,
    },
    spanLimits: {
      attributeValueLengthLimit: valueLength,
      attributeCountLimit: attributeCount,
      eventCountLimit: r.int('OTEL_SPAN_EVENT_COUNT_LIMIT', 128, 0)!,
      linkCountLimit: r.int('OTEL_SPAN_LINK_COUNT_LIMIT', 128, 0)!,
      attributePerEventCountLimit: r.int('OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT', 128, 0)!,
      attributePerLinkCountLimit: r.int('OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT', 128, 0)!,
    },
    logLevel: r.oneOf('OTEL_LOG_LEVEL', LOG_LEVELS, 'warn')!,
    instrumentations: r.instrumentations(),
    semconv: r.semconv(),
    http: {
      excludedUrls: r.regexps('OTEL_NODE_EXCLUDED_URLS'),
      captureHeaders: {
        serverRequest: r.names('OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST'),
        serverResponse: r.names('OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE'),
        clientRequest: r.names('OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST'),
        clientResponse: r.names('OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE'),
        sanitize: [
          ...ALWAYS_SANITIZED.map((h) => new RegExp(`^${h}$`, 'i')),
          ...r.regexps('OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS', true),
        ],
      },
    },
    internalSpans: r.bool('OTEL_NODE_INTERNAL_SPANS', false),
    db: {
      statement: r.oneOf('OTEL_NODE_DB_STATEMENT', ['sanitized', 'raw', 'off'] as const, 'sanitized')!,
      sqlcommenter: r.bool('OTEL_NODE_DB_SQLCOMMENTER', false),
    },
    shutdownTimeoutMs: r.int('OTEL_NODE_SHUTDOWN_TIMEOUT', 5000, 0)!,
  };
  return { config: deepFreeze(config), warnings };
}

/** Parsers for each kind of value; each records a warning and returns the default on bad input. */
class Reader {
  constructor(
    private readonly env: Env,
    private readonly warnings: string[],
  ) {}

  /** The trimmed value, or undefined when unset or blank. */
  str(name: string): string | undefined {
    const v = this.env[name];
    if (typeof v !== 'string') return undefined;
    const t = v.trim();
    return t === '' ? undefined : t;
  }

  private bad(name: string, value: string, fallback: unknown, why = ''): void {
    this.warnings.push(`${name}=${quote(value)} is not valid${why ? ` (${why})` : ''}; using ${String(fallback)}.`);
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.str(name);
    if (v === undefined) return fallback;
    const l = v.toLowerCase();
    if (l === 'true') return true;
    if (l === 'false') return false;
    this.bad(name, v, fallback, 'expected true or false');
    return fallback;
  }

  int<T extends number | undefined>(name: string, fallback: T, min: number): number | T {
    const v = this.str(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^[+]?\d+(\.\d+)?$/.test(v) || !Number.isFinite(n) || n < min || n > 2 ** 31) {
      this.bad(name, v, fallback === undefined ? 'the default' : fallback, `expected a whole number from ${min} to ${2 ** 31}`);
      return fallback;
    }
    return Math.floor(n);
  }

  num(name: string, fallback: number, min: number, max: number): number {
    const v = this.str(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) {
      this.bad(name, v, fallback, `expected a number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  }

  oneOf<T extends string, D extends T | undefined>(name: string, allowed: readonly T[], fallback: D): T | D {
    const v = this.str(name);
    if (v === undefined) return fallback;
    const l = v.toLowerCase() as T;
    if (allowed.includes(l)) return l;
    this.bad(name, v, fallback ?? 'the default', `expected one of ${allowed.join(', ')}`);
    return fallback;
  }

  /** A comma list of known words; unknown words are dropped with a warning. */
  list(name: string, allowed: readonly string[], fallback: string[]): string[] {
    const v = this.str(name);
    if (v === undefined) return fallback;
    const out: string[] = [];
    for (const raw of v.split(',')) {
      const w = raw.trim().toLowerCase();
      if (w === '') continue;
      if (!allowed.includes(w)) {
        this.warnings.push(`${name}: unknown value ${quote(w)} ignored; valid values: ${allowed.join(', ')}.`);
        continue;
      }
      if (!out.includes(w)) out.push(w);
    }
    if (out.length === 0) {
      this.bad(name, v, fallback.join(','));
      return fallback;
    }
    return out;
  }

  /** Lower-cased comma list of names (header names). */
  names(name: string): string[] {
    const v = this.str(name);
    if (v === undefined) return [];
    return v
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== '');
  }

  /** Comma list of regular expressions; an invalid one is skipped with a warning. */
  regexps(name: string, wholeName = false): RegExp[] {
    const v = this.str(name);
    if (v === undefined) return [];
    const out: RegExp[] = [];
    for (const raw of v.split(',')) {
      const s = raw.trim();
      if (s === '') continue;
      try {
        out.push(wholeName ? new RegExp(`^(?:${s})$`, 'i') : new RegExp(s));
      } catch {
        this.warnings.push(`${name}: ${quote(s)} is not a valid regular expression; skipped.`);
      }
    }
    return out;
  }

  /** `k=v,k2=v2` with percent-decoded keys and values; malformed entries are skipped with a warning. */
  keyValues(name: string): Record<string, string> {
    const out: Record<string, string> = {};
    const v = this.str(name);
    if (v === undefined) return out;
    for (const entry of v.split(',')) {
      if (entry.trim() === '') continue;
      const eq = entry.indexOf('=');
      let key: string | undefined;
      let value: string | undefined;
      if (eq > 0) {
        try {
          key = decodeURIComponent(entry.slice(0, eq).trim());
          value = decodeURIComponent(entry.slice(eq + 1).trim());
        } catch {
          key = undefined;
        }
      }
      if (!key) {
        // Never echo the value: header entries may hold API keys.
        this.warnings.push(`${name}: malformed entry ${quote(entry.slice(0, Math.max(eq, 0)) || '(no key)')} skipped; expected key=value.`);
        continue;
      }
      out[key] = value ?? '';
    }
    return out;
  }

  protocol(): { value: 'http/protobuf' | 'http/json'; fellBackFromGrpc: boolean } {
    const name = this.str('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
    const v = this.str(name);
    if (v === undefined) return { value: 'http/protobuf', fellBackFromGrpc: false };
    const l = v.toLowerCase();
    if (l === 'http/protobuf' || l === 'http/json') return { value: l, fellBackFromGrpc: false };
    if (l === 'grpc') {
      this.warnings.push(
        `${name}=grpc is not supported by this agent; exporting http/protobuf to port 4318 of the same host instead. Set ${name}=http/protobuf and an endpoint on port 4318 to silence this.`,
      );
      return { value: 'http/protobuf', fellBackFromGrpc: true };
    }
    this.bad(name, v, 'http/protobuf', 'expected http/protobuf or http/json');
    return { value: 'http/protobuf', fellBackFromGrpc: false };
  }

  /** The traces URL: the signal variable as is, else the generic base + `/v1/traces`. */
  endpoint(grpcFallback: boolean): string {
    const fallback = 'http://localhost:4318/v1/traces';
    let url: URL | undefined;
    const specific = this.str('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
    if (specific !== undefined) {
      url = this.url('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', specific);
    }
    if (url === undefined) {
      const base = this.str('OTEL_EXPORTER_OTLP_ENDPOINT');
      const parsed = base === undefined ? undefined : this.url('OTEL_EXPORTER_OTLP_ENDPOINT', base);
      if (parsed !== undefined) {
        parsed.pathname = parsed.pathname.replace(/\/+$/, '') + '/v1/traces';
        url = parsed;
      }
    }
    if (url === undefined) return fallback;
    if (grpcFallback) url.port = '4318';
    return url.href;
  }

  private url(name: string, value: string): URL | undefined {
    try {
      const u = new URL(value);
      if (u.protocol === 'http:' || u.protocol === 'https:') return u;
    } catch {
      // fall through to the warning
    }
    this.bad(name, value, 'http://localhost:4318/v1/traces', 'expected an http:// or https:// URL');
    return undefined;
  }

  instrumentations(): Set<InstrumentationName> {
    const all = INSTRUMENTATION_NAMES as readonly string[];
    const pick = (name: string): string[] | undefined => {
      const v = this.str(name);
      if (v === undefined) return undefined;
      const out: string[] = [];
      for (const raw of v.split(',')) {
        const w = raw.trim().toLowerCase();
        if (w === '') continue;
        if (all.includes(w)) out.push(w);
        else this.warnings.push(`${name}: unknown instrumentation ${quote(w)} ignored; valid names: ${all.join(', ')}.`);
      }
      return out;
    };
    let enabled = pick('OTEL_NODE_ENABLED_INSTRUMENTATIONS') ?? all;
    if (enabled.length === 0) {
      // Only unknown names (a typo): the default, rather than silently tracing nothing.
      this.warnings.push(`OTEL_NODE_ENABLED_INSTRUMENTATIONS names no known instrumentation; enabling all (${all.join(', ')}).`);
      enabled = all;
    }
    const disabled = pick('OTEL_NODE_DISABLED_INSTRUMENTATIONS') ?? [];
    return new Set(enabled.filter((n) => !disabled.includes(n)) as InstrumentationName[]);
  }

  semconv(): { http: SemconvMode; db: SemconvMode } {
    const words = new Set(this.names('OTEL_SEMCONV_STABILITY_OPT_IN'));
    const known = ['http', 'http/dup', 'database', 'database/dup'];
    for (const w of words) {
      if (!known.includes(w)) {
        this.warnings.push(`OTEL_SEMCONV_STABILITY_OPT_IN: unknown value ${quote(w)} ignored; valid values: ${known.join(', ')}.`);
      }
    }
    const mode = (domain: string): SemconvMode => {
      // Per the spec, `/dup` wins when both forms are given.
      if (words.has(`${domain}/dup`)) return { old: true, stable: true };
      if (words.has(domain)) return { old: false, stable: true };
      return { old: true, stable: false };
    };
    return { http: mode('http'), db: mode('database') };
  }
}

/** A value as shown in a warning: quoted, and cut so that a warning stays one short line. */
function quote(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !(o instanceof RegExp) && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}
