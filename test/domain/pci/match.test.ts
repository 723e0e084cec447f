import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { requestColumns, requestIndexKey, poolIndexKey, anyNetworkIndexKey, servesRequest, type PciTraits } from '../../../src/domain/pci/match.js';
import { freeServing, poolsSatisfy, type Pool } from '../../../src/domain/pci/pools.js';
import type { PciRequest, PciRequestSpec } from '../../../src/domain/pci/request.js';

/**
 * The one rule (match.ts) pinned case by case. Each row is checked on a device
 * (physicalNetwork null when untagged) and on the pool it belongs to ('' when
 * untagged): both must give the same answer.
 */
const cx6Vdpa: PciTraits = { devType: 'vdpa', physicalNetwork: 'physnet0', vendorId: '15b3', productId: '101e' };
const cx6Vf: PciTraits = { ...cx6Vdpa, devType: 'type-VF' };
const cx6Pf: PciTraits = { devType: 'type-PF', physicalNetwork: 'physnet0', vendorId: '15b3', productId: '101d' };
const untaggedVdpa: PciTraits = { ...cx6Vdpa, physicalNetwork: null };
const intelVf: PciTraits = { devType: 'type-VF', physicalNetwork: 'physnet1', vendorId: '8086', productId: '154c' };
const gpu: PciTraits = { devType: 'type-PCI', physicalNetwork: null, vendorId: '10de', productId: '1db4' };

const RULES: Array<[string, PciTraits, PciRequestSpec, boolean]> = [
  // device type: exact
  ['vdpa port, vdpa VF on its network', cx6Vdpa, { devType: 'vdpa', physicalNetwork: 'physnet0' }, true],
  ['vdpa port never gets a plain VF', cx6Vf, { devType: 'vdpa', physicalNetwork: 'physnet0' }, false],
  ['direct port never gets a vdpa VF, same ids', cx6Vdpa, { devType: 'type-VF', physicalNetwork: 'physnet0' }, false],
  ['type-VF alias never gets a vdpa VF, same ids', cx6Vdpa, { devType: 'type-VF', vendorId: '15b3', productId: '101e' }, false],
  ['direct-physical port gets a PF', cx6Pf, { devType: 'type-PF', physicalNetwork: 'physnet0' }, true],
  ['a VF request never gets a PF', cx6Pf, { devType: 'type-VF', vendorId: '15b3' }, false],
  ['type-PCI alias gets a plain device', gpu, { devType: 'type-PCI', vendorId: '10de', productId: '1db4' }, true],
  // physical_network
  ['a named network: another network does not serve', cx6Vdpa, { devType: 'vdpa', physicalNetwork: 'physnet1' }, false],
  ['a named network: an untagged device does not serve', untaggedVdpa, { devType: 'vdpa', physicalNetwork: 'physnet0' }, false],
  ['a named network compares exactly', cx6Vdpa, { devType: 'vdpa', physicalNetwork: 'PhysNet0' }, false],
  ['no network (port on a tunnel network): an untagged device serves', untaggedVdpa, { devType: 'vdpa', physicalNetwork: null }, true],
  ['no network (port on a tunnel network): a tagged device does not', cx6Vdpa, { devType: 'vdpa', physicalNetwork: null }, false],
  ['network not named (alias): a tagged device serves', intelVf, { devType: 'type-VF', vendorId: '8086', productId: '154c' }, true],
  ['network not named (alias): an untagged device serves', gpu, { devType: 'type-PCI', vendorId: '10de' }, true],
  // vendor / product, case
  ['vendor only: any product of it', intelVf, { devType: 'type-VF', vendorId: '8086' }, true],
  ['vendor only: another vendor does not', cx6Vf, { devType: 'type-VF', vendorId: '8086' }, false],
  ['product differs', intelVf, { devType: 'type-VF', vendorId: '8086', productId: '1520' }, false],
  ['ids compare without case (request upper)', cx6Vf, { devType: 'type-VF', vendorId: '15B3', productId: '101E' }, true],
  ['ids compare without case (device upper)', { ...cx6Vf, productId: '101E' }, { devType: 'type-VF', productId: '101e' }, true],
  ['case folding is for letters only', { ...gpu, productId: '1db4' }, { devType: 'type-PCI', productId: '\u0011db4' }, false],
];

const asPool = (t: PciTraits, free = 1): Pool => ({ ...t, physicalNetwork: t.physicalNetwork ?? '', free, total: free });

describe('the rule: servesRequest', () => {
  for (const [name, traits, spec, expected] of RULES) {
    test(name, { timeout: 120_000 }, () => {
      assert.equal(servesRequest(traits, spec), expected, 'device');
      assert.equal(servesRequest(asPool(traits), spec), expected, 'pool');
      // The SQL's column conditions say the same for rows as they store them (lower-case ids, '' for an untagged pool).
      const c = requestColumns(spec);
      const row = asPool(traits);
      const sqlSays = row.devType === c.devType
        && (c.physicalNetwork === undefined || row.physicalNetwork === (c.physicalNetwork ?? ''))
        && (c.vendorId === undefined || row.vendorId.toLowerCase() === c.vendorId)
        && (c.productId === undefined || row.productId.toLowerCase() === c.productId);
      assert.equal(sqlSays, expected, 'column conditions');
    });
  }
});

