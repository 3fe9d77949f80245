'use strict';
/**
 * The floor of any agent that keeps context on Node.js: one AsyncLocalStorage `run` per request
 * (with a small store, as a context object is), nothing else. On Node 20 this enables the
 * storage's async hook for every async resource and promise the app makes afterwards; on Node 24
 * AsyncLocalStorage rides on AsyncContextFrame and has no hook.
 *
 *   npm run bench -- --variant als=bench/preloads/als.js
 *   node bench/instructions.js --variant none=none --variant als=bench/preloads/als.js
 */
const { AsyncLocalStorage } = require('node:async_hooks');
const http = require('node:http');

const storage = new AsyncLocalStorage();
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event) {
  if (event !== 'request') return emit.apply(this, arguments);
  return storage.run({ request: arguments[1] }, Reflect.apply, emit, this, arguments);
};
