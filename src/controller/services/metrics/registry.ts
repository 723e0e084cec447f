import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ControllerContext } from '../../context.js';

/**
 * The controller's Prometheus metrics (docs/metrics.md lists them). Counters
 * and histograms are counted by this process as things happen (cheap: an
 * increment or an observe); the gauges that describe the database are set
 * from it at every scrape (fleetGauges.ts), so each controller on one
 * database reports the same fleet.
 */
export interface ControllerMetrics {
  readonly registry: Registry;
  readonly devices: Gauge<'host' | 'physical_network' | 'dev_type' | 'status'>;
  readonly servers: Gauge<'status'>;
  readonly serviceUp: Gauge<'host'>;
  readonly lastReportAge: Gauge<'host'>;
  readonly schedulerDecisions: Counter<'outcome'>;
  readonly schedulerDecisionSeconds: Histogram;
  readonly apiRequestSeconds: Histogram<'api' | 'method' | 'route' | 'status'>;
  readonly operations: Counter<'operation' | 'outcome'>;
}

/** How a scheduling decision ended: a host claimed, none fitting, called off by its operation, or failed. */
export type SchedulerOutcome = 'placed' | 'no_valid_host' | 'aborted' | 'error';

/** How an operation ended (the engine's view): see docs/metrics.md. */
export type OperationOutcome = 'success' | 'error' | 'timeout';

const registries = new WeakMap<ControllerContext, ControllerMetrics>();

function createMetrics(): ControllerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    devices: new Gauge({
      name: 'vdpa_devices', help: 'Tracked PCI and vDPA devices per host, physical network, kind and status.',
      labelNames: ['host', 'physical_network', 'dev_type', 'status'], registers,
    }),
    servers: new Gauge({ name: 'vdpa_servers', help: 'Servers per API status.', labelNames: ['status'], registers }),
    serviceUp: new Gauge({
      name: 'vdpa_compute_service_up', help: '1 when the host\'s compute service is up (recent heartbeat, not forced down), else 0.',
      labelNames: ['host'], registers,
    }),
    lastReportAge: new Gauge({
      name: 'vdpa_agent_last_report_age_seconds', help: 'Seconds since the host\'s agent last reported (its heartbeat); absent before the first.',
      labelNames: ['host'], registers,
    }),
    schedulerDecisions: new Counter({
      name: 'vdpa_scheduler_decisions_total', help: 'Scheduling decisions made by this process, by outcome.',
      labelNames: ['outcome'], registers,
    }),
    schedulerDecisionSeconds: new Histogram({
      name: 'vdpa_scheduler_decision_seconds', help: 'Time of one scheduling decision with its claim (one transaction), in seconds.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers,
    }),
    apiRequestSeconds: new Histogram({
      name: 'vdpa_api_request_seconds', help: 'API requests answered by this process, by API, method, route template and status code.',
      labelNames: ['api', 'method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
    }),
    operations: new Counter({
      name: 'vdpa_operations_total', help: 'Server operations finished by this process\'s operation engine, by operation and outcome.',
      labelNames: ['operation', 'outcome'], registers,
    }),
  };
}

/** The context's metrics, created on first use (one registry per controller context). */
export function metricsOf(ctx: ControllerContext): ControllerMetrics {
  let m = registries.get(ctx);
  if (!m) {
    m = createMetrics();
    registries.set(ctx, m);
  }
  return m;
}

/** Counts an operation that ended. */
export function countOperation(ctx: ControllerContext, operation: string, outcome: OperationOutcome): void {
  metricsOf(ctx).operations.inc({ operation, outcome });
}
