import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { ControllerContext } from '../../src/controller/context.js';
import { resourceRequestFor } from '../../src/controller/lifecycle/resources.js';
import { addHost, createAggregate, removeHost, setMetadata } from '../../src/controller/services/aggregates.js';
import { aggregateDirectoryOf } from '../../src/controller/services/aggregateDirectory.js';
import { candidateIndexOf, scheduleAndClaim } from '../../src/controller/services/scheduler.js';
import { generateInventory } from '../../src/domain/inventory/hostInventory.js';
import { requestForPort } from '../../src/domain/pci/request.js';
import type { ResourceRequest } from '../../src/domain/scheduling/types.js';
import { openStore } from '../../src/storage/db.js';
import { registerFleet, schedulerContext } from '../helpers/schedulerFleet.js';

const FLAVOR = { id: '1', name: 'm1.tiny', vcpus: 1, ram: 512, disk: 1, ephemeral: 0, swap: 0, extra_specs: {} };
const HOSTS = 300;

function vdpaRequest(extra: Partial<ResourceRequest> = {}, extraSpecs: Record<string, string> = {}) {
  return resourceRequestFor({ ...FLAVOR, extra_specs: extraSpecs },
    [requestForPort({ id: randomUUID(), vnicType: 'vdpa', physicalNetwork: 'physnet0' })!], extra);
}

async function place(ctx: ControllerContext, request: ResourceRequest): Promise<string | null> {
  const uuid = randomUUID();
  const outcome = await scheduleAndClaim(ctx, request, { consumer: uuid, instanceUuid: uuid }, async () => {});
  return outcome.placed ? outcome.host : null;
}

test('zones and aggregate requirements narrow the candidate index to their hosts\' buckets', { timeout: 60_000 }, async () => {
  const store = await openStore(':memory:');
  try {
    await registerFleet(store, generateInventory({ hosts: HOSTS, vfsPerHost: 4 }));
    const ctx = schedulerContext(store, 5);
    const zoneHosts = ['compute-17', 'compute-180', 'compute-299'];
    const az = await createAggregate(ctx, 'fast', 'az1');
    for (const h of zoneHosts) await addHost(ctx, String(az.id), h);
    const ssd = await createAggregate(ctx, 'ssd', null);
    await setMetadata(ctx, String(ssd.id), { ssd: 'true' });
    await addHost(ctx, String(ssd.id), 'compute-42');

    const index = candidateIndexOf(ctx);
    await index.reload();
    const directory = aggregateDirectoryOf(ctx);
    const zoneScope = directory.scopeFor(vdpaRequest({ availabilityZone: 'az1' }))!;
    assert.deepEqual(zoneScope.tags, ['az:az1']);
    assert.deepEqual(index.candidates(vdpaRequest(), 100, 60, Date.now(), zoneScope.tags)!.map((h) => h.host).sort(), [...zoneHosts].sort());
    const specScope = directory.scopeFor(vdpaRequest({}, { 'aggregate_instance_extra_specs:ssd': 'true' }))!;
    assert.deepEqual(index.candidates(vdpaRequest(), 100, 60, Date.now(), specScope.tags)!.map((h) => h.host), ['compute-42']);
    const nova = index.candidates(vdpaRequest(), HOSTS, 60, Date.now(), ['az:nova'])!.map((h) => h.host);
    assert.equal(nova.length, HOSTS - zoneHosts.length);
    for (const h of zoneHosts) assert.ok(!nova.includes(h));

    // Decisions: the zone's hosts only, until they are full (4 devices each), then no valid host.
    const placed: string[] = [];
    for (let i = 0; i < zoneHosts.length * 4; i++) placed.push((await place(ctx, vdpaRequest({ availabilityZone: 'az1' })))!);
    assert.deepEqual([...new Set(placed)].sort(), [...zoneHosts].sort());
    assert.equal(await place(ctx, vdpaRequest({ availabilityZone: 'az1' })), null);
    assert.equal(await place(ctx, vdpaRequest({}, { 'aggregate_instance_extra_specs:ssd': 'true' })), 'compute-42');
    assert.equal(await place(ctx, vdpaRequest({}, { 'aggregate_instance_extra_specs:ssd': 's== false' })), null);
    const elsewhere = await place(ctx, vdpaRequest({ availabilityZone: 'nova' }));
    assert.ok(elsewhere && !zoneHosts.includes(elsewhere));

    // A host leaving the zone is bucketed again under its new tags.
    await removeHost(ctx, String(az.id), 'compute-17').catch(() => undefined);
    const ssd2 = await createAggregate(ctx, 'az2', 'az2');
    await addHost(ctx, String(ssd2.id), 'compute-5');
    await index.settled();
    assert.deepEqual(index.candidates(vdpaRequest(), 100, 60, Date.now(), ['az:az2'])!.map((h) => h.host), ['compute-5']);
    assert.equal(await place(ctx, vdpaRequest({ availabilityZone: 'az2' })), 'compute-5');
  } finally {
    await store.close();
  }
});
