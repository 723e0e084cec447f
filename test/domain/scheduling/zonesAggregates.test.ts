import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregateSpecsOf, mergeAggregateMetadata, unmetAggregateSpec, valueMatches } from '../../../src/domain/scheduling/aggregateSpecs.js';
import { parseRequestedZone, zonesOfHost } from '../../../src/domain/scheduling/zones.js';
import { quotaExceededMessage, upsizeDelta, usageOfServer } from '../../../src/domain/quotas/resources.js';
import { hoursFor, parseUsageTime, tenantUsages } from '../../../src/domain/usage.js';

test('a host\'s zone is its aggregates\' zones, else nova', { timeout: 120_000 }, () => {
  assert.deepEqual(zonesOfHost([]), ['nova']);
  assert.deepEqual(zonesOfHost([{ ssd: 'true' }]), ['nova']);
  assert.deepEqual(zonesOfHost([{ availability_zone: 'az1' }, { availability_zone: 'az1', ssd: 'x' }]), ['az1']);
});

test('availability_zone parses as zone, zone:host, zone:host:node, zone::node; more colons are 400', { timeout: 120_000 }, () => {
  assert.deepEqual(parseRequestedZone('az1'), { zone: 'az1', host: null, node: null });
  assert.deepEqual(parseRequestedZone('az1:h'), { zone: 'az1', host: 'h', node: null });
  assert.deepEqual(parseRequestedZone('az1::n'), { zone: 'az1', host: null, node: 'n' });
  assert.deepEqual(parseRequestedZone(':h'), { zone: null, host: 'h', node: null });
  assert.throws(() => parseRequestedZone('a:b:c:d'), /Invalid input received: Unable to parse availability_zone/);
});

test('aggregate extra specs: only the scoped keys, Nova\'s operators, values split on commas', { timeout: 120_000 }, () => {
  assert.deepEqual(aggregateSpecsOf({ 'aggregate_instance_extra_specs:ssd': 'true', 'hw:cpu_policy': 'dedicated', plain: 'x' }), { ssd: 'true' });
  assert.equal(aggregateSpecsOf({ 'hw:cpu_policy': 'dedicated' }), undefined);
  const md = mergeAggregateMetadata([{ ssd: 'true' }, { gpu: 'a100, h100', cpus: '16' }]);
  assert.deepEqual(md, { ssd: ['true'], gpu: ['a100', 'h100'], cpus: ['16'] });
  assert.equal(unmetAggregateSpec(md, { ssd: 'true', gpu: 'h100' }), null);
  assert.equal(unmetAggregateSpec(md, { nvme: 'true' }), 'nvme');
  assert.ok(valueMatches('16', '>= 8'));
  assert.ok(valueMatches('16', '= 8'));
  assert.ok(!valueMatches('4', '>= 8'));
  assert.ok(valueMatches('abc', 's== abc'));
  assert.ok(valueMatches('fast-ssd', '<in> ssd'));
  assert.ok(valueMatches('b', '<or> a <or> b'));
  assert.ok(!valueMatches('c', '<or> a <or> b'));
  assert.ok(valueMatches('a b c', '<all-in> a c'));
});

test('quota: Nova\'s 403 text names the sorted exceeded resources', { timeout: 120_000 }, () => {
  assert.equal(quotaExceededMessage({ instances: 1, cores: 1, ram: 512 }, { instances: 5, cores: 5, ram: 2560 }, { instances: 5, cores: 20, ram: 51200 }),
    'Quota exceeded for instances: Requested 1, but already used 5 of 5 instances');
  assert.equal(quotaExceededMessage({ instances: 1, cores: 4, ram: 8192 }, { instances: 1, cores: 18, ram: 50000 }, { instances: 10, cores: 20, ram: 51200 }),
    'Quota exceeded for cores, ram: Requested 4, 8192, but already used 18, 50000 of 20, 51200 cores, ram');
  assert.equal(quotaExceededMessage({ instances: 1, cores: 1, ram: 1 }, { instances: 9, cores: 0, ram: 0 }, { instances: -1, cores: 20, ram: 51200 }), null);
  assert.deepEqual(usageOfServer([{ vcpus: 1, ram: 512 }, { vcpus: 4, ram: 256 }]), { instances: 1, cores: 4, ram: 512 });
  assert.deepEqual(upsizeDelta({ vcpus: 4, ram: 512 }, { vcpus: 2, ram: 1024 }), { instances: 0, cores: 0, ram: 512 });
});

test('usage: hours are the overlap of launched..terminated with the period', { timeout: 120_000 }, () => {
  const H = 3_600_000;
  assert.equal(hoursFor({ launchedAt: 0, terminatedAt: 2 * H }, H, 10 * H), 1);
  assert.equal(hoursFor({ launchedAt: 5 * H, terminatedAt: null }, 0, 10 * H), 5);
  assert.equal(hoursFor({ launchedAt: null, terminatedAt: null }, 0, 10 * H), 0);
  assert.equal(parseUsageTime('2024-01-20T00:00:00'), Date.UTC(2024, 0, 20));
  assert.equal(parseUsageTime('2024-01-20 01:00:00.5'), Date.UTC(2024, 0, 20, 1, 0, 0, 500));
  assert.equal(parseUsageTime('2024-01-20'), null);
  const flavor = { name: 'm1.tiny', vcpus: 2, ram: 512, disk: 1, ephemeral: 0 };
  const [t] = tenantUsages([
    { uuid: 'a', name: 'a', projectId: 'p', vmState: 'active', flavor, launchedAt: 0, terminatedAt: null },
    { uuid: 'b', name: 'b', projectId: 'p', vmState: null, flavor, launchedAt: 0, terminatedAt: H },
    { uuid: 'c', name: 'c', projectId: 'p', vmState: 'building', flavor, launchedAt: null, terminatedAt: null },
  ], 0, 2 * H, 2 * H, true);
  assert.equal(t!.total_hours, 3);
  assert.equal(t!.total_vcpus_usage, 6);
  assert.deepEqual(t!.server_usages!.map((s) => s.state), ['active', 'terminated']);
});
