/**
 * The NUMA topology a guest asks for, from its flavor's extra specs and its
 * image's properties: Nova's numa_get_constraints (nova/virt/hardware.py),
 * with its precedence rules and its messages. A guest that asks for none of
 * nodes, huge pages or pinning has no topology (null) and costs the
 * scheduler nothing.
 */
import { BadRequest, Forbidden } from '../errors.js';
import { CpuSpecError, parseCpuSpec } from './cpuSet.js';
import { SMALL_PAGE_KIB } from './hostTopology.js';

export type CpuPolicy = 'shared' | 'dedicated' | 'mixed';
export type CpuThreadPolicy = 'prefer' | 'isolate' | 'require';
export type EmulatorThreadsPolicy = 'share' | 'isolate';
export type PciNumaPolicy = 'required' | 'legacy' | 'preferred' | 'socket';
/** A size in KiB, or one of Nova's aliases. */
export type PageSizeRequest = number | 'small' | 'large' | 'any';

export const CPU_POLICIES: readonly CpuPolicy[] = ['dedicated', 'shared', 'mixed'];
export const CPU_THREAD_POLICIES: readonly CpuThreadPolicy[] = ['prefer', 'isolate', 'require'];
export const EMULATOR_THREADS_POLICIES: readonly EmulatorThreadsPolicy[] = ['share', 'isolate'];
export const PCI_NUMA_POLICIES: readonly PciNumaPolicy[] = ['required', 'legacy', 'preferred', 'socket'];

export interface GuestNumaCell {
  id: number;
  /** Guest CPUs of the cell that float (shared). */
  cpus: number[];
  /** Guest CPUs of the cell pinned one to one to host CPUs. */
  pinnedCpus: number[];
  memoryMb: number;
}

export interface GuestNumaTopology {
  cells: GuestNumaCell[];
  cpuPolicy: CpuPolicy | null;
  cpuThreadPolicy: CpuThreadPolicy | null;
  emulatorThreadsPolicy: EmulatorThreadsPolicy | null;
  pageSize: PageSizeRequest | null;
}

export interface FlavorShape {
  vcpus: number;
  ram: number;
  extra_specs: Record<string, string>;
}

export type ImageProperties = Record<string, unknown>;

/** Python's str() of a tuple of strings, as Nova prints its `available` values. */
const pyTuple = (values: readonly string[]): string => `(${values.map((v) => `'${v}'`).join(', ')})`;

function imageValue(props: ImageProperties, key: string): string | undefined {
  const v = props[key];
  if (v === undefined || v === null || v === '') return undefined;
  return String(v);
}

/** hw:<name> of the flavor and hw_<name> of the image (Nova's _get_flavor_image_meta). */
function flavorAndImage(name: string, flavor: FlavorShape, image: ImageProperties): [string | undefined, string | undefined] {
  const f = flavor.extra_specs[`hw:${name}`];
  return [f === '' ? undefined : f, imageValue(image, `hw_${name}`)];
}

export function cpuPolicyOf(flavor: FlavorShape, image: ImageProperties): CpuPolicy | null {
  const [f, i] = flavorAndImage('cpu_policy', flavor, image);
  const invalid = (source: string, given: string) => new BadRequest(
    `CPU policy requested from '${source}' is invalid, given: '${given}', available: '${pyTuple(CPU_POLICIES)}'.`);
  if (f && !CPU_POLICIES.includes(f as CpuPolicy)) throw invalid('flavor extra specs', f);
  if (i && !CPU_POLICIES.includes(i as CpuPolicy)) throw invalid('image properties', i);
  const forbidden = () => new BadRequest("Image property 'hw_cpu_policy' is not permitted to override CPU pinning policy set against the flavor");
  if (f === 'dedicated') return 'dedicated';
  if (f === 'mixed') {
    if (i === 'dedicated') throw forbidden();
    return 'mixed';
  }
  if (f === 'shared') {
    if (i === 'mixed' || i === 'dedicated') throw forbidden();
    return 'shared';
  }
  return (i as CpuPolicy | undefined) ?? null;
}

