/**
 * The hook registry: ONE require hook (and, from `esm.ts`, the hooks that
 * bring ESM `import`s to it) for all instrumentations, dispatching by module
 * name and semver range. Every patch is guarded: a patch that throws leaves
 * the original exports. Patching is idempotent per exports object, so a module
 * reached both by `require` and by `import` is patched once.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Hook } from 'require-in-the-middle';
import type { InstrumentationDefinition, PatchTarget } from './agent';
import type { InstrumentationName } from './config';
import { installEsmHooks } from './esm';
import { log, logEnabled } from './logger';
import { REGISTRY, type RegistryEntry } from './registry';

/** Called with a module's exports as it loads; returns what the loader should expose. */
export type OnModule = (exports: unknown, name: string, basedir: string | undefined) => unknown;

const loaded = new Map<RegistryEntry, InstrumentationDefinition | null>();
/** Per target: exports object seen → what the loader should expose for it (itself, or the patch's replacement). */
const patchedBy = new Map<PatchTarget, WeakMap<object, unknown>>();
const versions = new Map<string, string>();

/** Instantiates `entry`'s code once; null when loading it failed. */
function definition(entry: RegistryEntry): InstrumentationDefinition | null {
  let def = loaded.get(entry);
  if (def !== undefined) return def;
  try {
    def = entry.load();
  } catch (err) {
    log.warn(`instrumentation ${entry.name} could not be loaded and is off: ${(err as Error).message}`);
    def = null;
  }
  loaded.set(entry, def);
  return def;
}

function packageVersion(basedir: string | undefined): string {
  if (basedir === undefined) return process.versions.node;
  let v = versions.get(basedir);
  if (v === undefined) {
    try {
      v = String(JSON.parse(readFileSync(path.join(basedir, 'package.json'), 'utf8')).version);
    } catch {
      v = '0.0.0';
    }
    versions.set(basedir, v);
  }
  return v;
}

/**
 * Builds the dispatcher shared by the require and import hooks, and returns it
 * with the module names it wants to see.
 */
export function createDispatcher(enabled: ReadonlySet<InstrumentationName>): { modules: string[]; onModule: OnModule } {
  const byModule = new Map<string, RegistryEntry[]>();
  for (const entry of REGISTRY) {
    if (!enabled.has(entry.name)) continue;
    for (const m of entry.modules) {
      const list = byModule.get(m) ?? [];
      list.push(entry);
      byModule.set(m, list);
    }
  }

  const onModule: OnModule = (exports, name, basedir) => {
    if (name.startsWith('node:')) name = name.slice(5);
    let moduleName = name;
    let file: string | undefined;
    if (!byModule.has(name)) {
      // An internal file: `<module><sep><relative path>`.
      for (const key of byModule.keys()) {
        if (name.startsWith(key + path.sep) || name.startsWith(key + '/')) {
          moduleName = key;
          file = name.slice(key.length + 1).split(path.sep).join('/');
          break;
        }
      }
    }
    const entries = byModule.get(moduleName);
    if (entries === undefined || exports === null || (typeof exports !== 'object' && typeof exports !== 'function')) {
      return exports;
    }
    const version = packageVersion(basedir);
    let result: unknown = exports;
    for (const entry of entries) {
      const def = definition(entry);
      if (def === null) continue;
      for (const target of def.targets) {
        if (target.module !== moduleName || target.file !== file) continue;
        result = apply(def, target, result as object, moduleName, version, basedir === undefined);
      }
    }
    return result;
  };
  return { modules: [...byModule.keys()], onModule };
}

let semverSatisfies: typeof import('semver/functions/satisfies') | undefined;
/** semver's range check, loaded when the first package (not a builtin) is matched: 19 files off the start-up path. */
function satisfies(version: string, range: string): boolean {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  semverSatisfies ??= require('semver/functions/satisfies') as typeof import('semver/functions/satisfies');
  return semverSatisfies(version, range, { includePrerelease: true });
}

function apply(
  def: InstrumentationDefinition,
  target: PatchTarget,
  exports: object,
  moduleName: string,
  version: string,
  builtin: boolean,
): unknown {
  const what = `${def.name} (${moduleName}${target.file ? '/' + target.file : ''}@${version})`;
  if (!builtin && !satisfies(version, target.versions)) {
    if (logEnabled('debug')) log.debug(`skipping ${what}: supported versions are ${target.versions}`);
    return exports;
  }
  let done = patchedBy.get(target);
  if (done === undefined) patchedBy.set(target, (done = new WeakMap()));
  // Seen before (e.g. required, then imported): the same answer as the first time, so
  // a patch that replaced the exports hands out its replacement to every loader.
  if (done.has(exports)) return done.get(exports);
  try {
    const replaced = target.patch(exports, version);
    const result = replaced === undefined ? exports : replaced;
    done.set(exports, result);
    if ((typeof result === 'object' || typeof result === 'function') && result !== null) done.set(result, result);
    if (logEnabled('debug')) log.debug(`instrumented ${what}`);
    return result;
  } catch (err) {
    // One warning per instrumentation and version, however many of its targets (internal files) do not fit.
    log.once(
      'warn',
      `patch ${def.name}@${version}`,
      `instrumentation ${def.name}@${version} failed on ${moduleName}${target.file ? '/' + target.file : ''}; it stays uninstrumented: ${messageOf(err)}`,
    );
    done.set(exports, exports);
    return exports;
  }
}

/** The message of anything thrown, without ever throwing (a library's getter may throw a hostile value). */
function messageOf(err: unknown): string {
  try {
    return String(err instanceof Error ? err.message : err);
  } catch {
    return 'unknown error';
  }
}

/** The modules names whose presence in `require.cache` means they were loaded before the agent. */
function warnAboutEarlyModules(modules: readonly string[]): void {
  const early = new Set<string>();
  for (const file of Object.keys(require.cache)) {
    for (const m of modules) {
      if (file.includes(`${path.sep}node_modules${path.sep}${m}${path.sep}`)) early.add(m);
    }
  }
  if (early.size > 0) {
    log.warn(
      `${[...early].join(', ')} loaded before the agent and will not be instrumented; start the agent first (node --require @acme/otel-agent).`,
    );
  }
}

let installed = false;

/**
 * Installs the require hook and the ESM hooks (see `esm.ts`) for the enabled
 * instrumentations and enables the ones that hook no module. Idempotent.
 */
export function installHooks(enabled: ReadonlySet<InstrumentationName>): OnModule {
  const { modules, onModule } = createDispatcher(enabled);
  if (installed) return onModule;
  installed = true;
  for (const entry of REGISTRY) {
    if (!enabled.has(entry.name) || entry.modules.length > 0) continue;
    const def = definition(entry);
    try {
      def?.enable?.();
      if (def && logEnabled('debug')) log.debug(`instrumented ${entry.name}`);
    } catch (err) {
      log.warn(`instrumentation ${entry.name} failed to start; it stays off: ${(err as Error)?.message ?? err}`);
    }
  }
  if (modules.length > 0) {
    warnAboutEarlyModules(modules.filter((m) => m !== 'http' && m !== 'https'));
    new Hook(modules, { internals: true }, onModule as (exports: any, name: string, basedir?: string) => any);
    installEsmHooks(modules, onModule);
  }
  return onModule;
}
