/**
 * The host inventory file of a simulated deployment: which compute hosts exist,
 * how big they are and which SR-IOV / vDPA NICs they carry. Pure: the caller
 * reads the file and hands its text in.
 */
import AjvModule, { type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import type { DiscoveredFunction } from '../pci/device.js';
import { DeviceSpecError, parseDeviceSpecs } from '../pci/deviceSpec.js';
import type { HostVersions } from './hostVersions.js';
import { FAULT_OPERATIONS, parseHostFaults, type HostFaults, type RawFault } from './faults.js';
import { HOST_INVENTORY_SCHEMA } from './hostInventorySchema.js';
import { CURRENT_SERVICE_VERSION } from './serviceVersion.js';
import { vfAddress } from './vfAddresses.js';
import { CpuSpecError, parseCpuSpec } from '../numa/cpuSet.js';
import type { HostNumaTopology } from '../numa/hostTopology.js';

export interface NicEntry {
  pf: string; // lower-case DDDD:BB:SS.F
  vendorId: string;
  productId: string;
  numaNode: number | null;
  vfs: number;
  vfProductId: string | null;
  vdpa: boolean;
  devname: string | null;
}

export interface HostInventoryEntry {
  name: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  versions: HostVersions;
  serviceVersion: number;
  deviceSpec: unknown[];
  hostIp: string;
  nics: NicEntry[];
  /** Fault injection for the simulated driver; absent on a healthy host. */
  faults?: HostFaults;
  /** numa_cells, cpu_dedicated_set, cpu_shared_set; absent: the host is one cell (hostTopology.ts singleCellTopology). */
  numa?: HostNumaTopology;
}

export class InventoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InventoryError';
  }
}

export const DEFAULT_HOST_IP = '127.0.0.1';

const Ajv = AjvModule.default;
const validateFile = new Ajv({ allErrors: false, allowUnionTypes: true, verbose: true }).compile(HOST_INVENTORY_SCHEMA);

interface RawNic {
  pf: string; vendor_id: string; product_id: string; numa_node?: number | null; vfs: number;
  vf_product_id?: string; vdpa?: boolean; devname?: string;
}
interface RawHost {
  name: string; vcpus: number; memory_mb: number; disk_gb: number; versions: HostVersions;
  service_version?: number; host_ip?: string; device_spec?: unknown[]; nics?: RawNic[];
  faults?: Record<string, RawFault>;
  numa_cells?: Array<{ id: number; socket?: number | null; cpus: string; memory_mb: number; hugepages?: Record<string, number> }>;
  cpu_dedicated_set?: string; cpu_shared_set?: string;
}

