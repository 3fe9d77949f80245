'use strict';
// ESM apps get the same spans as CommonJS apps. Each ESM fixture runs out of
// process under --import and under --require, next to its CommonJS twin under
// --require; the three span sets must be equal once run-specific values (ports,
// stacks, file names) are masked, and each must also show the library's
// essentials, so "all three empty" cannot pass. Runs under TEST_NODE when set
// (scripts/node-matrix.js). Needs dist/ built: npx tsc -p . first.
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { startCollector } = require('./helpers/collector');
const { runFixture, request, AGENT, DEFAULT_NODE, REPO } = require('./helpers/run');

const FIXTURES = path.join(__dirname, 'fixtures', 'esm');
const NODE_VERSION = spawnSync(DEFAULT_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
const [MAJOR, MINOR] = NODE_VERSION.split('.').map(Number);
const HAS_REGISTER_HOOKS = MAJOR >= 24 || (MAJOR === 23 && MINOR >= 5) || (MAJOR === 22 && MINOR >= 15);
const AGENT_WARNING = /\[@acme\/otel-agent\] (warn|error):/;

/** Whether the instrumentation `name` has been built (lets this file land before every library's). */
const built = (name) => fs.existsSync(path.join(REPO, 'dist', 'instrumentations', `${name}.js`));

let collector;
let runs = 0;

/**
 * Starts `script` under `mode` with a service name of its own, requests each
 * path (in order, on the port the fixture prints), then stops it with SIGTERM
 * (the agent flushes on the way out) and returns its spans and output.
 */
async function run(script, mode, paths, { env = {}, ports = 1 } = {}) {
  const service = `esm-${++runs}`;
  const app = runFixture({
    script: path.join(FIXTURES, script),
    mode,
    env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_SERVICE_NAME: service, ...env },
  });
  const match = await app.waitForOutput(ports === 1 ? /listening (\d+)/ : /listening (\d+) (\d+)/, 15000);
  const port = Number(match[1]);
  const responses = [];
  for (const p of paths) {
    const url = p.startsWith('http') ? p.replace('PORT2', match[2]) : `http://127.0.0.1:${port}${p}`;
    responses.push(await request(url));
  }
  const { code, signal, stdout, stderr } = await app.kill('SIGTERM');
  const spans = collector.spans().filter((s) => s.resource['service.name'] === service);
  return { port, ports: match.slice(1).map(Number), responses, spans, code, signal, stdout, stderr };
}

/** One line per span: kind, name, status, attributes and events, and its ancestors' names; sorted. */
function signature({ spans, ports }) {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const text = (value) => {
    let v = value;
    for (const p of ports) v = v.split(`:${p}`).join(':PORT');
    // Other ports (a closed one the fixture picked) differ per run too.
    return v.replace(/:\d{2,5}\b/g, ':N').replace(/[\w/.-]*fixtures\/esm\/[\w.-]+\.[cm]?js/g, 'FIXTURE');
  };
  const mask = (key, value) => {
    if (key.startsWith('code.') || key === 'exception.stacktrace') return '*';
    if (/port/.test(key) && typeof value !== 'string') return ports.includes(Number(value)) ? 'PORT' : Number(value) === 5432 ? 5432 : 'N';
    return typeof value === 'string' ? text(value) : value;
  };
  const attrs = (a) =>
    Object.keys(a)
      .sort()
      .map((k) => `${k}=${JSON.stringify(mask(k, a[k]))}`)
      .join(' ');
  const ancestry = (s) => {
    const names = [];
    for (let p = byId.get(s.parentSpanId); p; p = byId.get(p.parentSpanId)) names.push(`${p.kind} ${p.name}`);
    return names.join(' < ');
  };
  return spans
    .map((s) =>
      [
        `${s.kind} ${s.name} ${s.status.code}${s.status.message ? ` "${text(s.status.message)}"` : ''}`,
        `  parent: ${ancestry(s) || '(root)'}${s.parentSpanId && !byId.has(s.parentSpanId) ? ' (remote)' : ''}`,
        `  attributes: ${attrs(s.attributes)}`,
        ...s.events.map((e) => `  event ${e.name}: ${attrs(e.attributes)}`),
      ].join('\n'),
    )
    .sort();
}

