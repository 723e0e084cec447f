/**
 * `discover`: prints, as JSON, every device this host's agent would report —
 * what discovery finds, filtered and tagged by the operator's device_spec.
 * Lets an operator check a device_spec before starting the agent.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { SOFTWARE_VDPA_TYPE, type DiscoveredFunction } from '../domain/pci/device.js';
import { applyDeviceSpecs, DeviceSpecError, parseDeviceSpecs } from '../domain/pci/deviceSpec.js';
import { discoverFromSysfs, SysfsDiscoveryError } from '../agent/discovery/sysfs.js';
import { NodeDeviceXmlError, parseNodeDevices } from '../agent/discovery/libvirtNodedev.js';
import { discoverNumaCells } from '../agent/discovery/numa.js';
import { formatCpuSpec } from '../domain/numa/cpuSet.js';

export class DiscoverError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DiscoverError';
  }
}

/** Reads every node device's XML through the libvirt API (supplied by the libvirt driver). */
export type NodeDeviceXmlReader = (libvirtUri: string | undefined) => Promise<string[]>;

export interface DiscoverOptions {
  source?: 'sysfs' | 'libvirt';
  sysfsRoot?: string;
  /** A JSON or YAML file holding a list of device_spec entries. */
  deviceSpecFile: string;
  libvirtUri?: string;
  /** A directory of node device XML files, read instead of asking libvirt. */
  nodedevDir?: string;
  trackSoftwareVdpa?: boolean;
  readNodeDeviceXml?: NodeDeviceXmlReader;
  warn?: (message: string) => void;
}

/** One reported device, in device_spec's own (snake_case) words. */
export interface DeviceReport {
  address: string;
  vendor_id: string;
  product_id: string;
  dev_type: string;
  parent_addr: string | null;
  numa_node: number | null;
  physical_network: string | null;
  vdpa_chardev?: string | null;
  tags: Record<string, string>;
}

export async function runDiscover(opts: DiscoverOptions): Promise<DeviceReport[]> {
  // The spec is checked first: a malformed one must stop us before any host probing.
  const specs = parseDeviceSpecs(await readDeviceSpecFile(opts.deviceSpecFile));
  const discovered = await discover(opts);
  return applyDeviceSpecs(specs, discovered).map((d) => ({
    address: d.address,
    vendor_id: d.vendorId,
    product_id: d.productId,
    dev_type: d.devType,
    parent_addr: d.parentAddr,
    numa_node: d.numaNode,
    physical_network: d.physicalNetwork,
    ...(d.devType === 'vdpa' || d.devType === SOFTWARE_VDPA_TYPE ? { vdpa_chardev: d.vdpaChardev } : {}),
    tags: d.tags,
  }));
}

async function discover(opts: DiscoverOptions): Promise<DiscoveredFunction[]> {
  const discoveryOpts = { trackSoftwareVdpa: opts.trackSoftwareVdpa ?? false, warn: opts.warn };
  if ((opts.source ?? 'sysfs') === 'sysfs') return discoverFromSysfs(opts.sysfsRoot ?? '/sys', discoveryOpts);
  let docs: string[];
  if (opts.nodedevDir !== undefined) {
    docs = await readNodeDeviceDir(opts.nodedevDir);
  } else if (opts.readNodeDeviceXml) {
    docs = await opts.readNodeDeviceXml(opts.libvirtUri);
  } else {
    throw new DiscoverError('--source libvirt: reading node devices from libvirt is not available here; give --nodedev-dir DIR');
  }
  return parseNodeDevices(docs, discoveryOpts);
}

async function readDeviceSpecFile(file: string): Promise<unknown[]> {
  let doc: unknown;
  try {
    doc = parseYaml(await readFile(file, 'utf8'));
  } catch (e) {
    throw new DiscoverError(`--device-spec ${file}: ${(e as Error).message}`);
  }
  // Also accept {device_spec: [...]}, the shape of an inventory host or a config section.
  if (doc !== null && typeof doc === 'object' && !Array.isArray(doc) && 'device_spec' in doc) {
    doc = (doc as { device_spec: unknown }).device_spec;
  }
  if (!Array.isArray(doc)) throw new DiscoverError(`--device-spec ${file}: expected a list of device_spec entries`);
  return doc;
}

async function readNodeDeviceDir(dir: string): Promise<string[]> {
  try {
    const files = (await readdir(dir)).filter((f) => f.endsWith('.xml')).sort();
    return await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')));
  } catch (e) {
    throw new DiscoverError(`--nodedev-dir ${dir}: ${(e as Error).message}`);
  }
}

/** The host's NUMA cells as an inventory's numa_cells entry says them (docs/inventory.md). */
export async function numaCellsReport(sysfsRoot: string): Promise<Array<Record<string, unknown>>> {
  return (await discoverNumaCells(sysfsRoot)).map((c) => ({
    id: c.id, socket: c.socket, cpus: formatCpuSpec(c.cpus), memory_mb: c.memoryMb, hugepages: c.hugepages,
  }));
}

export function registerDiscoverCommand(program: Command, hooks: { readNodeDeviceXml?: NodeDeviceXmlReader } = {}): void {
  program
    .command('discover')
    .description('print, as JSON, every PCI/vDPA device this host would report under the given device_spec')
    .requiredOption('--device-spec <file>', 'JSON or YAML list of device_spec entries')
    .addOption(new Option('--source <source>', 'where devices are discovered').choices(['sysfs', 'libvirt']).default('sysfs'))
    .option('--sysfs-root <dir>', 'sysfs mount point', '/sys')
    .option('--libvirt-uri <uri>', 'libvirt connection URI (with --source libvirt)')
    .option('--nodedev-dir <dir>', 'directory of libvirt node device XML files (with --source libvirt)')
    .option('--track-software-vdpa', 'also report vDPA devices without a PCI VF parent (vdpa_sim)', false)
    .option('--numa', 'print {"numa_cells": [...], "devices": [...]}: the host NUMA cells from sysfs, in the inventory format, with the devices', false)
    .action(async (o: { deviceSpec: string; source: 'sysfs' | 'libvirt'; sysfsRoot: string; libvirtUri?: string; nodedevDir?: string; trackSoftwareVdpa: boolean; numa: boolean }, cmd: Command) => {
      try {
        const devices = await runDiscover({
          source: o.source,
          sysfsRoot: o.sysfsRoot,
          deviceSpecFile: o.deviceSpec,
          libvirtUri: o.libvirtUri,
          nodedevDir: o.nodedevDir,
          trackSoftwareVdpa: o.trackSoftwareVdpa,
          readNodeDeviceXml: hooks.readNodeDeviceXml,
          warn: (m) => process.stderr.write(`warning: ${m}\n`),
        });
        const out = o.numa ? { numa_cells: await numaCellsReport(o.sysfsRoot), devices } : devices;
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      } catch (e) {
        if (e instanceof DiscoverError || e instanceof DeviceSpecError || e instanceof NodeDeviceXmlError || e instanceof SysfsDiscoveryError) {
          cmd.error(`error: ${e.message}`, { exitCode: 2 });
        }
        throw e;
      }
    });
}
