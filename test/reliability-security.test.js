'use strict';
// Issue 9, security: no secret leaves the process unless the user opts in (URL
// credentials, signed-URL query parameters, auth and cookie headers, SQL
// literals, pg parameters, OTLP header values), checked on the raw bytes of
// every export request and on stderr at debug; and the agent opens no
// listening socket and connects nowhere but to the configured OTLP endpoint.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startCollector } = require('./helpers/collector');
const { runFixture, request, AGENT, REPO } = require('./helpers/run');

const FIX = path.join(__dirname, 'fixtures', 'reliability');
const INSTRUMENTED = ['http', 'pg', 'fetch'].every((n) => fs.existsSync(path.join(REPO, 'dist', 'instrumentations', `${n}.js`)));
// The keys the semantic conventions say to redact (url.full / url.query), SigV4 ones included.
const SIGNED =
  'X-Amz-Signature=amzsig111&X-Amz-Credential=AKIDCRED112&X-Amz-Security-Token=amztok113&AWSAccessKeyId=AKIDSECRET2' +
  '&Signature=sigsecret3&sig=azsig444&X-Goog-Signature=googsig555&page=2';
const SECRETS = [
  'amzsig111', 'AKIDCRED112', 'amztok113', 'AKIDSECRET2', 'sigsecret3', 'azsig444', 'googsig555', // signed-URL query parameters
  'urlpass777', // URL credentials
  'clientauth888', 'proxyauth999', 'clientcookie000', 'fetchauth121', 'fetchcookie131', 'setcookiesecret6', 'serverauth161', 'servercookie171', // headers
  'literalsecret141', '42424242', 'dollar$$', // SQL literals
  'paramsecret151', // pg parameter values
  'otlpkey181', // OTLP header value
];

describe('reliability: secrets, sockets and connections', function () {
  this.timeout(30000);
  let collector;
  let auditFile;
  before(async () => {
    collector = await startCollector();
  });
  after(() => collector.close());
  beforeEach(() => {
    collector.reset();
    auditFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'otel-audit-')), 'audit.jsonl');
  });
  afterEach(() => fs.rmSync(path.dirname(auditFile), { recursive: true, force: true }));

  async function runSecretsApp(extraEnv = {}) {
    const h = runFixture({
      script: path.join(FIX, 'secrets-app.js'),
      mode: 'none',
      env: {
        NODE_OPTIONS: `--require ${path.join(FIX, 'net-audit.js')} --require ${AGENT}`,
        NET_AUDIT_FILE: auditFile,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl,
        OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=otlpkey181',
        OTEL_LOG_LEVEL: 'debug',
        OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST: 'authorization,cookie,x-safe',
        OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE: 'set-cookie',
        OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST: 'authorization,proxy-authorization,cookie',
        OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE: 'set-cookie',
        ...extraEnv,
      },
    });
    const port = await h.waitForPort();
    const r = await request(`http://127.0.0.1:${port}/run?${SIGNED}`, {
      headers: { authorization: 'Bearer serverauth161', cookie: 'sid=servercookie171', 'x-safe': 'visible' },
    });
    assert.deepEqual([r.status, r.body], [200, 'done'], r.body);
    const handles = JSON.parse((await request(`http://127.0.0.1:${port}/handles`)).body);
    // run: 3 SERVER (run, target twice), 2 CLIENT (http.get, fetch), 2 db.
    const spans = await collector.waitForSpans((s) => s.filter((x) => x.kind === 'SERVER').length >= 3 && s.filter((x) => x.attributes['db.system']).length >= 2);
    const exit = await h.kill('SIGTERM');
    return { port, spans, handles, stderr: exit.stderr, raw: Buffer.concat(collector.requests.map((q) => q.bytes)).toString('latin1') };
  }

  it('nothing secret in any export request or log line (defaults, header capture on, debug log)', async function () {
    if (!INSTRUMENTED) this.skip();
    const { spans, stderr, raw } = await runSecretsApp();
    assert.ok(spans.filter((s) => s.kind === 'CLIENT').length >= 2, 'client spans were exported');
    const exported = SECRETS.filter((secret) => raw.includes(secret));
    assert.deepEqual(exported, [], `exported:\n${JSON.stringify(spans.map((s) => s.attributes), null, 1)}`);
    assert.deepEqual(SECRETS.filter((secret) => stderr.includes(secret)), [], `logged:\n${stderr}`);
    // What is not secret still arrives: the check looks at real data.
    assert.ok(raw.includes('visible'), 'a captured harmless header is exported');
    assert.ok(raw.includes('page=2') || raw.includes('/target'), 'the URL itself is exported');
  });

  it('an opt-in shows the check can see a leak: OTEL_NODE_DB_STATEMENT=raw exports the SQL literal', async function () {
    if (!INSTRUMENTED) this.skip();
    const { raw } = await runSecretsApp({ OTEL_NODE_DB_STATEMENT: 'raw' });
    assert.ok(raw.includes('literalsecret141'));
    assert.ok(!raw.includes('paramsecret151'), 'parameter values stay out even with raw statements');
  });

  it('the agent listens on nothing, and connects, resolves and spawns nothing but the OTLP endpoint', async () => {
    const { port, handles } = await runSecretsApp();
    assert.deepEqual(handles, { servers: [{ address: '127.0.0.1', family: 'IPv4', port }], udp: 0 }, 'the only listening socket is the app\'s');
    const audit = fs.readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const collectorPort = Number(new URL(collector.tracesUrl).port);
    const agent = audit.filter((e) => e.agent);
    for (const e of agent) {
      if (e.kind === 'connect') assert.equal(Number(e.port), collectorPort, `agent connection: ${JSON.stringify(e)}`);
      else if (e.kind === 'spawnSync') assert.match(e.args.join(' '), /exit-send\.js$/, `agent child process: ${JSON.stringify(e)}`);
      else assert.fail(`agent ${e.kind}: ${JSON.stringify(e)}`);
    }
    assert.ok(agent.some((e) => e.kind === 'connect'), 'the audit sees the agent\'s own export connections');
    // And the whole process: only the app's own traffic besides the endpoint.
    for (const e of audit.filter((x) => x.kind === 'connect')) {
      assert.ok([port, collectorPort, 5432].includes(Number(e.port)), `unexpected connection ${JSON.stringify(e)}`);
    }
    assert.deepEqual(audit.filter((e) => e.kind === 'listen').length, 1, 'one listen: the app\'s');
    assert.deepEqual(audit.filter((e) => ['createSocket', 'lookup'].includes(e.kind) && e.agent), []);
  });
});
