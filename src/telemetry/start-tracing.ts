import { context, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

/** What the SDK is started with: the OTEL_* settings as src/config.ts read them. */
export interface TracingSettings {
  /** The collector's base URL; traces go to `{endpoint}/v1/traces`. */
  endpoint?: string | undefined;
  /** The full traces URL, used as is (wins over `endpoint`). */
  tracesEndpoint?: string | undefined;
  protocol: 'http/protobuf' | 'http/json';
  /** `k=v,k2=v2` (values URL-encoded), as OTEL_EXPORTER_OTLP_HEADERS. */
  headers?: string | undefined;
  serviceName?: string | undefined;
  serviceVersion: string;
  /** `k=v,k2=v2`, as OTEL_RESOURCE_ATTRIBUTES. */
  resourceAttributes?: string | undefined;
  disabled: boolean;
}

export interface Tracing {
  /** Exports what is still buffered, then unregisters the SDK (the API goes back to its no-op tracer). */
  shutdown(): Promise<void>;
}

/** OTLP's `k=v` lists: pairs split on commas, both sides trimmed and URL-decoded; malformed pairs are skipped. */
export function parseKeyValues(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    const key = pair.slice(0, at).trim();
    if (key) out[decodeURIComponent(key)] = decodeURIComponent(pair.slice(at + 1).trim());
  }
  return out;
}

function tracesUrl(settings: TracingSettings): string | undefined {
  if (settings.tracesEndpoint) return settings.tracesEndpoint;
  if (settings.endpoint) return `${settings.endpoint.replace(/\/+$/, '')}/v1/traces`;
  return undefined;
}

let shared: { provider: NodeTracerProvider; users: number } | undefined;

/**
 * Starts the OpenTelemetry trace SDK when an OTLP endpoint is set (and OTEL_SDK_DISABLED is not):
 * spans are batched and exported over OTLP/HTTP. Without one nothing is registered and the API's
 * no-op tracer stays in place, so instrumented code costs next to nothing. The SDK is global to
 * the process: servers started in one process (tests) share the first one's settings, and the
 * last to shut down stops it.
 */
export function startTracing(settings: TracingSettings): Tracing | undefined {
  const url = tracesUrl(settings);
  if (settings.disabled || url === undefined) return undefined;
  if (shared) shared.users++;
  else shared = { provider: register(settings, url), users: 1 };
  const { provider } = shared;
  let done = false;
  return {
    async shutdown() {
      if (done) return;
      done = true;
      if (shared?.provider !== provider || --shared.users > 0) {
        await provider.forceFlush();
        return;
      }
      shared = undefined;
      try {
        await provider.shutdown();
      } finally {
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}

function register(settings: TracingSettings, url: string): NodeTracerProvider {
  const exporterConfig = { url, headers: parseKeyValues(settings.headers) };
  const exporter = settings.protocol === 'http/json' ? new JsonExporter(exporterConfig) : new ProtobufExporter(exporterConfig);
  // Ours first, then OTEL_RESOURCE_ATTRIBUTES (the process's and the setting's), then OTEL_SERVICE_NAME, which wins per the spec.
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'agent-api', 'service.version': settings.serviceVersion }))
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes(parseKeyValues(settings.resourceAttributes)))
    .merge(resourceFromAttributes(settings.serviceName ? { 'service.name': settings.serviceName } : {}));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  // The AsyncLocalStorage context manager and the W3C traceparent/baggage propagators.
  provider.register();
  return provider;
}