export function cpuThreadPolicyOf(flavor: FlavorShape, image: ImageProperties): CpuThreadPolicy | null {
  const [f, i] = flavorAndImage('cpu_thread_policy', flavor, image);
  const invalid = (source: string, given: string) => new BadRequest(
    `CPU thread policy requested from '${source}' is invalid, given: '${given}', available: '${pyTuple(CPU_THREAD_POLICIES)}'.`);
  if (f && !CPU_THREAD_POLICIES.includes(f as CpuThreadPolicy)) throw invalid('flavor extra specs', f);
  if (i && !CPU_THREAD_POLICIES.includes(i as CpuThreadPolicy)) throw invalid('image properties', i);
  if (f === undefined || f === 'prefer') return ((f ?? i) as CpuThreadPolicy | undefined) ?? null;
  if (i && i !== f) {
    throw new BadRequest("Image property 'hw_cpu_thread_policy' is not permitted to override CPU thread pinning policy set against the flavor");
  }
  return f as CpuThreadPolicy;
}

function emulatorThreadsPolicyOf(flavor: FlavorShape): EmulatorThreadsPolicy | null {
  const p = flavor.extra_specs['hw:emulator_threads_policy'];
  if (!p) return null;
  if (!EMULATOR_THREADS_POLICIES.includes(p as EmulatorThreadsPolicy)) {
    throw new BadRequest(`CPU emulator threads option requested is invalid, given: '${p}', available: '${pyTuple(EMULATOR_THREADS_POLICIES)}'.`);
  }
  return p as EmulatorThreadsPolicy;
}

function cpuList(spec: string): number[] {
  try {
    return parseCpuSpec(spec);
  } catch (e) {
    throw new BadRequest((e as CpuSpecError).message);
  }
}

const MIXED_MASK_MESSAGE = "Mixed instance must have at least 1 pinned vCPU and 1 unpinned vCPU. See 'hw:cpu_dedicated_mask'.";

/** hw:cpu_dedicated_mask as a set of guest CPUs ("^0" = all but vCPU 0). */
function dedicatedMaskOf(flavor: FlavorShape): number[] | null {
  const mask = flavor.extra_specs['hw:cpu_dedicated_mask'];
  if (!mask) return null;
  const pinned = mask.trim().startsWith('^') ? cpuList(`0-${flavor.vcpus - 1},${mask}`) : cpuList(mask);
  const all = new Set(Array.from({ length: flavor.vcpus }, (_, i) => i));
  const floating = [...all].filter((c) => !pinned.includes(c));
  if (pinned.length === 0 || floating.length === 0) throw new BadRequest(MIXED_MASK_MESSAGE);
  if (!pinned.every((c) => all.has(c))) {
    throw new BadRequest('Mixed instance dedicated vCPU(s) mask is not a subset of vCPUs in the flavor. See "hw:cpu_dedicated_mask"');
  }
  return pinned;
}

/** hw:cpu_realtime_mask, read only as the other way of naming a mixed guest's pinned CPUs. */
function realtimeMaskOf(flavor: FlavorShape): number[] | null {
  const mask = flavor.extra_specs['hw:cpu_realtime_mask'];
  if (!mask) return null;
  return cpuList(`0-${flavor.vcpus - 1},${mask}`);
}

function nodeCountOf(flavor: FlavorShape, image: ImageProperties): number | null {
  const [f, i] = flavorAndImage('numa_nodes', flavor, image);
  if (f && i) throw new BadRequest("Image property 'hw_numa_nodes' is not permitted to override NUMA configuration set against the flavor");
  const nodes = f ?? i;
  if (nodes === undefined) return null;
  if (!/^\s*[-+]?\d+\s*$/.test(nodes) || Number.parseInt(nodes, 10) < 1) {
    throw new BadRequest(`The property 'numa_nodes' cannot be '${nodes}'. It must be a number greater than 0`);
  }
  return Number.parseInt(nodes, 10);
}

/** "2MB" → 2048, "1GB"/"1GiB" → 1048576 (oslo string_to_bytes, IEC units), "2048" → 2048 KiB. */
export function pageSizeKiB(request: string): number | null {
  if (/^\d+$/.test(request)) return Number(request);
  const m = /^(\d+(?:\.\d+)?)([KMGT])?(i)?(b|bit|B)$/.exec(request);
  if (!m) return null;
  const power = { K: 1, M: 2, G: 3, T: 4 }[(m[2] ?? '') as 'K'] ?? 0;
  let bytes = Number(m[1]) * 1024 ** power;
  if (m[4] === 'bit' || m[4] === 'b') bytes /= 8;
  return Math.floor(bytes / 1024);
}

function pageSizeValue(request: string): PageSizeRequest {
  if (request === 'any' || request === 'large' || request === 'small') return request;
  const kib = pageSizeKiB(request);
  if (kib === null) throw new BadRequest(`Invalid memory page size '${request}'`);
  return kib;
}

