/**
 * `otel-instrument [--flag value]... [--] <command> [args...]`: the Node
 * counterpart of Python's `opentelemetry-instrument`. Flags set `OTEL_*`
 * variables (see `options.ts`), `NODE_OPTIONS` gets `--require <agent>`, and the
 * command runs as a child whose exit code or signal death we mirror.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { OPTIONS, flagFor } from './options';

/** What the command line asks for; `parseArgs` never touches the process. */
export type ParsedArgs =
  | { env: Record<string, string>; command: string[] }
  | { help: true }
  | { version: true }
  | { error: string; exitCode: 2 };

const NAME = 'otel-instrument';
const USAGE = `Usage: ${NAME} [--flag value]... [--] <command> [args...]`;
const FLAGS = new Map(OPTIONS.map((o) => [flagFor(o.env), o.env]));
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** The preload that starts the agent, next to this file in `dist/`. */
export const REGISTER_PATH = join(__dirname, 'register.js');

/**
 * Parse the arguments (without `node` and the script). Flags come first, as
 * `--flag value` or `--flag=value`; `--` or the first non-flag word ends them and
 * everything after belongs to the command, untouched.
 */
export function parseArgs(argv: string[]): ParsedArgs {
  const env: Record<string, string> = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') { i++; break; }
    if (!arg.startsWith('-') || arg === '-') break;
    if (arg === '-h' || arg === '--help') return { help: true };
    if (arg === '--version') return { version: true };

    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const variable = arg.startsWith('--') ? FLAGS.get(flag) : undefined;
    if (variable === undefined) {
      const name = eq === -1 ? arg : arg.slice(0, eq);
      return fail(`unknown flag ${name}; did you mean --${closestFlag(name)}? See ${NAME} --help.`);
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i];
    // An empty value is almost always an unset shell variable (`--service_name "$NAME"`).
    if (!value) return fail(`--${flag} needs a value (--${flag} <value> or --${flag}=<value>).`);
    env[variable] = value;
  }
  const command = argv.slice(i);
  if (command.length === 0) return fail(`no command given.\n${USAGE}\nSee ${NAME} --help.`);
  return { env, command };
}

/** The `--help` text: usage, then every flag with its variable, default and accepted values. */
export function helpText(): string {
  const lines = [
    USAGE,
    '',
    'Runs <command> with the @acme/otel-agent tracing agent preloaded: adds',
    '--require <agent> to NODE_OPTIONS, so every Node process the command starts is traced.',
    'Each flag sets the environment variable shown, overriding its current value.',
    '',
    'Flags:',
  ];
  for (const o of OPTIONS) {
    lines.push(`  --${flagFor(o.env)} <value>    ${o.env}`, `      ${o.description}`);
    lines.push(`      Default: ${o.default || '(none)'}. Values: ${o.values}.`);
  }
  lines.push('  -h, --help    Show this help.', '  --version    Show the version.', '');
  return lines.join('\n');
}

/**
 * The environment for the command: `base`, then the flag variables over it, and
 * `--require <registerPath>` in front of `NODE_OPTIONS` unless it is already there.
 */
export function childEnv(
  base: NodeJS.ProcessEnv,
  flags: Record<string, string>,
  registerPath: string = REGISTER_PATH,
): NodeJS.ProcessEnv {
  const env = { ...base, ...flags };
  env.NODE_OPTIONS = withRequire(env.NODE_OPTIONS, registerPath);
  return env;
}

/** `nodeOptions` with `--require <path>` prepended, once, quoted the way Node parses `NODE_OPTIONS`. */
export function withRequire(nodeOptions: string | undefined, path: string): string {
  const current = nodeOptions ?? '';
  const words = splitNodeOptions(current);
  const present = words.some((w, i) =>
    w === `--require=${path}` || ((w === '--require' || w === '-r') && words[i + 1] === path));
  if (present) return current;
  const quoted = /[ "]/.test(path) ? `"${path.replace(/[\\"]/g, '\\$&')}"` : path;
  return current.trim() ? `--require ${quoted} ${current}` : `--require ${quoted}`;
}

/**
 * Split `NODE_OPTIONS` as Node does (src/node_options.cc): words separated by
 * spaces, double quotes group, a backslash escapes only inside quotes.
 */
function splitNodeOptions(s: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    let c = s[i]!;
    if (quoted && c === '\\' && i + 1 < s.length) c = s[++i]!;
    else if (c === '"') { quoted = !quoted; word ??= ''; continue; }
    else if (c === ' ' && !quoted) {
      if (word !== undefined) words.push(word);
      word = undefined;
      continue;
    }
    word = (word ?? '') + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** Run the command line (`process.argv.slice(2)`); exits the process when the command ends. */
export function main(argv: string[]): void {
  const parsed = parseArgs(argv);
  if ('help' in parsed) {
    process.stdout.write(helpText());
    return;
  }
  if ('version' in parsed) {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return;
  }
  if ('error' in parsed) {
    process.stderr.write(`${NAME}: ${parsed.error}\n`);
    process.exitCode = parsed.exitCode;
    return;
  }

  const [file, ...args] = parsed.command as [string, ...string[]];
  const child = spawn(file, args, { stdio: 'inherit', env: childEnv(process.env, parsed.env) });
  const forward = (signal: NodeJS.Signals): void => { child.kill(signal); };
  // While our handlers are installed these signals no longer kill us: the child decides.
  for (const signal of FORWARDED) process.on(signal, forward);
  let done = false;
  const finish = (): boolean => {
    if (done) return false;
    done = true;
    for (const signal of FORWARDED) process.off(signal, forward);
    return true;
  };

  child.on('error', (err: NodeJS.ErrnoException) => {
    if (!finish()) return;
    const notFound = err.code === 'ENOENT';
    const reason = notFound ? 'command not found' : err.code === 'EACCES' ? 'permission denied' : err.message;
    process.stderr.write(`${NAME}: ${file}: ${reason}\n`);
    process.exit(notFound ? 127 : 126); // as a shell reports it
  });
  child.on('exit', (code, signal) => {
    if (!finish()) return;
    if (signal === null) process.exit(code ?? 1);
    // Exit code as a shell reports it, in case the signal does not kill us (Node ignores SIGPIPE).
    process.exitCode = 128 + (constants.signals[signal] ?? 0);
    // Node starts its inspector on SIGUSR1 instead of dying.
    if (signal !== 'SIGUSR1') process.kill(process.pid, signal);
  });
}

function fail(error: string): { error: string; exitCode: 2 } {
  return { error, exitCode: 2 };
}

/** The valid flag nearest to `arg` by edit distance, compared lower-cased with `-` read as `_`. */
function closestFlag(arg: string): string {
  const wanted = arg.replace(/^-+/, '').toLowerCase().replace(/-/g, '_');
  let best = 'help';
  let bestDistance = Infinity;
  for (const flag of [...FLAGS.keys(), 'help', 'version']) {
    const d = editDistance(wanted, flag);
    if (d < bestDistance) { best = flag; bestDistance = d; }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}