/** Parses and checks an inventory (JSON or YAML); every error names the field or host at fault. */
export function parseHostInventory(text: string, sourceName: string): HostInventoryEntry[] {
  const fail = (where: string, problem: string): never => {
    throw new InventoryError(`${sourceName}: ${where}: ${problem}`);
  };
  let doc: unknown;
  try {
    doc = parseDocument(text);
  } catch (e) {
    return fail('(file)', `not valid YAML or JSON: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return fail('(file)', 'is empty; expected {"hosts": [...]} or a list of hosts');
  // A bare list is the same document as {"hosts": [...]}, so errors read the same.
  const file = Array.isArray(doc) ? { hosts: doc } : doc;
  if (!validateFile(file)) {
    const err = validateFile.errors![0]!;
    const [where, problem] = describeSchemaError(err);
    return fail(where, problem);
  }
  const hosts = (file as { hosts: RawHost[] }).hosts;

  const seen = new Map<string, number>();
  return hosts.map((raw, i) => {
    const where = `hosts[${i}]`;
    const first = seen.get(raw.name);
    if (first !== undefined) fail(`${where}.name`, `duplicate host name "${raw.name}" (also hosts[${first}])`);
    seen.set(raw.name, i);

    const deviceSpec = raw.device_spec ?? [];
    try {
      parseDeviceSpecs(deviceSpec);
    } catch (e) {
      if (e instanceof DeviceSpecError) fail(`${where}.device_spec (host ${raw.name})`, e.message);
      throw e;
    }
    const entry: HostInventoryEntry = {
      name: raw.name,
      vcpus: raw.vcpus,
      memoryMb: raw.memory_mb,
      diskGb: raw.disk_gb,
      versions: { kernel: raw.versions.kernel, libvirt: raw.versions.libvirt, qemu: raw.versions.qemu },
      serviceVersion: raw.service_version ?? CURRENT_SERVICE_VERSION,
      deviceSpec,
      hostIp: raw.host_ip ?? DEFAULT_HOST_IP,
      nics: (raw.nics ?? []).map(toNicEntry),
    };
    if (raw.faults !== undefined) {
      entry.faults = parseHostFaults(raw.faults, (op, problem) => fail(`${where}.faults.${op} (host ${raw.name})`, problem));
    }
    checkFunctionsDistinct(entry, (j, problem) => fail(`${where}.nics[${j}] (host ${raw.name})`, problem));
    const numa = parseNuma(raw, (field, problem) => fail(`${where}.${field} (host ${raw.name})`, problem));
    if (numa) entry.numa = numa;
    return entry;
  });
}

/**
 * JSON text goes through JSON.parse: the YAML parser builds a node tree first,
 * which for a 10,000-host file (4.6 MB) took the process to ~435 MB RSS. JSON
 * that JSON.parse rejects still gets the YAML parser (JSON is YAML), so its
 * errors read as before.
 */
function parseDocument(text: string): unknown {
  if (/^\s*[{[]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // fall through: flow-style YAML also starts with { or [
    }
  }
  return parseYaml(text);
}

/**
 * A host's NUMA cells and CPU sets, checked as a host would have them: cells
 * disjoint and named once, the dedicated and shared sets disjoint and made
 * of the cells' CPUs.
 */
function parseNuma(raw: RawHost, fail: (field: string, problem: string) => never): HostNumaTopology | undefined {
  const list = (field: string, spec: string): number[] => {
    try {
      return parseCpuSpec(spec);
    } catch (e) {
      return fail(field, (e as CpuSpecError).message);
    }
  };
  if (!raw.numa_cells && raw.cpu_dedicated_set === undefined && raw.cpu_shared_set === undefined) return undefined;
  const cells = (raw.numa_cells ?? [{ id: 0, cpus: `0-${raw.vcpus - 1}`, memory_mb: raw.memory_mb }]).map((c, i) => ({
    id: c.id, socket: c.socket ?? null, cpus: list(`numa_cells[${i}].cpus`, c.cpus), memoryMb: c.memory_mb, hugepages: { ...(c.hugepages ?? {}) },
  }));
  const owner = new Map<number, number>();
  const ids = new Set<number>();
  cells.forEach((cell, i) => {
    if (ids.has(cell.id)) fail(`numa_cells[${i}].id`, `NUMA cell ${cell.id} is given twice`);
    ids.add(cell.id);
    for (const cpu of cell.cpus) {
      const other = owner.get(cpu);
      if (other !== undefined) fail(`numa_cells[${i}].cpus`, `CPU ${cpu} is also in NUMA cell ${other}`);
      owner.set(cpu, cell.id);
    }
  });
  const set = (field: 'cpu_dedicated_set' | 'cpu_shared_set'): number[] | null => {
    if (raw[field] === undefined) return null;
    const cpus = list(field, raw[field]!);
    const stray = cpus.find((c) => !owner.has(c));
    if (stray !== undefined) fail(field, `CPU ${stray} is in no NUMA cell`);
    return cpus;
  };
  const dedicated = set('cpu_dedicated_set');
  const shared = set('cpu_shared_set');
  const both = dedicated?.find((c) => shared?.includes(c));
  if (both !== undefined) fail('cpu_shared_set', `CPU ${both} is also in cpu_dedicated_set; the two sets must be disjoint`);
  return { cells, cpuDedicatedSet: dedicated, cpuSharedSet: shared };
}

function toNicEntry(raw: RawNic): NicEntry {
  return {
    pf: raw.pf.toLowerCase(),
    vendorId: raw.vendor_id.toLowerCase(),
    productId: raw.product_id.toLowerCase(),
    numaNode: raw.numa_node ?? null,
    vfs: raw.vfs,
    vfProductId: raw.vf_product_id?.toLowerCase() ?? null,
    vdpa: raw.vdpa ?? false,
    devname: raw.devname ?? null,
  };
}

/** Two NICs whose VF ranges overlap, or VFs past the last bus, describe no real host. */
function checkFunctionsDistinct(host: HostInventoryEntry, fail: (nicIndex: number, problem: string) => never): void {
  const owner = new Map<string, number>();
  host.nics.forEach((nic, j) => {
    let addresses: string[];
    try {
      addresses = [nic.pf, ...Array.from({ length: nic.vfs }, (_, k) => vfAddress(nic.pf, k + 1))];
    } catch (e) {
      return fail(j, (e as Error).message);
    }
    for (const address of addresses) {
      const other = owner.get(address);
      if (other !== undefined) fail(j, `function ${address} already belongs to nics[${other}]`);
      owner.set(address, j);
    }
  });
}

/** The PCI functions a simulated host shows discovery: each PF, then its VFs. */
export function simulatedFunctions(host: HostInventoryEntry): DiscoveredFunction[] {
  const fns: DiscoveredFunction[] = [];
  let nextVdpa = 0;
  for (const nic of host.nics) {
    fns.push({
      address: nic.pf, vendorId: nic.vendorId, productId: nic.productId, devType: 'type-PF',
      parentAddr: null, numaNode: nic.numaNode, devname: nic.devname, vdpaName: null, vdpaChardev: null,
    });
    for (let k = 1; k <= nic.vfs; k++) {
      const n = nic.vdpa ? nextVdpa++ : null;
      fns.push({
        address: vfAddress(nic.pf, k),
        vendorId: nic.vendorId,
        productId: nic.vfProductId ?? nic.productId,
        devType: n === null ? 'type-VF' : 'vdpa',
        parentAddr: nic.pf,
        numaNode: nic.numaNode,
        devname: null,
        vdpaName: n === null ? null : `vdpa${n}`,
        vdpaChardev: n === null ? null : `/dev/vhost-vdpa-${n}`,
      });
    }
  }
  return fns;
}

export interface GenerateInventoryOptions {
  hosts: number;
  vfsPerHost: number;
  physnet?: string;
  /** Host names are prefix + index (default "compute-"). */
  prefix?: string;
  /**
   * Two NUMA cells per host as the default inventory has them (16 CPUs,
   * 64 GiB and sixteen 1 GiB pages each), the NIC on cell 0 of even hosts
   * and on cell 1 of odd ones. Absent: one cell, as before.
   */
  numaCells?: boolean;
}

const GIB_PAGE_KIB = '1048576';

function twoCells(): HostNumaTopology {
  const cell = (id: number) => ({ id, socket: id, cpus: Array.from({ length: 16 }, (_, i) => 16 * id + i), memoryMb: 65536, hugepages: { [GIB_PAGE_KIB]: 16 } });
  return { cells: [cell(0), cell(1)], cpuDedicatedSet: null, cpuSharedSet: null };
}

/** A uniform fleet for benchmarks: every host one ConnectX-6 Dx PF with vfsPerHost vDPA VFs on one physnet. */
export function generateInventory(opts: GenerateInventoryOptions): HostInventoryEntry[] {
  const physnet = opts.physnet ?? 'physnet0';
  const prefix = opts.prefix ?? 'compute-';
  if (!Number.isInteger(opts.hosts) || opts.hosts < 0) throw new InventoryError(`hosts must be a whole number, got ${opts.hosts}`);
  if (!Number.isInteger(opts.vfsPerHost) || opts.vfsPerHost < 0 || opts.vfsPerHost > 0xffff - 0x600) {
    throw new InventoryError(`vfsPerHost must be a whole number from 0 to ${0xffff - 0x600}, got ${opts.vfsPerHost}`);
  }
  return Array.from({ length: opts.hosts }, (_, i) => ({
    name: `${prefix}${i}`,
    vcpus: 32,
    memoryMb: 131072,
    diskGb: 1000,
    versions: { kernel: '6.1.0', libvirt: '9.0.0', qemu: '7.2.0' },
    serviceVersion: CURRENT_SERVICE_VERSION,
    deviceSpec: [
      { vendor_id: '15b3', product_id: '101d', physical_network: physnet },
      { vendor_id: '15b3', product_id: '101e', physical_network: physnet },
    ],
    // 10.0.0.0/8, one address per host, so hosts stay distinguishable in logs.
    hostIp: `10.${((i + 1) >> 16) & 255}.${((i + 1) >> 8) & 255}.${(i + 1) & 255}`,
    nics: [{
      pf: '0000:06:00.0', vendorId: '15b3', productId: '101d', numaNode: opts.numaCells ? i % 2 : 0,
      vfs: opts.vfsPerHost, vfProductId: '101e', vdpa: true, devname: null,
    }],
    ...(opts.numaCells ? { numa: twoCells() } : {}),
  }));
}

// ---- schema errors as "field: problem" -------------------------------------

function describeSchemaError(err: ErrorObject): [string, string] {
  const path = renderPath(err.instancePath);
  const join = (field: string) => (path === '' ? field : `${path}.${field}`);
  switch (err.keyword) {
    case 'required':
      return [join(String(err.params.missingProperty)), 'is required'];
    case 'additionalProperties': {
      const hint = /\.faults$/.test(path) ? ` (operations: ${FAULT_OPERATIONS.join(', ')})` : '';
      return [join(String(err.params.additionalProperty)), `is not a known field${hint}`];
    }
    case 'type': {
      const hint = /_id$/.test(path) ? ' (quote hex ids in YAML, e.g. "8086")' : '';
      return [path || '(top level)', `${err.message}${hint}`];
    }
    case 'pattern':
      return [path, `${err.message} (got ${JSON.stringify(err.data)})`];
    default:
      return [path || '(top level)', err.message ?? 'is not valid'];
  }
}

/** "/hosts/0/nics/1/vfs" -> "hosts[0].nics[1].vfs" */
function renderPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  }
  return out;
}
