import { isPciAddress } from '../inventory/vfAddresses.js';

/**
 * What `vdpa-compute host-prep --config FILE` asks of a hypervisor: per NIC
 * (SR-IOV physical function) how many VFs, which eswitch mode, and whether
 * every VF carries a vDPA device bound to vhost_vdpa. Parsed from the YAML
 * file's plain data; errors name the field.
 */
export type EswitchMode = 'switchdev' | 'legacy';

export interface NicTarget {
  /** The PF's PCI address, lower case (0000:3b:00.0). */
  pf: string;
  numVfs: number;
  /** Left as it is when absent. */
  eswitchMode: EswitchMode | null;
  /** Every VF gets a vDPA device (through the `vdpa` tool) bound to vhost_vdpa. */
  vdpa: boolean;
  /** Name of each new vDPA device: `{nic}` the NIC's index in the list, `{vf}` the VF's index, `{pf}` the PF address in hex digits. */
  vdpaName: string;
}

export interface HostPrepConfig {
  nics: NicTarget[];
}

export const DEFAULT_VDPA_NAME = 'vdpa{nic}-{vf}';
/** The vdpa tool's name limit is the kernel's device name; keep to characters every shell and sysfs takes. */
const VDPA_NAME = /^[A-Za-z0-9_.-]{1,32}$/;

export class HostPrepConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostPrepConfigError';
  }
}

/** The vDPA device name a pattern gives the VF `vf` of the NIC at `nic`. */
export function vdpaNameFor(pattern: string, nic: number, pf: string, vf: number): string {
  return pattern.replaceAll('{nic}', String(nic)).replaceAll('{vf}', String(vf)).replaceAll('{pf}', pf.replace(/[^0-9a-f]/g, ''));
}

const NIC_KEYS = new Set(['pf', 'num_vfs', 'eswitch_mode', 'vdpa', 'vdpa_name']);
const TOP_KEYS = new Set(['nics', 'vdpa_name']);

export function parseHostPrepConfig(raw: unknown): HostPrepConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new HostPrepConfigError('expected a mapping with a `nics` list');
  const top = raw as Record<string, unknown>;
  for (const key of Object.keys(top)) if (!TOP_KEYS.has(key)) throw new HostPrepConfigError(`unknown key '${key}'`);
  const defaultName = top.vdpa_name === undefined ? DEFAULT_VDPA_NAME : top.vdpa_name;
  if (typeof defaultName !== 'string') throw new HostPrepConfigError('vdpa_name must be a string');
  if (!Array.isArray(top.nics)) throw new HostPrepConfigError('nics must be a list');
  const nics = top.nics.map((n, i) => parseNic(n, i, defaultName));
  const seen = new Set<string>();
  for (const [i, nic] of nics.entries()) {
    if (seen.has(nic.pf)) throw new HostPrepConfigError(`nics[${i}].pf: ${nic.pf} is listed twice`);
    seen.add(nic.pf);
  }
  return { nics };
}

function parseNic(raw: unknown, i: number, defaultName: string): NicTarget {
  const at = `nics[${i}]`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new HostPrepConfigError(`${at}: expected a mapping`);
  const n = raw as Record<string, unknown>;
  for (const key of Object.keys(n)) if (!NIC_KEYS.has(key)) throw new HostPrepConfigError(`${at}: unknown key '${key}'`);
  if (typeof n.pf !== 'string' || !isPciAddress(n.pf.toLowerCase())) {
    throw new HostPrepConfigError(`${at}.pf: expected a PCI address like 0000:3b:00.0`);
  }
  if (typeof n.num_vfs !== 'number' || !Number.isInteger(n.num_vfs) || n.num_vfs < 0) {
    throw new HostPrepConfigError(`${at}.num_vfs: expected a whole number of VFs (0 or more)`);
  }
  const mode = n.eswitch_mode ?? null;
  if (mode !== null && mode !== 'switchdev' && mode !== 'legacy') throw new HostPrepConfigError(`${at}.eswitch_mode: expected switchdev or legacy`);
  const vdpa = n.vdpa ?? false;
  if (typeof vdpa !== 'boolean') throw new HostPrepConfigError(`${at}.vdpa: expected true or false`);
  const vdpaName = n.vdpa_name ?? defaultName;
  if (typeof vdpaName !== 'string') throw new HostPrepConfigError(`${at}.vdpa_name: expected a string`);
  const pf = n.pf.toLowerCase();
  if (vdpa && n.num_vfs > 0) {
    const names = new Set(Array.from({ length: n.num_vfs }, (_x, vf) => vdpaNameFor(vdpaName, i, pf, vf)));
    const sample = vdpaNameFor(vdpaName, i, pf, 0);
    if (!VDPA_NAME.test(sample)) throw new HostPrepConfigError(`${at}.vdpa_name: '${sample}' is not a usable device name (letters, digits, _ . -; at most 32)`);
    if (names.size !== n.num_vfs) throw new HostPrepConfigError(`${at}.vdpa_name: '${vdpaName}' gives every VF the same name (use {vf})`);
  }
  return { pf, numVfs: n.num_vfs, eswitchMode: mode, vdpa, vdpaName };
}
