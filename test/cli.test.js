'use strict';
// Needs dist/ built first: npx tsc -p . && npx mocha test/cli.test.js
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs, helpText, childEnv, withRequire, REGISTER_PATH } = require('../dist/cli.js');
const { OPTIONS, flagFor } = require('../dist/options.js');

const BIN = path.join(__dirname, '..', 'bin', 'otel-instrument');

describe('otel-instrument parseArgs', () => {
  it('takes --flag value and --flag=value, last one wins', () => {
    assert.deepEqual(parseArgs(['--service_name', 'a', '--traces_exporter=console', '--service_name=b', 'node', 'app.js']), {
      env: { OTEL_SERVICE_NAME: 'b', OTEL_TRACES_EXPORTER: 'console' },
      command: ['node', 'app.js'],
    });
  });

  it('maps OTEL_NODE_* and long variables to their flags', () => {
    const r = parseArgs(['--disabled_instrumentations', 'pg', '--exporter_otlp_traces_endpoint=http://c:4318/v1/traces',
      '--instrumentation_http_capture_headers_server_request', 'x-a,x-b', 'app']);
    assert.deepEqual(r.env, {
      OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces',
      OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST: 'x-a,x-b',
    });
  });

  it('keeps a value containing "=" whole', () => {
    assert.equal(parseArgs(['--resource_attributes=a=1,b=2', 'app']).env.OTEL_RESOURCE_ATTRIBUTES, 'a=1,b=2');
  });

  it('gives every option a distinct flag', () => {
    assert.equal(new Set(OPTIONS.map((o) => flagFor(o.env))).size, OPTIONS.length);
  });

  it('stops at -- and at the first word; everything after belongs to the command', () => {
    assert.deepEqual(parseArgs(['--service_name', 's', '--', '--version', '-h']), { env: { OTEL_SERVICE_NAME: 's' }, command: ['--version', '-h'] });
    assert.deepEqual(parseArgs(['node', '--service_name', 'x', '--', '--help']), { env: {}, command: ['node', '--service_name', 'x', '--', '--help'] });
  });

  it('passes arguments with spaces and quotes through untouched', () => {
    const command = ['node', '-e', 'console.log("a b", \'c\')', 'two words', '"quoted"', '', '$HOME', '--nope'];
    assert.deepEqual(parseArgs(['--service_name', 'my "svc" one', ...command]), { env: { OTEL_SERVICE_NAME: 'my "svc" one' }, command });
  });

  it('rejects a missing value', () => {
    for (const argv of [['--service_name'], ['--service_name', '--traces_exporter', 'console', 'app'], ['--service_name=', 'app'], ['--service_name', '', 'app']]) {
      const r = parseArgs(argv);
      assert.equal(r.exitCode, 2, argv.join(' '));
      assert.match(r.error, /--service_name needs a value/);
    }
  });

  it('rejects an unknown flag, naming the closest one and --help', () => {
    for (const [arg, near] of [['--servce_name', '--service_name'], ['--service-name=x', '--service_name'], ['--TRACES_EXPORTR', '--traces_exporter'], ['--verison', '--version']]) {
      const r = parseArgs([arg, 'app']);
      assert.equal(r.exitCode, 2);
      assert.ok(r.error.includes(`unknown flag ${arg.split('=')[0]}`), r.error);
      assert.ok(r.error.includes(`did you mean ${near}?`), r.error);
      assert.match(r.error, /--help/);
    }
  });

  it('rejects a missing command, with the usage', () => {
    for (const argv of [[], ['--service_name', 'x'], ['--service_name', 'x', '--']]) {
      const r = parseArgs(argv);
      assert.equal(r.exitCode, 2);
      assert.match(r.error, /no command given[\s\S]*Usage: otel-instrument/);
    }
  });

  it('recognises help and version before the command', () => {
    assert.deepEqual(parseArgs(['-h']), { help: true });
    assert.deepEqual(parseArgs(['--service_name', 'x', '--help', 'app']), { help: true });
    assert.deepEqual(parseArgs(['--version']), { version: true });
  });

  it('lists every option in the help with its variable, default and values', () => {
    const help = helpText();
    for (const o of OPTIONS) {
      assert.ok(help.includes(`--${flagFor(o.env)} <value>    ${o.env}\n`), o.env);
      assert.ok(help.includes(o.description), o.env);
      assert.ok(help.includes(`Default: ${o.default || '(none)'}. Values: ${o.values}.`), o.env);
    }
  });
});

