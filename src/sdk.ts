/**
 * Config → tracer provider, sampler, propagators, processor, exporter and
 * resource, registered as the globals that every copy of
 * `@opentelemetry/api` 1.x in the app sees. Never reads `process.env`.
 */
import { propagation, trace, type TextMapPropagator } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import { B3Propagator } from './b3';
import { installContextManager } from './context';
import type { AgentConfig } from './config';
import { createConsoleExporter } from './console-exporter';
import { createOtlpExporter, type SpanExporterLike } from './exporter';
import { BatchProcessor } from './processor';
import { resourceAttributes } from './resource';
import { AgentTracerProvider } from './tracer';
import { W3CTraceContextPropagator, withTraceOrigin } from './w3c';

/** The started SDK. */
export interface Sdk {
  readonly provider: AgentTracerProvider;
  /** One batch processor per exporter. */
  readonly processors: readonly BatchProcessor[];
  readonly serviceName: string;
}

/** The sampler named by `OTEL_TRACES_SAMPLER`. */
export function createSampler(s: AgentConfig['sampler']): Sampler {
  switch (s.name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(s.ratio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(s.ratio) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** The composite propagator named by `OTEL_PROPAGATORS`. */
export function createPropagator(names: AgentConfig['propagators']): TextMapPropagator {
  const list: TextMapPropagator[] = names.map((n) => {
    switch (n) {
      case 'baggage':
        return new W3CBaggagePropagator();
      case 'b3':
        return new B3Propagator(false);
      case 'b3multi':
        return new B3Propagator(true);
      default:
        return new W3CTraceContextPropagator();
    }
  });
  return withTraceOrigin(new CompositePropagator({ propagators: list }));
}

function exporterFor(name: 'otlp' | 'console', config: AgentConfig, version: string): SpanExporterLike {
  return name === 'console' ? createConsoleExporter() : createOtlpExporter(config.otlp, version);
}

/** Starts the SDK and registers it globally. */
export function startSdk(config: AgentConfig, version: string): Sdk {
  const processors = config.exporters.map(
    (name) => new BatchProcessor(exporterFor(name, config, version), config.bsp, name === 'otlp' ? config.otlp.url : 'stdout'),
  );
  const attributes = resourceAttributes(config, version);
  const provider = new AgentTracerProvider(
    resourceFromAttributes(attributes),
    { sampler: createSampler(config.sampler), parentBasedAlwaysOn: config.sampler.name === 'parentbased_always_on' },
    config.spanLimits,
    processors,
  );
  installContextManager();
  propagation.setGlobalPropagator(createPropagator(config.propagators));
  trace.setGlobalTracerProvider(provider);
  return { provider, processors, serviceName: String(attributes['service.name']) };
}

