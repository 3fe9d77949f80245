/**
 * ESM support: brings `import`s of the instrumented modules to the same
 * dispatcher as `require`, on every supported Node.js, without a loader flag
 * and without wrapping any module we do not instrument.
 *
 * - CommonJS packages (`express`, `fastify`, `pg` ...) imported from ESM are
 *   loaded by Node's CommonJS translator through `Module._load(filename)`,
 *   not `require`, so require-in-the-middle (a `Module.prototype.require` hook)
 *   never sees them. A `Module._extensions['.js']` hook sees every CommonJS
 *   file of a watched package right after it ran, however it was loaded, and
 *   dispatches it before Node builds the ESM namespace from `module.exports`:
 *   `import x from`, `import * as` and named imports get the same patched (or
 *   replaced) exports as `require`.
 * - Builtins (`http`, `https`): their ESM namespace is created from, and kept in
 *   sync with (`syncBuiltinESMExports`), the CommonJS exports object, and named
 *   imports of builtins are live bindings. Patching that object before the app
 *   calls into it is enough. Where `module.registerHooks` exists (22.15+, 23.5+,
 *   24+) an in-thread resolve hook patches each builtin when it is first
 *   resolved and removes itself once all are done; elsewhere (20.6–22.14) the
 *   builtins are patched at start: a few milliseconds, where the loader thread
 *   `module.register` starts costs 50–100 ms and a round trip per import.
 */
import * as path from 'node:path';
import type { OnModule } from './hooks';
import { log } from './logger';
import { wrap } from './shimmer';

/** The parts of `node:module` used here; `_extensions` is a long-standing CommonJS loader internal (pirates, ts-node). */
interface ModuleInternals {
  _extensions: Record<string, (module: { exports: unknown }, filename: string) => void>;
  isBuiltin(name: string): boolean;
  syncBuiltinESMExports(): void;
  registerHooks?(hooks: { resolve?: ResolveHook }): { deregister?(): void };
}
type ResolveHook = (
  specifier: string,
  context: unknown,
  nextResolve: (specifier: string, context: unknown) => { url: string },
) => { url: string };

// eslint-disable-next-line @typescript-eslint/no-require-imports
const Module = require('node:module') as ModuleInternals;
const NODE_MODULES = `${path.sep}node_modules${path.sep}`;

/** One warning per kind of failure; the app goes on, those modules uninstrumented. */
function reportHookError(kind: 'packages' | 'builtins', what: string, err: unknown): void {
  log.once('warn', `esm:${kind}`, `ESM hook for ${what} failed; it stays uninstrumented: ${(err as Error)?.message ?? err}`);
}

/**
 * Installs the ESM side for `modules` (the dispatcher's module names), feeding
 * `onModule`. Never throws: a failure leaves ESM imports uninstrumented, with
 * one warning.
 */
export function installEsmHooks(modules: readonly string[], onModule: OnModule): void {
  try {
    const builtins = modules.filter((m) => Module.isBuiltin(m));
    const packages = new Set(modules.filter((m) => !Module.isBuiltin(m)));
    if (packages.size > 0) hookCommonJsImports(packages, onModule);
    if (builtins.length > 0) hookBuiltins(builtins, onModule);
  } catch (err) {
    reportHookError('packages', modules.join(', '), err);
  }
}

function hookCommonJsImports(packages: ReadonlySet<string>, onModule: OnModule): void {
  const mains = new Map<string, string | null>();
  const isMainFile = (name: string, basedir: string, filename: string): boolean => {
    let main = mains.get(basedir);
    if (main === undefined) {
      try {
        main = require.resolve(name, { paths: [basedir] });
      } catch {
        main = null;
      }
      mains.set(basedir, main);
    }
    return main === filename;
  };

  const onLoaded = (module: { exports: unknown }, filename: string): void => {
    const i = filename.lastIndexOf(NODE_MODULES);
    if (i === -1) return;
    const start = i + NODE_MODULES.length;
    let end = filename.indexOf(path.sep, start);
    if (end !== -1 && filename[start] === '@') end = filename.indexOf(path.sep, end + 1);
    if (end === -1) return;
    const name = filename.slice(start, end).split(path.sep).join('/');
    if (!packages.has(name)) return;
    try {
      const basedir = filename.slice(0, end);
      // Named the way require-in-the-middle (internals: true) names it, so file targets match either way.
      const id = isMainFile(name, basedir, filename) ? name : name + path.sep + path.relative(basedir, filename);
      const exports = module.exports;
      const result = onModule(exports, id, basedir);
      if (result !== exports) module.exports = result;
    } catch (err) {
      reportHookError('packages', filename, err);
    }
  };

  // The one place both `require` and the ESM translator pass through after a
  // CommonJS file has run and before Node snapshots `module.exports` for ESM
  // (`Module.prototype.load`, 20.20/22+): a replacement set here is what both get.
  const wrapped = wrap(Module._extensions, '.js', (original) =>
    function (this: unknown, module: { exports: unknown }, filename: string) {
      const result: unknown = Reflect.apply(original, this, arguments);
      if (typeof filename === 'string' && module !== null && typeof module === 'object') onLoaded(module, filename);
      return result;
    } as typeof original,
  );
  if (!wrapped) reportHookError('packages', [...packages].join(', '), new Error('Module._extensions[".js"] cannot be wrapped'));
}

function hookBuiltins(builtins: readonly string[], onModule: OnModule): void {
  const remaining = new Set(builtins);
  let done: (() => void) | undefined;
  const patch = (name: string): void => {
    if (!remaining.delete(name)) return;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      onModule(require(name), name, undefined);
      // For namespaces created before this patch (another preload imported the builtin first).
      Module.syncBuiltinESMExports();
    } catch (err) {
      reportHookError('builtins', name, err);
    }
    if (remaining.size === 0) done?.();
  };

  if (typeof Module.registerHooks === 'function') {
    try {
      const resolve: ResolveHook = (specifier, context, nextResolve) => {
        const resolved = nextResolve(specifier, context);
        const url = resolved?.url;
        // Builtins resolve to `node:<name>` whether imported as `http`, `node:http` or required.
        if (typeof url === 'string' && url.startsWith('node:') && remaining.has(url.slice(5))) patch(url.slice(5));
        return resolved;
      };
      const handle = Module.registerHooks({ resolve });
      // Once every builtin is patched, leave later resolutions untouched (not from inside the hook itself).
      done = () => {
        if (typeof handle?.deregister === 'function') setImmediate(() => handle.deregister?.()).unref();
      };
      log.debug(`ESM: ${builtins.join(', ')} patched on first resolve (module.registerHooks)`);
      return;
    } catch (err) {
      log.debug(`module.registerHooks failed (${(err as Error)?.message ?? err}); patching builtins at start`);
    }
  }
  log.debug(`ESM: ${builtins.join(', ')} patched at start`);
  for (const name of builtins) patch(name);
}
