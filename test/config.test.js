'use strict';
const assert = require('node:assert/strict');
const { readConfig } = require('../dist/config');
const { OPTIONS } = require('../dist/options');

const read = (env) => readConfig(env);

describe('readConfig (pure env → config)', () => {
  it('gives the documented defaults for an empty environment, with no warnings', () => {
    const { config, warnings } = read({});
    assert.deepEqual(warnings, []);
    assert.equal(config.disabled, false);
    assert.equal(config.serviceName, undefined);
    assert.deepEqual(config.exporters, ['otlp']);
    assert.deepEqual(config.otlp, {
      url: 'http://localhost:4318/v1/traces',
      protocol: 'http/protobuf',
      headers: {},
      timeoutMs: 10000,
      compression: 'none',
    });
    assert.deepEqual(config.sampler, { name: 'parentbased_always_on', ratio: 1 });
    assert.deepEqual(config.propagators, ['tracecontext', 'baggage']);
    assert.deepEqual(config.bsp, { scheduleDelayMs: 5000, exportTimeoutMs: 30000, maxQueueSize: 2048, maxExportBatchSize: 512 });
    assert.deepEqual(config.spanLimits, {
      attributeValueLengthLimit: Infinity, attributeCountLimit: 128, eventCountLimit: 128, linkCountLimit: 128, attributePerEventCountLimit: 128, attributePerLinkCountLimit: 128,
    });
    assert.equal(config.logLevel, 'warn');
    assert.deepEqual([...config.instrumentations].sort(), ['express', 'fastify', 'fetch', 'http', 'pg']);
    assert.deepEqual(config.semconv, { http: { old: true, stable: false }, db: { old: true, stable: false } });
    assert.equal(config.internalSpans, false);
    assert.deepEqual(config.db, { statement: 'sanitized', sqlcommenter: false });
    assert.equal(config.shutdownTimeoutMs, 5000);
  });

  it('returns a frozen object', () => {
    const { config } = read({});
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.otlp));
    assert.throws(() => { 'use strict'; config.otlp.url = 'x'; });
  });

  it('OTEL_SDK_DISABLED accepts true/false in any case and warns on garbage', () => {
    assert.equal(read({ OTEL_SDK_DISABLED: 'TRUE' }).config.disabled, true);
    assert.equal(read({ OTEL_SDK_DISABLED: 'false' }).config.disabled, false);
    const r = read({ OTEL_SDK_DISABLED: 'yes please' });
    assert.equal(r.config.disabled, false);
    assert.match(r.warnings[0], /OTEL_SDK_DISABLED="yes please" is not valid .*using false/);
  });

  it('service name from OTEL_SERVICE_NAME, else from service.name in the resource attributes', () => {
    assert.equal(read({ OTEL_SERVICE_NAME: ' shop ' }).config.serviceName, 'shop');
    assert.equal(read({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=cart' }).config.serviceName, 'cart');
    assert.equal(read({ OTEL_SERVICE_NAME: 'a', OTEL_RESOURCE_ATTRIBUTES: 'service.name=b' }).config.serviceName, 'a');
  });

  it('OTEL_RESOURCE_ATTRIBUTES is percent-decoded and a malformed entry is skipped with a warning', () => {
    const r = read({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,team=a%20b%2Cc,broken,=novalue,k=%E0%A4%A' });
    assert.deepEqual(r.config.resourceAttributes, { 'deployment.environment': 'prod', team: 'a b,c' });
    assert.equal(r.warnings.length, 3);
    for (const w of r.warnings) assert.match(w, /OTEL_RESOURCE_ATTRIBUTES: malformed entry/);
  });

  it('exporter lists, none, and unknown exporters', () => {
    assert.deepEqual(read({ OTEL_TRACES_EXPORTER: 'otlp,console' }).config.exporters, ['otlp', 'console']);
    assert.deepEqual(read({ OTEL_TRACES_EXPORTER: 'none' }).config.exporters, []);
    const r = read({ OTEL_TRACES_EXPORTER: 'zipkin,console' });
    assert.deepEqual(r.config.exporters, ['console']);
    assert.match(r.warnings[0], /unknown value "zipkin".*valid values: otlp, console, none/);
    const only = read({ OTEL_TRACES_EXPORTER: 'jaeger' });
    assert.deepEqual(only.config.exporters, ['otlp']);
  });

  it('metrics and logs exporters: none is silent, anything else gives one notice', () => {
    assert.deepEqual(read({ OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' }).warnings, []);
    const r = read({ OTEL_METRICS_EXPORTER: 'otlp' });
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0], /exports traces only/);
  });

  it('endpoint: generic gets /v1/traces appended, the signal one is used as is and wins', () => {
    assert.equal(read({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://coroot:8080' }).config.otlp.url, 'http://coroot:8080/v1/traces');
    assert.equal(read({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:8080/otlp/' }).config.otlp.url, 'http://c:8080/otlp/v1/traces');
    assert.equal(
      read({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:1', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://coroot:8080/v1/traces' }).config.otlp.url,
      'http://coroot:8080/v1/traces',
    );
    const bad = read({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url' });
    assert.equal(bad.config.otlp.url, 'http://localhost:4318/v1/traces');
    assert.match(bad.warnings[0], /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="not a url" is not valid/);
    assert.equal(read({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://x' }).config.otlp.url, 'http://localhost:4318/v1/traces');
  });

  it('protocol: http/json accepted, grpc warns and falls back to http/protobuf on port 4318', () => {
    assert.equal(read({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).config.otlp.protocol, 'http/json');
    assert.equal(read({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }).config.otlp.protocol, 'http/protobuf');
    const g = read({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317' });
    assert.equal(g.config.otlp.protocol, 'http/protobuf');
    assert.equal(g.config.otlp.url, 'http://collector:4318/v1/traces');
    assert.match(g.warnings[0], /grpc is not supported.*Set OTEL_EXPORTER_OTLP_PROTOCOL=http\/protobuf/);
    assert.match(read({ OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' }).warnings[0], /expected http\/protobuf or http\/json/);
  });

  it('headers: generic and traces merged (traces win), percent-decoded; values never echoed in warnings', () => {
    const r = read({
      OTEL_EXPORTER_OTLP_HEADERS: 'api-key=secret%3D1,x-a=1',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-a=2,oops-secret-value',
    });
    assert.deepEqual(r.config.otlp.headers, { 'api-key': 'secret=1', 'x-a': '2' });
    assert.equal(r.warnings.length, 1);
    assert.doesNotMatch(r.warnings[0], /secret-value/);
  });

  it('timeout and compression: signal-specific wins; bad values warn and default', () => {
    assert.equal(read({ OTEL_EXPORTER_OTLP_TIMEOUT: '500' }).config.otlp.timeoutMs, 500);
    assert.equal(read({ OTEL_EXPORTER_OTLP_TIMEOUT: '500', OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '700' }).config.otlp.timeoutMs, 700);
    for (const bad of ['-1', 'abc', '0', '1e99', '12ms']) {
      const r = read({ OTEL_EXPORTER_OTLP_TIMEOUT: bad });
      assert.equal(r.config.otlp.timeoutMs, 10000, bad);
      assert.match(r.warnings[0], /OTEL_EXPORTER_OTLP_TIMEOUT=.* is not valid .*using 10000/);
    }
    assert.equal(read({ OTEL_EXPORTER_OTLP_COMPRESSION: 'GZIP' }).config.otlp.compression, 'gzip');
    assert.equal(read({ OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip', OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'none' }).config.otlp.compression, 'none');
    assert.match(read({ OTEL_EXPORTER_OTLP_COMPRESSION: 'brotli' }).warnings[0], /expected one of gzip, none/);
  });

  it('samplers and their argument', () => {
    for (const name of ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio']) {
      assert.equal(read({ OTEL_TRACES_SAMPLER: name }).config.sampler.name, name);
    }
    assert.deepEqual(read({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }).config.sampler, { name: 'traceidratio', ratio: 0.25 });
    const bad = read({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' });
    assert.equal(bad.config.sampler.ratio, 1);
    assert.match(bad.warnings[0], /OTEL_TRACES_SAMPLER_ARG="2" is not valid/);
    const unknown = read({ OTEL_TRACES_SAMPLER: 'sometimes' });
    assert.equal(unknown.config.sampler.name, 'parentbased_always_on');
    assert.equal(unknown.warnings.length, 1);
  });

  it('propagators', () => {
    assert.deepEqual(read({ OTEL_PROPAGATORS: 'b3' }).config.propagators, ['b3']);
    assert.deepEqual(read({ OTEL_PROPAGATORS: 'tracecontext,b3multi' }).config.propagators, ['tracecontext', 'b3multi']);
    assert.deepEqual(read({ OTEL_PROPAGATORS: 'none' }).config.propagators, []);
    const r = read({ OTEL_PROPAGATORS: 'xray,tracecontext' });
    assert.deepEqual(r.config.propagators, ['tracecontext']);
    assert.match(r.warnings[0], /unknown value "xray"/);
  });

  it('batch processor settings, and a batch larger than the queue', () => {
    const c = read({ OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_BSP_EXPORT_TIMEOUT: '2000', OTEL_BSP_MAX_QUEUE_SIZE: '10', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '5' }).config;
    assert.deepEqual(c.bsp, { scheduleDelayMs: 100, exportTimeoutMs: 2000, maxQueueSize: 10, maxExportBatchSize: 5 });
    const r = read({ OTEL_BSP_MAX_QUEUE_SIZE: '10', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '50' });
    assert.equal(r.config.bsp.maxExportBatchSize, 10);
    assert.match(r.warnings[0], /larger than OTEL_BSP_MAX_QUEUE_SIZE/);
    assert.equal(read({ OTEL_BSP_MAX_QUEUE_SIZE: '0' }).config.bsp.maxQueueSize, 2048);
  });

  it('span limits: generic and span-specific variables', () => {
    const c = read({
      OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '100', OTEL_ATTRIBUTE_COUNT_LIMIT: '10', OTEL_SPAN_EVENT_COUNT_LIMIT: '3', OTEL_SPAN_LINK_COUNT_LIMIT: '2',
      OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT: '4', OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT: '1',
    }).config;
    assert.deepEqual(c.spanLimits, { attributeValueLengthLimit: 100, attributeCountLimit: 10, eventCountLimit: 3, linkCountLimit: 2, attributePerEventCountLimit: 4, attributePerLinkCountLimit: 1 });
    assert.equal(read({ OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '0' }).config.spanLimits.attributeValueLengthLimit, Infinity, '0 cuts nothing, as in the SDK');
    const s = read({ OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '100', OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '50', OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '5' }).config;
    assert.equal(s.spanLimits.attributeValueLengthLimit, 50);
    assert.equal(s.spanLimits.attributeCountLimit, 5);
  });

  it('log level', () => {
    for (const l of ['none', 'error', 'warn', 'info', 'debug', 'verbose', 'all']) assert.equal(read({ OTEL_LOG_LEVEL: l.toUpperCase() }).config.logLevel, l);
    assert.equal(read({ OTEL_LOG_LEVEL: 'loud' }).config.logLevel, 'warn');
  });

  it('enabled and disabled instrumentations; unknown names list the valid ones', () => {
    assert.deepEqual([...read({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,pg' }).config.instrumentations], ['http', 'pg']);
    assert.deepEqual([...read({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,pg', OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg' }).config.instrumentations], ['http']);
    assert.deepEqual([...read({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'fetch, express' }).config.instrumentations], ['http', 'fastify', 'pg']);
    const typo = read({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'htpp' });
    assert.deepEqual([...typo.config.instrumentations].sort(), ['express', 'fastify', 'fetch', 'http', 'pg']);
    assert.match(typo.warnings[1], /names no known instrumentation; enabling all/);
    const r = read({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'mysql' });
    assert.match(r.warnings[0], /unknown instrumentation "mysql" ignored; valid names: http, fetch, express, fastify, pg/);
  });

  it('semantic convention opt-in', () => {
    assert.deepEqual(read({ OTEL_SEMCONV_STABILITY_OPT_IN: 'http' }).config.semconv, { http: { old: false, stable: true }, db: { old: true, stable: false } });
    assert.deepEqual(read({ OTEL_SEMCONV_STABILITY_OPT_IN: 'http/dup,database' }).config.semconv, { http: { old: true, stable: true }, db: { old: false, stable: true } });
    assert.deepEqual(read({ OTEL_SEMCONV_STABILITY_OPT_IN: 'database,database/dup' }).config.semconv.db, { old: true, stable: true });
    assert.match(read({ OTEL_SEMCONV_STABILITY_OPT_IN: 'messaging' }).warnings[0], /unknown value "messaging"/);
  });

  it('http settings: excluded URLs (bad regexps skipped), captured headers, always-masked headers', () => {
    const r = read({
      OTEL_NODE_EXCLUDED_URLS: '^/health$, /metrics,([',
      OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST: 'X-Request-ID, Authorization',
      OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS: 'x-api-.*',
    });
    assert.deepEqual(r.config.http.excludedUrls.map(String), ['/^\\/health$/', '/\\/metrics/']);
    assert.match(r.warnings[0], /OTEL_NODE_EXCLUDED_URLS: "\(\[" is not a valid regular expression/);
    assert.deepEqual(r.config.http.captureHeaders.serverRequest, ['x-request-id', 'authorization']);
    const masked = (h) => r.config.http.captureHeaders.sanitize.some((re) => re.test(h));
    for (const h of ['authorization', 'Cookie', 'set-cookie', 'proxy-authorization', 'x-api-key']) assert.ok(masked(h), h);
    assert.ok(!masked('x-request-id'));
  });

  it('framework, db and shutdown switches', () => {
    const c = read({ OTEL_NODE_INTERNAL_SPANS: 'true', OTEL_NODE_DB_STATEMENT: 'raw', OTEL_NODE_DB_SQLCOMMENTER: 'true', OTEL_NODE_SHUTDOWN_TIMEOUT: '100' }).config;
    assert.equal(c.internalSpans, true);
    assert.deepEqual(c.db, { statement: 'raw', sqlcommenter: true });
    assert.equal(c.shutdownTimeoutMs, 100);
    assert.equal(read({ OTEL_NODE_DB_STATEMENT: 'everything' }).config.db.statement, 'sanitized');
  });

  it('every variable in the options table is read: garbage in any of them never throws and names the variable', () => {
    const garbage = ['', ' ', '-1', '99999999999999999999', 'x'.repeat(10000), '\u0000\uffff', '=,=,', '%zz', 'true,false', '{}'];
    for (const { env } of OPTIONS) {
      for (const g of garbage) {
        const { warnings } = read({ [env]: g });
        for (const w of warnings) assert.ok(w.includes(env) || /OTEL_/.test(w), `${env}=${g}: ${w}`);
        assert.ok(warnings.every((w) => w.length < 400), 'warnings are one short line');
      }
    }
  });

  it('each variable in the table changes the config (the table and the parser agree)', () => {
    const samples = {
      OTEL_SDK_DISABLED: 'true', OTEL_SERVICE_NAME: 's', OTEL_RESOURCE_ATTRIBUTES: 'a=b', OTEL_TRACES_EXPORTER: 'console',
      OTEL_METRICS_EXPORTER: 'otlp', OTEL_LOGS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://h:1', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://h:2/x',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_HEADERS: 'a=b',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'a=b', OTEL_EXPORTER_OTLP_TIMEOUT: '5', OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '5',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip', OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'gzip', OTEL_TRACES_SAMPLER: 'always_off',
      OTEL_TRACES_SAMPLER_ARG: '0.5', OTEL_PROPAGATORS: 'b3', OTEL_BSP_SCHEDULE_DELAY: '1', OTEL_BSP_EXPORT_TIMEOUT: '1',
      OTEL_BSP_MAX_QUEUE_SIZE: '1000', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1', OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '1',
      OTEL_ATTRIBUTE_COUNT_LIMIT: '1', OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '1', OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '1',
      OTEL_SPAN_EVENT_COUNT_LIMIT: '1', OTEL_SPAN_LINK_COUNT_LIMIT: '1', OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT: '1', OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT: '1', OTEL_LOG_LEVEL: 'debug', OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http',
      OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'http', OTEL_SEMCONV_STABILITY_OPT_IN: 'http', OTEL_NODE_EXCLUDED_URLS: 'x',
      OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST: 'a', OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE: 'a',
      OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST: 'a', OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE: 'a',
      OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS: 'a', OTEL_NODE_INTERNAL_SPANS: 'true', OTEL_NODE_DB_STATEMENT: 'raw',
      OTEL_NODE_DB_SQLCOMMENTER: 'true', OTEL_NODE_SHUTDOWN_TIMEOUT: '1',
    };
    const base = JSON.stringify(read({}), (k, v) => (v instanceof Set ? [...v] : v instanceof RegExp ? String(v) : v === Infinity ? 'inf' : v));
    for (const { env } of OPTIONS) {
      assert.ok(env in samples, `no sample for ${env}: add one`);
      const pre = env === 'OTEL_TRACES_SAMPLER_ARG' ? { OTEL_TRACES_SAMPLER: 'traceidratio' } : env === 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE' ? {} : {};
      const got = JSON.stringify(read({ ...pre, [env]: samples[env] }), (k, v) => (v instanceof Set ? [...v] : v instanceof RegExp ? String(v) : v === Infinity ? 'inf' : v));
      const before = env === 'OTEL_TRACES_SAMPLER_ARG' ? JSON.stringify(read(pre), (k, v) => (v instanceof Set ? [...v] : v instanceof RegExp ? String(v) : v === Infinity ? 'inf' : v)) : base;
      assert.notEqual(got, before, `${env} has no effect on the config`);
    }
  });
});