export function pageSizeOf(flavor: FlavorShape, image: ImageProperties): PageSizeRequest | null {
  const [f, i] = flavorAndImage('mem_page_size', flavor, image);
  if (!f && i) throw new BadRequest(`Page size ${i} forbidden against '<empty>'`);
  if (!f) return null;
  const size = pageSizeValue(f);
  if (i && (size === 'any' || size === 'large')) return pageSizeValue(i);
  if (i) throw new BadRequest(`Page size ${i} forbidden against '${f}'`);
  return size === SMALL_PAGE_KIB ? 'small' : size;
}

/** hw:numa_cpus.N / hw:numa_mem.N (flavor) or hw_numa_cpus.N / hw_numa_mem.N (image), by node. */
function perNodeLists(flavor: FlavorShape, image: ImageProperties, name: 'cpus' | 'mem'): Map<number, string> | null {
  const collect = (entries: Array<[string, unknown]>, prefix: string) => {
    const out = new Map<number, string>();
    for (const [k, v] of entries) {
      const m = new RegExp(`^${prefix}\\.(\\d+)$`).exec(k);
      if (m && v !== undefined && v !== null) out.set(Number(m[1]), String(v));
    }
    return out.size ? out : null;
  };
  const f = collect(Object.entries(flavor.extra_specs), `hw:numa_${name}`);
  const i = collect(Object.entries(image), `hw_numa_${name}`);
  if (f && i) throw new BadRequest(`Image property 'hw_numa_${name}' is not permitted to override NUMA configuration set against the flavor`);
  return f ?? i;
}

const INCOMPLETE = 'CPU and memory allocation must be provided for all NUMA nodes';

function manualCells(nodes: number, flavor: FlavorShape, pinned: Set<number>, cpusByNode: Map<number, string>, memByNode: Map<number, string>): GuestNumaCell[] {
  if (cpusByNode.size !== nodes || memByNode.size !== nodes) throw new BadRequest(INCOMPLETE);
  const unassigned = new Set(Array.from({ length: flavor.vcpus }, (_, i) => i));
  const cells: GuestNumaCell[] = [];
  let total = 0;
  for (let node = 0; node < nodes; node++) {
    const cpusText = cpusByNode.get(node);
    const memText = memByNode.get(node);
    if (cpusText === undefined || memText === undefined) throw new BadRequest(INCOMPLETE);
    const cpus = cpuList(cpusText);
    for (const cpu of cpus) {
      if (cpu > flavor.vcpus - 1) throw new BadRequest(`CPU number ${cpu} is larger than max ${flavor.vcpus - 1}`);
      if (!unassigned.has(cpu)) throw new BadRequest(`CPU number ${cpu} is assigned to two nodes`);
      unassigned.delete(cpu);
    }
    const mem = Number.parseInt(memText, 10);
    cells.push({ id: node, cpus: cpus.filter((c) => !pinned.has(c)), pinnedCpus: cpus.filter((c) => pinned.has(c)), memoryMb: mem });
    total += mem;
  }
  if (unassigned.size) throw new BadRequest(`CPU number {${[...unassigned].join(', ')}} is not assigned to any node`);
  if (total !== flavor.ram) throw new BadRequest(`${total} MB of memory assigned, but expected ${flavor.ram} MB`);
  return cells;
}

function autoCells(nodes: number, flavor: FlavorShape, pinned: Set<number>): GuestNumaCell[] {
  if (flavor.vcpus % nodes !== 0 || flavor.ram % nodes !== 0) {
    throw new BadRequest('Instance CPUs and/or memory cannot be evenly distributed across instance NUMA nodes. Explicit assignment of CPUs and memory to nodes is required');
  }
  const per = flavor.vcpus / nodes;
  return Array.from({ length: nodes }, (_, node) => {
    const cpus = Array.from({ length: per }, (_, k) => node * per + k);
    return { id: node, cpus: cpus.filter((c) => !pinned.has(c)), pinnedCpus: cpus.filter((c) => pinned.has(c)), memoryMb: flavor.ram / nodes };
  });
}

/**
 * The guest's NUMA topology, or null when it asks for none. Throws
 * BadRequest with Nova's message for an invalid or conflicting request.
 */
