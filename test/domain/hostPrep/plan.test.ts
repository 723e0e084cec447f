import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HostPrepConfigError, parseHostPrepConfig } from '../../../src/domain/hostPrep/config.js';
import { HostPrepPlanError, planHostPrep, vfAddressesOf, type HostState, type PfState } from '../../../src/domain/hostPrep/plan.js';
import { planScript } from '../../../src/domain/hostPrep/script.js';

const pf = (o: Partial<PfState> = {}): PfState => ({ totalVfs: 8, numVfs: 0, offset: 2, stride: 1, eswitchMode: 'legacy', ...o });
const state = (pfs: Record<string, PfState>, o: Partial<HostState> = {}): HostState => ({
  pfs: new Map(Object.entries(pfs)), vdpaBus: true, vhostVdpaLoaded: true, autoprobe: true, vdpaDevices: [], ...o,
});
const config = (nics: unknown[], extra: Record<string, unknown> = {}) => parseHostPrepConfig({ nics, ...extra });

describe('host-prep plan', { timeout: 5_000 }, () => {
  test('VF addresses follow the kernel: PF routing id + offset + i × stride, across the slot boundary', { timeout: 5_000 }, () => {
    assert.deepEqual(vfAddressesOf('0000:3b:00.0', { offset: 2, stride: 1 }, 8),
      ['0000:3b:00.2', '0000:3b:00.3', '0000:3b:00.4', '0000:3b:00.5', '0000:3b:00.6', '0000:3b:00.7', '0000:3b:01.0', '0000:3b:01.1']);
    assert.deepEqual(vfAddressesOf('0000:3b:00.1', { offset: 9, stride: 1 }, 2), ['0000:3b:01.2', '0000:3b:01.3']);
    assert.deepEqual(vfAddressesOf('0000:af:00.0', { offset: 128, stride: 2 }, 2), ['0000:af:10.0', '0000:af:10.2']);
  });

  test('a host that matches its config needs nothing', { timeout: 5_000 }, () => {
    const plan = planHostPrep(config([{ pf: '0000:3b:00.0', num_vfs: 2, eswitch_mode: 'switchdev', vdpa: true }]), state(
      { '0000:3b:00.0': pf({ numVfs: 2, eswitchMode: 'switchdev' }) },
      { vdpaDevices: [{ name: 'a', parent: '0000:3b:00.2', driver: 'vhost_vdpa' }, { name: 'b', parent: '0000:3b:00.3', driver: 'vhost_vdpa' }] },
    ));
    assert.deepEqual(plan, { steps: [], finally: [] });
    assert.equal(planScript(plan, '/sys'), '#!/bin/sh\n# vdpa-compute host-prep: the steps this host is missing\n# nothing to do: the host matches its config\n');
  });

  test('changing a non-zero VF count goes through 0 (the kernel refuses otherwise) and makes the devices again', { timeout: 5_000 }, () => {
    const plan = planHostPrep(config([{ pf: '0000:3b:00.0', num_vfs: 2, vdpa: true }]), state(
      { '0000:3b:00.0': pf({ numVfs: 1 }) }, { vdpaDevices: [{ name: 'vdpa0-0', parent: '0000:3b:00.2', driver: 'vhost_vdpa' }] },
    ));
    assert.deepEqual(planScript(plan, '/sys').split('\n').slice(3, -1), [
      "trap 'echo 1 > /sys/bus/vdpa/drivers_autoprobe' EXIT",
      'echo 0 > /sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs',
      'echo 2 > /sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs',
      'echo 0 > /sys/bus/vdpa/drivers_autoprobe',
      'vdpa dev add name vdpa0-0 mgmtdev pci/0000:3b:00.2',
      'echo vdpa0-0 > /sys/bus/vdpa/drivers/vhost_vdpa/bind',
      'vdpa dev add name vdpa0-1 mgmtdev pci/0000:3b:00.3',
      'echo vdpa0-1 > /sys/bus/vdpa/drivers/vhost_vdpa/bind',
    ]);
  });

  test('no eswitch_mode leaves the mode alone; an existing device keeps its name; autoprobe already off stays off', { timeout: 5_000 }, () => {
    const plan = planHostPrep(config([{ pf: '0000:3b:00.0', num_vfs: 2, vdpa: true, vdpa_name: 'nic{pf}-{vf}' }]), state(
      { '0000:3b:00.0': pf({ numVfs: 2, eswitchMode: null }) },
      { autoprobe: false, vdpaDevices: [{ name: 'mine', parent: '0000:3b:00.2', driver: null }] },
    ));
    assert.deepEqual(plan.steps, [
      { kind: 'write', path: 'bus/vdpa/drivers/vhost_vdpa/bind', value: 'mine' },
      { kind: 'exec', argv: ['vdpa', 'dev', 'add', 'name', 'nic00003b000-1', 'mgmtdev', 'pci/0000:3b:00.3'] },
      { kind: 'write', path: 'bus/vdpa/drivers/vhost_vdpa/bind', value: 'nic00003b000-1' },
    ]);
    assert.deepEqual(plan.finally, []);
  });

  test('refusals name the problem', { timeout: 5_000 }, () => {
    assert.throws(() => planHostPrep(config([{ pf: '0000:3b:00.0', num_vfs: 2 }]), state({})), new HostPrepPlanError('nics[0]: no PCI function 0000:3b:00.0 on this host'));
    assert.throws(() => planHostPrep(config([{ pf: '0000:3b:00.0', num_vfs: 9 }]), state({ '0000:3b:00.0': pf() })),
      /supports at most 8 VFs \(sriov_totalvfs\), not 9/);
    assert.throws(() => planHostPrep(config([{ pf: '0000:3b:00.0', num_vfs: 1, vdpa: true }]), state(
      { '0000:3b:00.0': pf({ numVfs: 1 }) }, { vdpaDevices: [{ name: 'vdpa0-0', parent: '0000:5e:00.2', driver: 'vhost_vdpa' }] },
    )), /vDPA device name vdpa0-0 is taken by the device on 0000:5e:00.2/);
    assert.throws(() => planHostPrep(config([
      { pf: '0000:3b:00.0', num_vfs: 1, vdpa: true }, { pf: '0000:3b:00.1', num_vfs: 1, vdpa: true },
    ], { vdpa_name: 'v{vf}' }), state({ '0000:3b:00.0': pf(), '0000:3b:00.1': pf({ offset: 9 }) })), /vDPA device name v0 would be given twice/);
  });

  test('the config file is checked field by field', { timeout: 5_000 }, () => {
    assert.throws(() => parseHostPrepConfig({ nics: [{ pf: '3b:00.0', num_vfs: 1 }] }), new HostPrepConfigError('nics[0].pf: expected a PCI address like 0000:3b:00.0'));
    assert.throws(() => parseHostPrepConfig({ nics: [{ pf: '0000:3b:00.0', num_vfs: -1 }] }), /nics\[0\].num_vfs/);
    assert.throws(() => parseHostPrepConfig({ nics: [{ pf: '0000:3b:00.0', num_vfs: 1, eswitch_mode: 'offload' }] }), /switchdev or legacy/);
    assert.throws(() => parseHostPrepConfig({ nics: [{ pf: '0000:3b:00.0', num_vfs: 2, vdpa: true, vdpa_name: 'same' }] }), /same name \(use \{vf\}\)/);
    assert.throws(() => parseHostPrepConfig({ nics: [{ pf: '0000:3b:00.0', num_vfs: 1, mtu: 9000 }] }), /nics\[0\]: unknown key 'mtu'/);
    assert.throws(() => parseHostPrepConfig({ nics: [{ pf: '0000:3b:00.0', num_vfs: 1 }, { pf: '0000:3B:00.0', num_vfs: 1 }] }), /listed twice/);
    assert.deepEqual(parseHostPrepConfig({ nics: [{ pf: '0000:3B:00.0', num_vfs: 4, eswitch_mode: 'switchdev', vdpa: true }] }),
      { nics: [{ pf: '0000:3b:00.0', numVfs: 4, eswitchMode: 'switchdev', vdpa: true, vdpaName: 'vdpa{nic}-{vf}' }] });
  });
});
