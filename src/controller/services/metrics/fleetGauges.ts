import { serverStatus } from '../../../domain/lifecycle/serverStatus.js';
import { serviceIsUp } from '../../../storage/repositories/hosts.js';
import { computeServiceHeartbeats, deviceCounts, serverStateCounts } from '../../../storage/repositories/fleetCounts.js';
import type { ControllerContext } from '../../context.js';
import { metricsOf } from './registry.js';

/** Device statuses always reported (at 0 when none), so an alert on one never sees the series vanish. */
const DEVICE_STATUSES = ['available', 'claimed', 'allocated', 'unavailable'];
/** Server statuses always reported, likewise. */
const SERVER_STATUSES = ['ACTIVE', 'BUILD', 'ERROR', 'SHUTOFF'];

/**
 * Sets the gauges that describe the database from it (three grouped
 * queries), just before a scrape renders them: right with any number of
 * controllers, and nothing to keep up to date between scrapes.
 */
export async function refreshFleetGauges(ctx: ControllerContext): Promise<void> {
  const db = ctx.store.reader;
  const [devices, servers, services] = await Promise.all([deviceCounts(db), serverStateCounts(db), computeServiceHeartbeats(db)]);
  const m = metricsOf(ctx);

  m.devices.reset();
  const groups = new Set<string>();
  for (const d of devices) {
    const labels = { host: d.host, physical_network: d.physical_network ?? '', dev_type: d.dev_type };
    const key = JSON.stringify(labels);
    if (!groups.has(key)) {
      groups.add(key);
      for (const status of DEVICE_STATUSES) m.devices.set({ ...labels, status }, 0);
    }
    m.devices.inc({ ...labels, status: d.status }, d.count);
  }

  m.servers.reset();
  for (const status of SERVER_STATUSES) m.servers.set({ status }, 0);
  for (const s of servers) m.servers.inc({ status: serverStatus(s.vm_state, s.task_state) }, s.count);

  m.serviceUp.reset();
  m.lastReportAge.reset();
  const now = Date.now();
  for (const s of services) {
    m.serviceUp.set({ host: s.host }, serviceIsUp(s, ctx.config.service_down_time, now) ? 1 : 0);
    if (s.last_seen_up) m.lastReportAge.set({ host: s.host }, Math.max(0, (now - Date.parse(s.last_seen_up)) / 1000));
  }
}

/** The Prometheus text exposition of every metric, the database gauges read now. */
export async function renderMetrics(ctx: ControllerContext): Promise<{ contentType: string; body: string }> {
  await refreshFleetGauges(ctx);
  const { registry } = metricsOf(ctx);
  return { contentType: registry.contentType, body: await registry.metrics() };
}
