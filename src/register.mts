/**
 * The `--import` entry (`node --import @acme/otel-agent app.mjs`): the same
 * start as the `--require` entry, loaded from ESM.
 */
import './register.js';