describe('the candidate index looks a request up under a key the pool is filed under whenever the rule accepts it', () => {
  for (const [name, traits, spec] of RULES.filter(([, , , expected]) => expected)) {
    test(name, { timeout: 120_000 }, () => {
      const row = asPool(traits);
      const poolKeys = [poolIndexKey(row.devType, row.physicalNetwork), anyNetworkIndexKey(row.devType)];
      assert.ok(poolKeys.includes(requestIndexKey(spec)), 'index key');
    });
  }
});

function request(id: string, count: number, spec: PciRequestSpec): PciRequest {
  return { id, count, spec, source: { kind: 'alias', alias: id } };
}

const intel154c: Pool = { devType: 'type-VF', physicalNetwork: 'physnet0', vendorId: '8086', productId: '154c', free: 1, total: 2 };
const intel1520: Pool = { devType: 'type-VF', physicalNetwork: 'physnet0', vendorId: '8086', productId: '1520', free: 1, total: 2 };
const intelUntagged: Pool = { devType: 'type-VF', physicalNetwork: '', vendorId: '8086', productId: '154c', free: 2, total: 2 };
const vdpa0: Pool = { devType: 'vdpa', physicalNetwork: 'physnet0', vendorId: '15b3', productId: '101e', free: 2, total: 4 };
const vdpa1: Pool = { devType: 'vdpa', physicalNetwork: 'physnet1', vendorId: '15b3', productId: '101e', free: 1, total: 4 };

const anyIntelVf = (id: string, count: number) => request(id, count, { devType: 'type-VF', vendorId: '8086' });
const port = (id: string, devType: 'vdpa' | 'type-VF', physicalNetwork: string | null) => request(id, 1, { devType, physicalNetwork });

const POOLS: Array<[string, Pool[], PciRequest[], boolean]> = [
  ['no request', [], [], true],
  ['a request spread over two pools (an alias without a product id over two VF models)', [intel154c, intel1520], [anyIntelVf('a', 2)], true],
  ['the same request for one more than both pools hold', [intel154c, intel1520], [anyIntelVf('a', 3)], false],
  ['an alias takes tagged and untagged pools together', [intel154c, intel1520, intelUntagged], [anyIntelVf('a', 4)], true],
  ['a port on a tunnel network counts only the untagged pool', [intel154c, intel1520, intelUntagged], [port('p', 'type-VF', null), port('q', 'type-VF', null), port('r', 'type-VF', null)], false],
  ['two ports on a tunnel network fit the untagged pool', [intel154c, intelUntagged], [port('p', 'type-VF', null), port('q', 'type-VF', null)], true],
  ['requests competing for one pool do not count a device twice', [vdpa0], [port('p', 'vdpa', 'physnet0'), port('q', 'vdpa', 'physnet0'), port('r', 'vdpa', 'physnet0')], false],
  ['an any-network request leaves the named pools to the named requests', [vdpa0, vdpa1], [request('x', 1, { devType: 'vdpa' }), port('p', 'vdpa', 'physnet0'), port('q', 'vdpa', 'physnet0')], true],
  ['… but not more than there is', [vdpa0, vdpa1], [request('x', 1, { devType: 'vdpa' }), port('p', 'vdpa', 'physnet0'), port('q', 'vdpa', 'physnet0'), port('r', 'vdpa', 'physnet1')], false],
  ['a specific request and a spread request share two pools', [intel154c, intel1520], [request('s', 1, { devType: 'type-VF', vendorId: '8086', productId: '1520' }), anyIntelVf('a', 1)], true],
  ['… the spread request cannot also take the specific one\'s device', [intel154c, intel1520], [request('s', 1, { devType: 'type-VF', vendorId: '8086', productId: '1520' }), anyIntelVf('a', 2)], false],
  ['ids without case, across a tagged and an untagged pool', [intel154c, intel1520, intelUntagged], [request('a', 3, { devType: 'type-VF', vendorId: '8086', productId: '154C' })], true],
  ['a request for no device asks for nothing', [], [anyIntelVf('a', 0)], true],
  ['a pool with nothing free counts for nothing', [{ ...intel154c, free: 0 }, intel1520], [anyIntelVf('a', 2)], false],
];

describe('the rule over pools: poolsSatisfy', () => {
  for (const [name, pools, requests, expected] of POOLS) {
    test(name, { timeout: 120_000 }, () => {
      assert.equal(poolsSatisfy(pools, requests), expected);
    });
  }
});

describe('each request of a satisfiable set alone needs no more than the pools the rule lets serve it (what the SQL pre-filter sums)', () => {
  for (const [name, pools, requests] of POOLS.filter(([, , , expected]) => expected)) {
    test(name, { timeout: 120_000 }, () => {
      for (const r of requests) assert.ok(freeServing(pools, r) >= r.count, r.id);
    });
  }
});
