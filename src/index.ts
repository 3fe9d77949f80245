/**
 * The package's programmatic surface. Most users never import it: they run
 * `node --require @acme/otel-agent app.js`. Tools and tests use these to read
 * the configuration the way the agent does.
 */
export { readConfig, INSTRUMENTATION_NAMES } from './config';
export type { AgentConfig, ConfigResult, InstrumentationName, SemconvMode, CaptureHeaders } from './config';
export { OPTIONS, flagFor } from './options';
export type { OptionSpec } from './options';