describe('otel-instrument environment', () => {
  it('lets a flag override the inherited variable and keeps the rest', () => {
    const env = childEnv({ OTEL_SERVICE_NAME: 'old', PATH: '/bin' }, { OTEL_SERVICE_NAME: 'new' }, '/a/register.js');
    assert.deepEqual(env, { OTEL_SERVICE_NAME: 'new', PATH: '/bin', NODE_OPTIONS: '--require /a/register.js' });
  });

  it('prepends --require to NODE_OPTIONS, once', () => {
    assert.equal(withRequire(undefined, '/a/r.js'), '--require /a/r.js');
    assert.equal(withRequire('  ', '/a/r.js'), '--require /a/r.js');
    assert.equal(withRequire('--require /x.js --max-old-space-size=100', '/a/r.js'), '--require /a/r.js --require /x.js --max-old-space-size=100');
    for (const already of ['--require /a/r.js', '-r /a/r.js --inspect', '--require=/a/r.js', '--x --require "/a/r.js"']) {
      assert.equal(withRequire(already, '/a/r.js'), already);
    }
    const spaced = '/my dir/a\\b"c/r.js';
    const once = withRequire('--inspect', spaced);
    assert.equal(once, '--require "/my dir/a\\\\b\\"c/r.js" --inspect');
    assert.equal(withRequire(once, spaced), once);
  });

  it('quotes a path with spaces so Node itself loads it from NODE_OPTIONS', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otel cli '));
    try {
      const preload = path.join(dir, 'pre load.js');
      fs.writeFileSync(preload, 'process.stdout.write("preloaded;")');
      const r = spawnSync(process.execPath, ['-e', 'console.log("main")'], {
        env: { ...process.env, NODE_OPTIONS: withRequire('--no-warnings', preload) }, encoding: 'utf8',
      });
      assert.equal(r.stderr, '');
      assert.equal(r.stdout, 'preloaded;main\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('otel-instrument end to end', function () {
  this.timeout(20000);
  // The agent core (dist/register.js) is written concurrently. While it is not built,
  // a Node child could not start under our NODE_OPTIONS; it then runs as
  // `sh -c 'NODE_OPTIONS= exec node ...'`: exec keeps the pid, so exit codes and
  // signals still travel exactly as they would to a direct Node child.
  const haveRegister = fs.existsSync(REGISTER_PATH);
  const nodeCommand = (script) => haveRegister
    ? [process.execPath, '-e', script]
    : ['sh', '-c', 'NODE_OPTIONS= exec "$0" -e "$1"', process.execPath, script];

  /** Runs `node bin/otel-instrument ...args`; resolves with code, signal and output. */
  function run(args, { env = {}, onStdout } = {}) {
    const childEnvironment = { ...process.env, OTEL_SDK_DISABLED: 'true', ...env };
    if (env.NODE_OPTIONS === undefined) delete childEnvironment.NODE_OPTIONS;
    const proc = spawn(process.execPath, [BIN, ...args], { env: childEnvironment, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; if (onStdout) onStdout(stdout, proc); });
    proc.stderr.on('data', (d) => { stderr += d; });
    return new Promise((resolve) => proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  }

  it('mirrors the exit code', async () => {
    const r = await run(nodeCommand('process.exit(3)'));
    assert.deepEqual([r.code, r.signal, r.stderr], [3, null, '']);
  });

  it('mirrors a death by signal', async () => {
    const r = await run(nodeCommand("process.kill(process.pid, 'SIGTERM')"));
    assert.deepEqual([r.code, r.signal], [null, 'SIGTERM']);
  });

  it('forwards SIGTERM to the command and exits as it does', async () => {
    const script = "process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0); });" +
      "console.log('ready'); setTimeout(() => {}, 15000);";
    let sent = false;
    const r = await run(nodeCommand(script), {
      onStdout: (out, proc) => { if (!sent && out.includes('ready')) { sent = true; proc.kill('SIGTERM'); } },
    });
    assert.equal(r.stdout, 'ready\ngot SIGTERM\n');
    assert.deepEqual([r.code, r.signal], [0, null]);
  });

  it('reports a command that does not exist like a shell', async () => {
    const r = await run(['no-such-command-otel-test', '--x']);
    assert.equal(r.code, 127);
    assert.equal(r.stderr, 'otel-instrument: no-such-command-otel-test: command not found\n');
  });

  it('exits 2 with a suggestion on an unknown flag', async () => {
    const r = await run(['--servce_name', 'x', 'true']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown flag --servce_name; did you mean --service_name\?/);
  });

  it('prints help and version', async () => {
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    for (const o of OPTIONS) assert.ok(help.stdout.includes(o.env), o.env);
    const version = await run(['--version']);
    assert.deepEqual([version.code, version.stdout], [0, `${require('../package.json').version}\n`]);
  });

  it('passes the flags to the command, over the inherited environment', async () => {
    const r = await run(['--service_name', 'foo', ...nodeCommand('console.log(process.env.OTEL_SERVICE_NAME)')],
      { env: { OTEL_SERVICE_NAME: 'inherited' } });
    assert.deepEqual([r.code, r.stdout], [0, 'foo\n']);
  });

  it('passes arguments through without a shell', async () => {
    const args = ['two words', '"q"', "it's", '$HOME', '*', '--service_name'];
    const r = await run(['sh', '-c', 'printf "[%s]\\n" "$@"', 'sh', ...args]);
    assert.equal(r.stdout, args.map((a) => `[${a}]\n`).join(''));
  });

  it('keeps an existing NODE_OPTIONS --require and adds its own once', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otel-cli-'));
    const other = path.join(dir, 'other.js');
    fs.writeFileSync(other, '');
    try {
      const r = await run(['sh', '-c', 'echo "$NODE_OPTIONS"'], { env: { NODE_OPTIONS: `--require ${other}` } });
      assert.equal(r.stdout, `${withRequire('', REGISTER_PATH)} --require ${other}\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not add its --require twice when nested', async function () {
    if (!haveRegister) this.skip(); // the inner otel-instrument is a Node process under our NODE_OPTIONS
    const r = await run([process.execPath, BIN, 'sh', '-c', 'echo "$NODE_OPTIONS"']);
    assert.equal(r.stdout, `${withRequire('', REGISTER_PATH)}\n`);
  });
});
