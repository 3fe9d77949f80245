/**
 * The `http` instrumentation: SERVER spans for `http`/`https` servers
 * (http-server.ts), CLIENT spans for `request`/`get` (http-client.ts), W3C
 * trace context in and out through the global propagator. Both modules share
 * the message classes (`IncomingMessage`, `ServerResponse`, `ClientRequest`)
 * of `http`, patched once whichever module loads first.
 */
import { syncBuiltinESMExports } from 'node:module';
import type { InstrumentationDefinition } from '../agent';
import { wrap } from '../shimmer';
import { wrapClientEmit, wrapRequest, type ClientModule } from './http-client';
import { noteServerResponse, wrapBoundEmit, wrapResponseEmit, wrapServerEmit, wrapWriteHead } from './http-server';

type Fn = (...args: any[]) => any;
interface Proto {
  emit: Fn;
}
/** What the patch expects of `http` / `https`. */
interface HttpModule extends ClientModule {
  request: Fn;
  get: Fn;
  Server: { prototype: Proto };
}
interface HttpClasses {
  IncomingMessage: { prototype: Proto };
  ServerResponse: { prototype: Proto };
  ClientRequest: { prototype: Proto };
}

function hasMethod(o: unknown, name: string): boolean {
  return (typeof o === 'object' || typeof o === 'function') && o !== null && typeof (o as Record<string, unknown>)[name] === 'function';
}

/** Throws (before anything is changed) when a module lacks what the wrappers need. */
function check(mod: unknown, classes: unknown): asserts mod is HttpModule {
  const m = mod as Partial<HttpModule>;
  const c = classes as Partial<HttpClasses>;
  const missing = [
    ['request', hasMethod(m, 'request')],
    ['get', hasMethod(m, 'get')],
    ['Server.prototype.emit', hasMethod(m.Server?.prototype, 'emit')],
    ['globalAgent', typeof m.globalAgent === 'object' && m.globalAgent !== null],
    ['IncomingMessage.prototype.emit', hasMethod(c.IncomingMessage?.prototype, 'emit')],
    ['ServerResponse.prototype.emit', hasMethod(c.ServerResponse?.prototype, 'emit')],
    ['ClientRequest.prototype.emit', hasMethod(c.ClientRequest?.prototype, 'emit')],
  ].filter(([, ok]) => !ok);
  if (missing.length > 0) throw new Error(`unexpected module shape: no ${missing.map(([n]) => n).join(', ')}`);
}

function patch(mod: unknown, classes: unknown): void {
  check(mod, classes);
  const c = classes as HttpClasses;
  wrap(mod.Server.prototype, 'emit', wrapServerEmit);
  wrap(c.IncomingMessage.prototype, 'emit', wrapBoundEmit);
  wrap(c.ServerResponse.prototype, 'emit', wrapResponseEmit);
  noteServerResponse(c.ServerResponse.prototype);
  // Optional: without it, the response's header block is read for its length instead.
  if (hasMethod(c.ServerResponse.prototype, 'writeHead')) wrap(c.ServerResponse.prototype as unknown as { writeHead: Fn }, 'writeHead', wrapWriteHead);
  wrap(c.ClientRequest.prototype, 'emit', wrapClientEmit);
  wrap(mod, 'request', (original) => wrapRequest(original, mod, false));
  wrap(mod, 'get', (original) => wrapRequest(original, mod, true));
  // `import { request } from 'node:http'` reads the ESM copy of the exports.
  syncBuiltinESMExports();
}

const definition: InstrumentationDefinition = {
  name: 'http',
  targets: [
    { module: 'http', versions: '*', patch: (exports: unknown) => patch(exports, exports) },
    {
      module: 'https',
      versions: '*',
      // https has no message classes of its own; requiring http here also patches it (once).
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      patch: (exports: unknown) => patch(exports, require('node:http')),
    },
  ],
};

export default definition;