/**
 * Runs the CommonJS twin under --require and the ESM fixture under --import
 * and --require, all at once; asserts clean runs and equal span signatures.
 * Returns the ESM --import run.
 */
async function sameAsCommonJs(name, paths, options) {
  const [cjs, esmImport, esmRequire] = await Promise.all([
    run(`${name}.cjs`, 'require', paths, options),
    run(`${name}.mjs`, 'import', paths, options),
    run(`${name}.mjs`, 'require', paths, options),
  ]);
  for (const [label, r] of [['cjs', cjs], ['esm --import', esmImport], ['esm --require', esmRequire]]) {
    assert.doesNotMatch(r.stderr, AGENT_WARNING, `${label}: ${r.stderr}`);
    assert.deepEqual(
      r.responses.map((x) => x.status),
      cjs.responses.map((x) => x.status),
      label,
    );
  }
  const expected = signature(cjs);
  assert.deepEqual(signature(esmImport), expected, 'ESM under --import differs from CommonJS');
  assert.deepEqual(signature(esmRequire), expected, 'ESM under --require differs from CommonJS');
  return esmImport;
}

/** Runs `check(mode)` for --import and --require at once. */
const bothModes = (check) => Promise.all(['import', 'require'].map((mode) => check(mode)));

const server = (spans) => spans.filter((s) => s.kind === 'SERVER');
const client = (spans) => spans.filter((s) => s.kind === 'CLIENT');
const parentOf = (spans, s) => spans.find((p) => p.spanId === s.parentSpanId);

