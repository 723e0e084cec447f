/**
 * Writes the host-prep fixture trees in test/fixtures/hostprep/ (after
 * changing them: `VDPA_WRITE_HOSTPREP_FIXTURES=1 node dist/test/helpers/makeHostPrepFixtures.js`;
 * without the variable it does nothing, as when the test runner loads every
 * file under dist/test/). Two
 * ConnectX-style PFs: 0000:3b:00.0 (VFs from 3b:00.2, offset 2, stride 1)
 * and 0000:3b:00.1 (offset 9: its VFs start at 3b:01.2, past the first PF's 8).
 */
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { buildHostTree, type PfSpec, type TreeSpec } from './hostPrepTree.js';

const DIR = resolve(import.meta.dirname, '../../../test/fixtures/hostprep');

const pf0 = (numVfs: number, eswitch: PfSpec['eswitch']): PfSpec => ({ address: '0000:3b:00.0', totalVfs: 8, offset: 2, stride: 1, numVfs, eswitch });
const pf1 = (numVfs: number, eswitch: PfSpec['eswitch']): PfSpec => ({ address: '0000:3b:00.1', totalVfs: 8, offset: 9, stride: 1, numVfs, eswitch });
const vhost = (name: string, vf: string) => ({ name, vf, driver: 'vhost_vdpa' });

export const FIXTURES: Record<string, TreeSpec> = {
  // Nothing done: no VFs, legacy eswitch, the vdpa modules not loaded.
  fresh: { pfs: [pf0(0, 'legacy'), pf1(0, 'legacy')], vdpaModule: false, drivers: [], autoprobe: 1, vdpa: [] },
  // The first PF halfway: VFs in switchdev, one device right, one on virtio_vdpa, one unbound, one VF without; the second PF untouched.
  'half-prepared': {
    pfs: [pf0(4, 'switchdev'), pf1(0, 'legacy')], vdpaModule: true, drivers: ['vhost_vdpa', 'virtio_vdpa'], autoprobe: 1,
    vdpa: [vhost('vdpa0-0', '0000:3b:00.2'), { name: 'vdpa0-1', vf: '0000:3b:00.3', driver: 'virtio_vdpa' }, { name: 'vdpa0-2', vf: '0000:3b:00.4', driver: null }],
  },
  prepared: {
    pfs: [pf0(4, 'switchdev'), pf1(2, 'switchdev')], vdpaModule: true, drivers: ['vhost_vdpa'], autoprobe: 1,
    vdpa: [
      vhost('vdpa0-0', '0000:3b:00.2'), vhost('vdpa0-1', '0000:3b:00.3'), vhost('vdpa0-2', '0000:3b:00.4'), vhost('vdpa0-3', '0000:3b:00.5'),
      vhost('vdpa1-0', '0000:3b:01.2'), vhost('vdpa1-1', '0000:3b:01.3'),
    ],
  },
  // The first PF's VFs and devices exist, but in legacy mode: everything on it is made again.
  'wrong-eswitch-mode': {
    pfs: [pf0(4, 'legacy'), pf1(2, 'switchdev')], vdpaModule: true, drivers: ['vhost_vdpa'], autoprobe: 1,
    vdpa: [
      vhost('vdpa0-0', '0000:3b:00.2'), vhost('vdpa0-1', '0000:3b:00.3'), vhost('vdpa0-2', '0000:3b:00.4'), vhost('vdpa0-3', '0000:3b:00.5'),
      vhost('vdpa1-0', '0000:3b:01.2'), vhost('vdpa1-1', '0000:3b:01.3'),
    ],
  },
};

if (process.env.VDPA_WRITE_HOSTPREP_FIXTURES === '1') {
  for (const [name, spec] of Object.entries(FIXTURES)) {
    await rm(join(DIR, name), { recursive: true, force: true });
    await buildHostTree(join(DIR, name), spec);
  }
  process.stderr.write(`wrote ${Object.keys(FIXTURES).join(', ')} under ${DIR}\n`);
}