export function guestNumaTopology(flavor: FlavorShape, image: ImageProperties = {}): GuestNumaTopology | null {
  const cpuPolicy = cpuPolicyOf(flavor, image);
  const cpuThreadPolicy = cpuThreadPolicyOf(flavor, image);
  const realtime = realtimeMaskOf(flavor);
  let dedicated = dedicatedMaskOf(flavor);
  const emulatorThreadsPolicy = emulatorThreadsPolicyOf(flavor);

  if (cpuPolicy === null || cpuPolicy === 'shared') {
    if (cpuThreadPolicy) throw new BadRequest('Cannot set cpu thread pinning policy in a non dedicated cpu pinning policy');
    if (emulatorThreadsPolicy === 'isolate') throw new BadRequest('An isolated CPU emulator threads option requires a dedicated CPU policy option.');
    if (dedicated) throw new BadRequest("Cannot specify 'hw:cpu_dedicated_mask' without the 'mixed' policy.");
    if (realtime) throw new BadRequest('Cannot set realtime policy in a non dedicated cpu pinning policy');
  } else if (cpuPolicy === 'dedicated') {
    if (dedicated) throw new BadRequest("Cannot specify 'hw:cpu_dedicated_mask' without the 'mixed' policy.");
  } else if ((realtime && dedicated) || !(realtime || dedicated)) {
    throw new BadRequest("Dedicated CPU set can be specified from either 'hw:cpu_dedicated_mask' or 'hw:cpu_realtime_mask' when using 'mixed' CPU policy. 'hw:cpu_dedicated_mask' and 'hw:cpu_realtime_mask' can not be specified at the same time, or be specified with none of them.");
  } else {
    dedicated = dedicated ?? realtime;
  }

  const nodes = nodeCountOf(flavor, image);
  const pageSize = pageSizeOf(flavor, image);
  const pinned = new Set(cpuPolicy === 'dedicated' ? Array.from({ length: flavor.vcpus }, (_, i) => i) : dedicated ?? []);
  if (!nodes && pageSize === null && cpuPolicy !== 'dedicated' && cpuPolicy !== 'mixed') return null;

  const count = nodes ?? 1;
  const cpusByNode = perNodeLists(flavor, image, 'cpus');
  const memByNode = perNodeLists(flavor, image, 'mem');
  let cells: GuestNumaCell[];
  if (!cpusByNode && !memByNode) cells = autoCells(count, flavor, pinned);
  else if (cpusByNode && memByNode) cells = manualCells(count, flavor, pinned, cpusByNode, memByNode);
  else throw new BadRequest(INCOMPLETE);
  return { cells, cpuPolicy, cpuThreadPolicy, emulatorThreadsPolicy, pageSize };
}

/**
 * hw:pci_numa_affinity_policy / hw_pci_numa_affinity_policy (Nova's
 * get_pci_numa_policy_constraint): the image may repeat the flavor's value,
 * not change it (403, as Nova's ImagePCINUMAPolicyForbidden).
 */
export function pciNumaPolicyOf(flavor: FlavorShape, image: ImageProperties = {}): PciNumaPolicy | null {
  const [f, i] = flavorAndImage('pci_numa_affinity_policy', flavor, image);
  if (f && i && f !== i) {
    throw new Forbidden("Image property 'hw_pci_numa_affinity_policy' is not permitted to override the 'hw:pci_numa_affinity_policy' flavor extra spec.");
  }
  const policy = f ?? i;
  if (!policy) return null;
  if (!PCI_NUMA_POLICIES.includes(policy as PciNumaPolicy)) throw new BadRequest(`Invalid PCI NUMA affinity configured: ${policy}`);
  return policy as PciNumaPolicy;
}

/**
 * The policy one PCI request of the guest gets (Nova: a port's own
 * numa_affinity_policy beats the flavor and image; an alias's numa_policy
 * gives way to them; `legacy` when nobody says).
 */
export function effectivePciNumaPolicy(
  source: { kind: 'port'; portPolicy: string | null } | { kind: 'alias'; aliasPolicy: string | null },
  flavorOrImage: PciNumaPolicy | null,
): PciNumaPolicy {
  if (source.kind === 'port') return (source.portPolicy as PciNumaPolicy | null) ?? flavorOrImage ?? 'legacy';
  return flavorOrImage ?? (source.aliasPolicy as PciNumaPolicy | null) ?? 'legacy';
}

/** Total vCPUs a guest pins on a host, the emulator thread's own CPU included. */
export function pinnedCpuCount(guest: GuestNumaTopology): number {
  const pinned = guest.cells.reduce((n, c) => n + c.pinnedCpus.length, 0);
  return pinned + (guest.emulatorThreadsPolicy === 'isolate' && guest.cpuPolicy !== null && guest.cpuPolicy !== 'shared' ? 1 : 0);
}
