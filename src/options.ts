/**
 * The one table of settings: every environment variable the agent reads, the
 * `otel-instrument` flag that sets it, its default and what it accepts.
 * `config.ts` parses these variables, `cli.ts` maps flags onto them and the
 * README's configuration reference is checked against this table by a test.
 */

/** One supported setting. */
export interface OptionSpec {
  /** The environment variable, e.g. `OTEL_SERVICE_NAME`. */
  readonly env: string;
  /** Default as shown to users; empty when there is none. */
  readonly default: string;
  /** Accepted values, as shown to users. */
  readonly values: string;
  /** One sentence on what it does. */
  readonly description: string;
}

/** All settings, in the order the README and `--help` list them. */
export const OPTIONS: readonly OptionSpec[] = [
  { env: 'OTEL_SDK_DISABLED', default: 'false', values: 'true, false', description: 'Disable the agent entirely: nothing is patched and no SDK is started.' },
  { env: 'OTEL_SERVICE_NAME', default: 'name in the nearest package.json, else unknown_service:node', values: 'string', description: 'The service.name resource attribute.' },
  { env: 'OTEL_RESOURCE_ATTRIBUTES', default: '', values: 'k=v,k2=v2 (percent-encoded values)', description: 'Extra resource attributes.' },
  { env: 'OTEL_TRACES_EXPORTER', default: 'otlp', values: 'otlp, console, none, or a comma list', description: 'Where spans go; console prints each trace as a tree on stdout.' },
  { env: 'OTEL_METRICS_EXPORTER', default: 'none', values: 'none (others accepted, with a notice)', description: 'Accepted for compatibility; the agent exports traces only.' },
  { env: 'OTEL_LOGS_EXPORTER', default: 'none', values: 'none (others accepted, with a notice)', description: 'Accepted for compatibility; the agent exports traces only.' },
  { env: 'OTEL_EXPORTER_OTLP_ENDPOINT', default: 'http://localhost:4318', values: 'URL', description: 'Base URL of the OTLP receiver; /v1/traces is appended.' },
  { env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', default: '', values: 'URL', description: 'Full URL for traces, used as is (wins over OTEL_EXPORTER_OTLP_ENDPOINT).' },
  { env: 'OTEL_EXPORTER_OTLP_PROTOCOL', default: 'http/protobuf', values: 'http/protobuf, http/json (grpc falls back to http/protobuf on port 4318)', description: 'OTLP transport encoding.' },
  { env: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', default: '', values: 'as OTEL_EXPORTER_OTLP_PROTOCOL', description: 'OTLP encoding for traces (wins over the generic one).' },
  { env: 'OTEL_EXPORTER_OTLP_HEADERS', default: '', values: 'k=v,k2=v2 (percent-encoded values)', description: 'Headers sent with every export request (API keys); never logged.' },
  { env: 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', default: '', values: 'k=v,k2=v2', description: 'Headers for trace exports, merged over the generic ones.' },
  { env: 'OTEL_EXPORTER_OTLP_TIMEOUT', default: '10000', values: 'milliseconds', description: 'Timeout of one export request, retries included.' },
  { env: 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', default: '', values: 'milliseconds', description: 'Export timeout for traces (wins over the generic one).' },
  { env: 'OTEL_EXPORTER_OTLP_COMPRESSION', default: 'none', values: 'gzip, none', description: 'Compression of export request bodies.' },
  { env: 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION', default: '', values: 'gzip, none', description: 'Compression for trace exports (wins over the generic one).' },
  { env: 'OTEL_TRACES_SAMPLER', default: 'parentbased_always_on', values: 'always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio', description: 'Which traces are recorded.' },
  { env: 'OTEL_TRACES_SAMPLER_ARG', default: '1.0', values: 'number in [0, 1]', description: 'The ratio for the traceidratio samplers.' },
  { env: 'OTEL_PROPAGATORS', default: 'tracecontext,baggage', values: 'tracecontext, baggage, b3, b3multi, none (comma list)', description: 'Context propagation formats, injected and extracted in order.' },
  { env: 'OTEL_BSP_SCHEDULE_DELAY', default: '5000', values: 'milliseconds', description: 'Longest wait before a batch of spans is exported.' },
  { env: 'OTEL_BSP_EXPORT_TIMEOUT', default: '30000', values: 'milliseconds', description: 'Longest time one batch export may take.' },
  { env: 'OTEL_BSP_MAX_QUEUE_SIZE', default: '2048', values: 'positive integer', description: 'Spans held for export at most; beyond it spans are dropped and counted.' },
  { env: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', default: '512', values: 'positive integer, at most the queue size', description: 'Spans per export request at most.' },
  { env: 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', default: 'unlimited', values: 'non-negative integer', description: 'String attribute values are cut to this length (0: not cut).' },
  { env: 'OTEL_ATTRIBUTE_COUNT_LIMIT', default: '128', values: 'non-negative integer', description: 'Attributes per span at most.' },
  { env: 'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', default: 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', values: 'non-negative integer', description: 'Span attribute value length limit (wins over the generic one).' },
  { env: 'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', default: 'OTEL_ATTRIBUTE_COUNT_LIMIT', values: 'non-negative integer', description: 'Span attribute count limit (wins over the generic one).' },
  { env: 'OTEL_SPAN_EVENT_COUNT_LIMIT', default: '128', values: 'non-negative integer', description: 'Events per span at most.' },
  { env: 'OTEL_SPAN_LINK_COUNT_LIMIT', default: '128', values: 'non-negative integer', description: 'Links per span at most.' },
  { env: 'OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT', default: '128', values: 'non-negative integer', description: 'Attributes per span event at most.' },
  { env: 'OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT', default: '128', values: 'non-negative integer', description: 'Attributes per span link at most.' },
  { env: 'OTEL_LOG_LEVEL', default: 'warn', values: 'none, error, warn, info, debug, verbose, all', description: "The agent's own diagnostics on stderr." },
  { env: 'OTEL_NODE_ENABLED_INSTRUMENTATIONS', default: 'all', values: 'http, fetch, express, fastify, pg (comma list)', description: 'Only these instrumentations run.' },
  { env: 'OTEL_NODE_DISABLED_INSTRUMENTATIONS', default: '', values: 'http, fetch, express, fastify, pg (comma list)', description: 'These instrumentations do not run (wins over the enabled list).' },
  { env: 'OTEL_SEMCONV_STABILITY_OPT_IN', default: 'old attribute names', values: 'http, http/dup, database, database/dup (comma list)', description: 'Stable semantic-convention attribute names instead of (or with, /dup) the old ones.' },
  { env: 'OTEL_NODE_EXCLUDED_URLS', default: '', values: 'comma list of regular expressions', description: 'Incoming requests whose URL path matches get no span (health checks, metrics).' },
  { env: 'OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST', default: '', values: 'header names (comma list)', description: 'Request headers recorded on server spans as http.request.header.<name>.' },
  { env: 'OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE', default: '', values: 'header names (comma list)', description: 'Response headers recorded on server spans as http.response.header.<name>.' },
  { env: 'OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST', default: '', values: 'header names (comma list)', description: 'Request headers recorded on client spans.' },
  { env: 'OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE', default: '', values: 'header names (comma list)', description: 'Response headers recorded on client spans.' },
  { env: 'OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS', default: 'authorization, cookie, set-cookie, proxy-authorization (always)', values: 'header names or regular expressions (comma list)', description: 'Captured headers whose values are replaced by [REDACTED].' },
  { env: 'OTEL_NODE_INTERNAL_SPANS', default: 'false', values: 'true, false', description: 'INTERNAL spans for express middleware and route handlers and fastify hooks and handlers.' },
  { env: 'OTEL_NODE_DB_STATEMENT', default: 'sanitized', values: 'sanitized, raw, off', description: 'How SQL is recorded: literals replaced by ?, as written, or not at all.' },
  { env: 'OTEL_NODE_DB_SQLCOMMENTER', default: 'false', values: 'true, false', description: 'Append the traceparent to SQL as a sqlcommenter comment.' },
  { env: 'OTEL_NODE_SHUTDOWN_TIMEOUT', default: '5000', values: 'milliseconds', description: 'Longest time spent flushing spans at exit or on SIGTERM/SIGINT.' },
];

/**
 * The `otel-instrument` flag for a variable, named the way Python's
 * `opentelemetry-instrument` names them: drop `OTEL_` (or `OTEL_NODE_`), lower-case.
 */
export function flagFor(env: string): string {
  return env.replace(/^OTEL_(NODE_)?/, '').toLowerCase();
}
