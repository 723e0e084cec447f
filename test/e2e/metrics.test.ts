import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootOnNewPort, twoVdpaHosts } from '../helpers/e2eFixtures.js';
import { parsePrometheusText, samplesOf, valueOf, type Sample } from '../helpers/prometheusText.js';

const HOSTS = ['compute-0', 'compute-1'];

async function scrape(aio: AllInOneProcess, headers: Record<string, string> = {}): Promise<Sample[]> {
  const res = await fetch(`${aio.url}/metrics`, { headers });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

/** What os-pci/detail says, as "physical_network|dev_type|status" → count (the labels of vdpa_devices). */
async function deviceGroupsFromApi(aio: AllInOneProcess, host: string): Promise<Record<string, number>> {
  const groups: Record<string, number> = {};
  for (const d of await aio.pci(host)) {
    const key = `${d.physical_network ?? ''}|${d.dev_type}|${d.status}`;
    groups[key] = (groups[key] ?? 0) + 1;
  }
  return groups;
}

/** The same from a scrape, leaving out the series kept at 0. */
function deviceGroupsFromMetrics(samples: Sample[], host: string): Record<string, number> {
  const groups: Record<string, number> = {};
  for (const s of samplesOf(samples, 'vdpa_devices', { host })) {
    if (s.value > 0) groups[`${s.labels.physical_network}|${s.labels.dev_type}|${s.labels.status}`] = s.value;
  }
  return groups;
}

async function activeServersFromApi(aio: AllInOneProcess): Promise<number> {
  const r = await aio.api('GET', '/compute/v2.1/servers/detail?all_tenants=1');
  return r.body.servers.filter((s: any) => s.status === 'ACTIVE').length;
}

async function assertMatchesApi(aio: AllInOneProcess, samples: Sample[]): Promise<void> {
  for (const host of HOSTS) {
    assert.deepEqual(deviceGroupsFromMetrics(samples, host), await deviceGroupsFromApi(aio, host), `devices of ${host}`);
  }
  assert.equal(valueOf(samples, 'vdpa_servers', { status: 'ACTIVE' }), await activeServersFromApi(aio));
}

describe('Prometheus metrics at /metrics', { timeout: 90_000 }, () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess({ hosts: twoVdpaHosts() }); });
  after(async () => { await aio?.stop(); });

  test('the fleet, the scheduler and the operations agree with the API as servers boot and are deleted', { timeout: 90_000 }, async () => {
    const first = await scrape(aio);
    await assertMatchesApi(aio, first);
    assert.equal(valueOf(first, 'vdpa_devices', { host: 'compute-0', physical_network: 'physnet0', dev_type: 'vdpa', status: 'available' }), 4);
    assert.equal(valueOf(first, 'vdpa_devices', { host: 'compute-0', physical_network: 'physnet0', dev_type: 'vdpa', status: 'allocated' }), 0);
    assert.equal(valueOf(first, 'vdpa_servers', { status: 'ACTIVE' }), 0);
    for (const host of HOSTS) {
      assert.equal(valueOf(first, 'vdpa_compute_service_up', { host }), 1);
      const age = valueOf(first, 'vdpa_agent_last_report_age_seconds', { host });
      assert.ok(age >= 0 && age < 60, `report age of ${host}: ${age}`);
    }
    assert.ok(samplesOf(first, 'process_cpu_user_seconds_total').length === 1, 'Node process metrics are there');
    assert.ok(samplesOf(first, 'nodejs_heap_size_used_bytes').length === 1);

    const booted = [await bootOnNewPort(aio, 'metrics-a'), await bootOnNewPort(aio, 'metrics-b')];
    const during = await scrape(aio);
    await assertMatchesApi(aio, during);
    assert.equal(valueOf(during, 'vdpa_servers', { status: 'ACTIVE' }), 2);
    const allocated = HOSTS.map((host) => valueOf(during, 'vdpa_devices', { host, physical_network: 'physnet0', dev_type: 'vdpa', status: 'allocated' }));
    assert.equal(allocated[0]! + allocated[1]!, 2, 'one vDPA device per server');
    assert.equal(valueOf(during, 'vdpa_scheduler_decisions_total', { outcome: 'placed' }), 2);
    assert.equal(valueOf(during, 'vdpa_scheduler_decision_seconds_count'), 2);
    assert.equal(valueOf(during, 'vdpa_operations_total', { operation: 'create', outcome: 'success' }), 2);

    // Route templates, never raw paths: a server's GET is one series whatever the server.
    const requests = samplesOf(during, 'vdpa_api_request_seconds_count');
    const showServer = samplesOf(requests, 'vdpa_api_request_seconds_count', { api: 'compute', method: 'GET', route: '/compute/v2.1/servers/:id', status: '200' });
    assert.equal(showServer.length, 1);
    assert.ok(showServer[0]!.value >= 2);
    assert.equal(valueOf(during, 'vdpa_api_request_seconds_count', { api: 'network', method: 'POST', route: '/network/v2.0/ports', status: '201' }), 2);
    for (const { server } of booted) assert.ok(!requests.some((s) => s.labels.route!.includes(server.id)), 'no raw path in a route label');

    for (const { server } of booted) {
      assert.equal((await aio.api('DELETE', `/compute/v2.1/servers/${server.id}`)).status, 204);
      await aio.waitForServer(server.id, ['DELETED']);
    }
    const afterwards = await scrape(aio);
    await assertMatchesApi(aio, afterwards);
    assert.equal(valueOf(afterwards, 'vdpa_servers', { status: 'ACTIVE' }), 0);
    for (const host of HOSTS) {
      assert.equal(valueOf(afterwards, 'vdpa_devices', { host, physical_network: 'physnet0', dev_type: 'vdpa', status: 'available' }), 4);
    }
    assert.equal(valueOf(afterwards, 'vdpa_operations_total', { operation: 'delete', outcome: 'success' }), 2);
  });

  test('a forced-down compute service shows as down', { timeout: 90_000 }, async () => {
    const services = (await aio.api('GET', '/compute/v2.1/os-services?host=compute-1&binary=nova-compute', undefined, { headers: { 'openstack-api-version': 'compute 2.53' } })).body.services;
    const r = await aio.api('PUT', `/compute/v2.1/os-services/${services[0].id}`, { forced_down: true }, { headers: { 'openstack-api-version': 'compute 2.53' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const samples = await scrape(aio);
    assert.equal(valueOf(samples, 'vdpa_compute_service_up', { host: 'compute-1' }), 0);
    assert.equal(valueOf(samples, 'vdpa_compute_service_up', { host: 'compute-0' }), 1);
  });
});

describe('/metrics settings', { timeout: 60_000 }, () => {
  test('metrics: false turns the endpoint off', { timeout: 60_000 }, async () => {
    const aio = await startAllInOneProcess({ hosts: [], config: { metrics: false } });
    try {
      assert.equal((await fetch(`${aio.url}/metrics`)).status, 404);
    } finally {
      await aio.stop();
    }
  });

  test('metrics_token asks for a bearer token', { timeout: 60_000 }, async () => {
    const aio = await startAllInOneProcess({ hosts: [], config: { metrics_token: 'scrape-secret' } });
    try {
      const refused = await fetch(`${aio.url}/metrics`);
      assert.equal(refused.status, 401);
      assert.equal((await fetch(`${aio.url}/metrics`, { headers: { authorization: 'Bearer wrong-secret!' } })).status, 401);
      const samples = await scrape(aio, { authorization: 'Bearer scrape-secret' });
      assert.equal(valueOf(samples, 'vdpa_servers', { status: 'ACTIVE' }), 0);
    } finally {
      await aio.stop();
    }
  });
});