describe(`ESM (Node.js ${NODE_VERSION})`, function () {
  this.timeout(60000);

  before(async () => {
    collector = await startCollector();
  });
  after(() => collector && collector.close());

  describe('ESM apps get the same spans as CommonJS apps', function () {

    it('http and node:http: default, namespace and named imports, server and client', async function () {
      if (!built('http')) this.skip();
      const { spans } = await sameAsCommonJs('http', ['/hello', '/fail', '/client']);
      assert.equal(server(spans).length, 5, 'one SERVER span per request, including the two the app makes');
      assert.equal(client(spans).length, 2, 'http.request (namespace) and http.get (default)');
      for (const c of client(spans)) {
        assert.ok(spans.some((s) => s.kind === 'SERVER' && s.parentSpanId === c.spanId), 'context propagated to the server');
      }
      assert.ok(server(spans).some((s) => s.status.code === 'ERROR'), 'the 500 marks its server span');
    });

    it('fetch', async function () {
      if (!built('http') || !built('fetch')) this.skip();
      const { spans } = await sameAsCommonJs('fetch', ['/fetch', '/fetch-refused']);
      const clients = client(spans);
      assert.equal(clients.length, 2, clients.map((s) => s.name).join());
      const inner = server(spans).find((s) => s.parentSpanId && parentOf(spans, s)?.kind === 'CLIENT');
      assert.ok(inner, 'traceparent injected by fetch reaches the server');
      assert.ok(clients.some((s) => s.status.code === 'ERROR'), 'connection refused marks the fetch span');
    });

    it('express (default import of a CommonJS package)', async function () {
      if (!built('http') || !built('express')) this.skip();
      // production: express's error page would otherwise hold the stack, whose file names differ.
    const { spans } = await sameAsCommonJs('express', ['/users/7', '/shop/items/hat', '/boom'], { env: { NODE_ENV: 'production' } });
      const names = server(spans).map((s) => s.name).sort();
      assert.deepEqual(names, ['GET /boom', 'GET /shop/items/:item', 'GET /users/:id']);
      assert.equal(server(spans).find((s) => s.name === 'GET /boom').status.code, 'ERROR');
    });

    it('fastify (default import of a CommonJS package)', async function () {
      if (!built('http') || !built('fastify')) this.skip();
      const { spans } = await sameAsCommonJs('fastify', ['/users/7', '/boom']);
      const names = server(spans).map((s) => s.name).sort();
      assert.deepEqual(names, ['GET /boom', 'GET /users/:id']);
      assert.equal(server(spans).find((s) => s.name === 'GET /boom').status.code, 'ERROR');
    });

    it('pg (default and named imports; its ESM entry wraps the CommonJS code)', async function () {
      if (!built('http') || !built('pg')) this.skip();
      const { spans } = await sameAsCommonJs('pg', ['/pool', '/client', '/error']);
      const db = spans.filter((s) => s.attributes['db.system'] === 'postgresql' || s.attributes['db.system.name'] === 'postgresql');
      const queries = db.filter((s) => /SELECT/.test(String(s.attributes['db.statement'] ?? s.attributes['db.query.text'])));
      assert.equal(queries.length, 3, db.map((s) => s.name).join());
      assert.ok(queries.some((s) => s.status.code === 'ERROR'), 'the failing query marks its span');
      for (const q of queries) assert.equal(parentOf(spans, q)?.kind, 'SERVER', 'query spans are children of the request');
    });
  });

  describe('ESM app shapes', function () {

    it('a module loaded both by import and by createRequire() is instrumented once', async function () {
      if (!built('http') || !built('express')) this.skip();
      await bothModes(async (mode) => {
        const r = await run('both-ways.mjs', mode, ['/esm/1', 'http://127.0.0.1:PORT2/cjs/2'], { ports: 2 });
        assert.match(r.stdout, /same http true same express true/, mode);
        assert.doesNotMatch(r.stderr, AGENT_WARNING, r.stderr);
        assert.deepEqual(server(r.spans).map((s) => s.name).sort(), ['GET /cjs/:id', 'GET /esm/:id'], mode);
      });
    });

    it('otel-instrument covers an ESM app with the preload it injects', async function () {
      if (!built('http')) this.skip();
      const r = await run('http.mjs', 'cli', ['/hello', '/client']);
      assert.doesNotMatch(r.stderr, AGENT_WARNING, r.stderr);
      assert.equal(server(r.spans).length, 4);
      assert.equal(client(r.spans).length, 2);
    });

    it('top-level await and dynamic import()', async function () {
      if (!built('http') || !built('express')) this.skip();
      await bothModes(async (mode) => {
        const r = await run('dynamic.mjs', mode, ['/users/3']);
        assert.deepEqual(server(r.spans).map((s) => s.name), ['GET /users/:id'], mode);
      });
    });

    it('an ESM app that createRequire()s its CommonJS dependency', async function () {
      if (!built('http') || !built('express')) this.skip();
      await bothModes(async (mode) => {
        const r = await run('create-require.mjs', mode, ['/users/3']);
        assert.deepEqual(server(r.spans).map((s) => s.name), ['GET /users/:id'], mode);
      });
    });

    it('TypeScript compiled to ESM ("type": "module", .js), and run as .ts where Node strips types', async function () {
      if (!built('http') || !built('express')) this.skip();
      const ts = require('typescript');
      const src = path.join(FIXTURES, 'ts', 'src', 'app.ts');
      const out = ts.transpileModule(fs.readFileSync(src, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
      });
      fs.mkdirSync(path.join(FIXTURES, 'ts', 'dist'), { recursive: true });
      fs.writeFileSync(path.join(FIXTURES, 'ts', 'dist', 'app.js'), out.outputText);
      const scripts = ['ts/dist/app.js'];
      const strips = spawnSync(DEFAULT_NODE, ['-p', 'process.features.typescript || ""'], { encoding: 'utf8' }).stdout.trim();
      if (strips) scripts.push('ts/src/app.ts');
      await Promise.all(
        scripts.map((script) =>
          bothModes(async (mode) => {
            const r = await run(script, mode, ['/users/9'], { env: { NODE_NO_WARNINGS: '1' } });
            assert.equal(r.responses[0].body, '{"id":"9"}');
            assert.deepEqual(server(r.spans).map((s) => s.name), ['GET /users/:id'], `${script} ${mode}`);
          }),
        ),
      );
    });

    it('a patch that replaces exports: import and require get the replacement, whichever comes first', async function () {
      const r = await runFixture({ script: path.join(FIXTURES, 'replace.mjs'), mode: 'none' }).exited;
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout.match(/^results (.*)$/m)[1]), {
        importDefault: 'replaced import-first',
        importNamespace: 'replaced import-first',
        importNamed: 'named (replaced)',
        requireAfterImport: 'replaced import-first',
        sameAfterImport: true,
        requireFirst: 'replaced require-first',
        importAfterRequire: 'replaced require-first',
        sameAfterRequire: true,
        calls: 2,
      });
    });

    it('leaves modules it does not instrument alone (live bindings, string export names, star conflicts, strict proxies)', async function () {
      if (!built('http')) this.skip();
      const expected = 'results {"live":2,"names":"kebab","star":"onlyA,onlyB","strict":42,"ready":true}';
      const [plain] = await Promise.all([
        run('odd-exports.mjs', 'none', ['/']),
        bothModes(async (mode) => {
          const r = await run('odd-exports.mjs', mode, ['/']);
          assert.equal(r.stdout.match(/^results .*$/m)?.[0], expected, mode);
          assert.equal(server(r.spans).length, 1, mode);
        }),
      ]);
      assert.equal(plain.stdout.match(/^results .*$/m)?.[0], expected, 'without the agent');
    });
  });

  describe('ESM hooks never break the app', function () {

    it('starts the agent once, not again in the module-hooks thread another loader starts', async function () {
      const probe = path.join(FIXTURES, 'start-probe.cjs');
      const loader = path.join(FIXTURES, 'noop-loader.mjs');
      const r = await run('http.mjs', 'none', ['/hello'], {
        env: { NODE_OPTIONS: `--require ${probe} --require ${AGENT} --import ${loader}`, NODE_NO_WARNINGS: '1' },
      });
      assert.deepEqual(r.stderr.match(/agent starts in \w+ thread/g), ['agent starts in main thread'], r.stderr);
      if (built('http')) assert.equal(server(r.spans).length, 1);
    });

    it('an ESM hook that cannot be installed costs the instrumentation, with one warning, not the app', async function () {
      if (!built('http') || !built('express')) this.skip();
      const sabotage = path.join(FIXTURES, 'sabotage.cjs');
      const r = await run('express.mjs', 'none', ['/users/1', '/boom'], {
        env: { NODE_OPTIONS: `--require ${sabotage} --require ${AGENT}`, SABOTAGE: 'extensions,registerHooks' },
      });
      assert.deepEqual(r.responses.map((x) => x.status), [200, 500]);
      const warnings = r.stderr.split('\n').filter((l) => AGENT_WARNING.test(l));
      assert.equal(warnings.length, 1, r.stderr);
      assert.match(warnings[0], /ESM hook for .*express.* failed/);
      // http (patched at start when registerHooks is unusable) still gives its server spans.
      assert.equal(server(r.spans).length, 2);
    });

    it(`patches builtins ${HAS_REGISTER_HOOKS ? 'on first resolve (module.registerHooks)' : 'at start (no module.registerHooks)'}`, async function () {
      if (!built('http')) this.skip();
      const r = await run('http.mjs', 'import', ['/hello'], { env: { OTEL_LOG_LEVEL: 'debug' } });
      assert.match(r.stderr, HAS_REGISTER_HOOKS ? /ESM: http, https patched on first resolve/ : /ESM: http, https patched at start/);
      assert.equal(server(r.spans).length, 1);
    });
  });
});
