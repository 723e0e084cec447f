import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectHosts } from '../../../src/domain/scheduling/pipeline.js';
import { groupAttempts, groupPlacementOf, groupRejects } from '../../../src/domain/scheduling/serverGroups.js';
import type { GroupPlacement, HostState, ResourceRequest } from '../../../src/domain/scheduling/types.js';

const U = { timeout: 120_000 };

function host(name: string, freeRamMb = 8192): HostState {
  return { host: name, enabled: true, up: true, freeVcpus: 8, freeRamMb, freeDiskGb: 100, totalRamMb: 16384, pools: [] };
}
const HOSTS = ['h0', 'h1', 'h2', 'h3'].map((h) => host(h));
const request = (group?: GroupPlacement): ResourceRequest => ({ vcpus: 1, memoryMb: 512, diskGb: 1, pciRequests: [], ...(group ? { group } : {}) });
const group = (policy: GroupPlacement['policy'], membersOnHost: Record<string, number>, maxServerPerHost = 1): GroupPlacement =>
  ({ id: 'g', policy, maxServerPerHost, membersOnHost });

test('ServerGroupAntiAffinityFilter: fewer than max_server_per_host members (default 1)', U, () => {
  const sel = selectHosts(HOSTS, request(group('anti-affinity', { h0: 1, h1: 1 })));
  assert.deepEqual(sel.ranked.map((h) => h.host).sort(), ['h2', 'h3']);
  assert.equal(sel.rejections.ServerGroupAntiAffinityFilter?.count, 2);
  const two = selectHosts(HOSTS, request(group('anti-affinity', { h0: 2, h1: 1 }, 2)));
  assert.deepEqual(two.ranked.map((h) => h.host).sort(), ['h1', 'h2', 'h3']);
  assert.equal(groupPlacementOf({ id: 'g', policy: 'anti-affinity', rules: {} }, {})?.maxServerPerHost, 1);
  assert.equal(groupPlacementOf({ id: 'g', policy: 'legacy', rules: {} }, {}), null);
});

test('ServerGroupAffinityFilter: any host for the first member, then only the members\' hosts', U, () => {
  assert.equal(selectHosts(HOSTS, request(group('affinity', {}))).ranked.length, 4);
  const sel = selectHosts(HOSTS, request(group('affinity', { h2: 1 })));
  assert.deepEqual(sel.ranked.map((h) => h.host), ['h2']);
  assert.match(groupRejects('h0', group('affinity', { h2: 1 }))!, /runs on h2/);
});

test('soft weighers: members on host count for soft-affinity and against soft-anti-affinity; nothing is filtered', U, () => {
  // h0 has the most free RAM (the RAM weigher's favourite); the members on h1 outweigh it for soft-affinity.
  const hosts = [host('h0', 16000), host('h1', 12000), host('h2', 8000)];
  const soft = selectHosts(hosts, request(group('soft-affinity', { h1: 2 })));
  assert.equal(soft.ranked[0]!.host, 'h1');
  const anti = selectHosts([host('h0', 9000), host('h1', 8000), host('h2', 7000)], request(group('soft-anti-affinity', { h0: 3 })));
  assert.equal(anti.ranked.length, 3);
  assert.equal(anti.ranked[0]!.host, 'h1');
  assert.equal(groupRejects('h0', group('soft-anti-affinity', { h0: 9 })), null);
});

test('groupAttempts: hard policies one request (affinity narrowed to member hosts), soft ones the preference then any host', U, () => {
  const plain = request();
  assert.deepEqual(groupAttempts(plain), [plain]);
  const aff = groupAttempts(request(group('affinity', { h1: 1 })));
  assert.deepEqual(aff.map((r) => r.onlyHosts), [['h1']]);
  // A requested host outside the members' hosts leaves nothing (No valid host).
  assert.deepEqual(groupAttempts({ ...request(group('affinity', { h1: 1 })), onlyHosts: ['h3'] })[0]!.onlyHosts, []);
  assert.equal(groupAttempts(request(group('anti-affinity', { h1: 1 }))).length, 1);
  const softAff = groupAttempts(request(group('soft-affinity', { h1: 1 })));
  assert.deepEqual(softAff.map((r) => r.onlyHosts), [['h1'], undefined]);
  const softAnti = groupAttempts({ ...request(group('soft-anti-affinity', { h1: 1, h2: 1 })), excludeHosts: ['h0'] });
  assert.deepEqual(softAnti.map((r) => r.excludeHosts), [['h0', 'h1', 'h2'], ['h0']]);
});
