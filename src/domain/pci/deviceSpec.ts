/**
 * device_spec: the operator's list of which PCI functions the tracker may hand
 * out (behaviour.md, "Devices on a host"). Address forms follow Nova's
 * PciAddressGlobSpec and PciAddressRegexSpec; a malformed entry stops the agent
 * with an error naming the entry.
 */
import type { DiscoveredFunction, TrackedDevice } from './device.js';

export class DeviceSpecError extends Error {
  constructor(
    readonly entryIndex: number,
    readonly entry: unknown,
    problem: string,
  ) {
    super(`device_spec entry ${entryIndex} (${describe(entry)}): ${problem}`);
    this.name = 'DeviceSpecError';
  }
}

export interface DeviceSpec {
  readonly index: number;
  readonly raw: unknown;
  readonly physicalNetwork: string | null;
  /** Every key that is not a match criterion, as a string (physical_network included). */
  readonly tags: Record<string, string>;
  matches(fn: DiscoveredFunction): boolean;
}

const MATCH_KEYS = new Set(['address', 'vendor_id', 'product_id', 'devname']);
const BOOLEAN_TAGS = new Set(['trusted', 'remote_managed']);
const TRUE_WORDS = new Set(['true', '1', 't', 'on', 'y', 'yes']);
const FALSE_WORDS = new Set(['false', '0', 'f', 'off', 'n', 'no']);

/** Each entry is an object or a JSON string (Nova's config gives strings; a string may hold a list). */
export function parseDeviceSpecs(entries: unknown[]): DeviceSpec[] {
  const specs: DeviceSpec[] = [];
  entries.forEach((entry, index) => {
    let value: unknown = entry;
    if (typeof entry === 'string') {
      try {
        value = JSON.parse(entry);
      } catch (e) {
        throw new DeviceSpecError(index, entry, `not valid JSON (${(e as Error).message})`);
      }
      if (Array.isArray(value)) {
        for (const item of value) specs.push(parseOne(index, entry, item));
        return;
      }
    }
    specs.push(parseOne(index, entry, value));
  });
  return specs;
}

/** First matching spec wins; functions no spec matches are not tracked. */
export function applyDeviceSpecs(specs: DeviceSpec[], fns: DiscoveredFunction[]): TrackedDevice[] {
  const tracked: TrackedDevice[] = [];
  for (const fn of fns) {
    const spec = specs.find((s) => s.matches(fn));
    if (spec) tracked.push({ ...fn, physicalNetwork: spec.physicalNetwork, tags: { ...spec.tags } });
  }
  return tracked;
}

function parseOne(index: number, entry: unknown, value: unknown): DeviceSpec {
  const fail = (problem: string): never => {
    throw new DeviceSpecError(index, entry, problem);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('an entry must be a JSON object');
  }
  const obj = value as Record<string, unknown>;
  if (obj.address !== undefined && obj.devname !== undefined) {
    fail('"address" and "devname" cannot both be given');
  }

  const vendorId = parseId(obj.vendor_id, 'vendor_id', fail);
  const productId = parseId(obj.product_id, 'product_id', fail);
  let devname: string | null = null;
  if (obj.devname !== undefined) {
    if (typeof obj.devname !== 'string' || obj.devname === '') fail('"devname" must be a non-empty string');
    devname = obj.devname as string;
  }
  const address = obj.address === undefined ? null : parseAddress(obj.address, fail);

  const tags: Record<string, string> = {};
  for (const [key, v] of Object.entries(obj)) {
    if (MATCH_KEYS.has(key)) continue;
    tags[key] = tagValue(key, v, fail);
  }
  const physicalNetwork = tags.physical_network ?? null;
  if (physicalNetwork === '') fail('"physical_network" must not be empty');

  return {
    index,
    raw: value,
    physicalNetwork,
    tags,
    matches(fn: DiscoveredFunction): boolean {
      if (vendorId !== null && fn.vendorId.toLowerCase() !== vendorId) return false;
      if (productId !== null && fn.productId.toLowerCase() !== productId) return false;
      if (devname !== null) return fn.devname === devname;
      if (address === null) return true;
      // Nova: a single PF address also offers that PF's VFs (still subject to vendor/product).
      if (address.exact !== null && fn.parentAddr !== null && sameAddress(fn.parentAddr, address.exact)) return true;
      return address.matches(fn.address);
    },
  };
}

/** null means "any". */
function parseId(v: unknown, key: string, fail: (p: string) => never): string | null {
  if (v === undefined || v === '*') return null;
  if (typeof v !== 'string' || !/^[0-9a-fA-F]{4}$/.test(v)) {
    return fail(`"${key}" must be 4 hex digits or "*", got ${JSON.stringify(v)}`);
  }
  return v.toLowerCase();
}

function tagValue(key: string, v: unknown, fail: (p: string) => never): string {
  if (key === 'physical_network') {
    if (typeof v !== 'string') return fail(`"physical_network" must be a string, got ${JSON.stringify(v)}`);
    return v;
  }
  if (BOOLEAN_TAGS.has(key)) {
    const word = String(v).toLowerCase();
    if ((typeof v === 'boolean' || typeof v === 'string') && TRUE_WORDS.has(word)) return 'true';
    if ((typeof v === 'boolean' || typeof v === 'string') && FALSE_WORDS.has(word)) return 'false';
    return fail(`"${key}" must be a boolean, got ${JSON.stringify(v)}`);
  }
  if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return String(v);
  return fail(`tag "${key}" must be a string, number or boolean, got ${JSON.stringify(v)}`);
}

// ---- PCI addresses -------------------------------------------------------

interface AddressSpec {
  /** The normalised address when every field is concrete, else null. */
  readonly exact: string | null;
  matches(address: string): boolean;
}

interface PciAddress { domain: number; bus: number; slot: number; func: number }

const FIELDS = [
  { name: 'domain', max: 0xffff, width: 4 },
  { name: 'bus', max: 0xff, width: 2 },
  { name: 'slot', max: 0x1f, width: 2 },
  { name: 'function', max: 0x7, width: 1 },
] as const;

function parseAddress(v: unknown, fail: (p: string) => never): AddressSpec {
  if (typeof v === 'string') return parseGlob(v, fail);
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return parseRegex(v as Record<string, unknown>, fail);
  return fail(`unknown address form ${JSON.stringify(v)}: expected "DDDD:BB:SS.F" or an object of domain/bus/slot/function regexes`);
}

/** Nova's PciAddressGlobSpec: missing leading fields and empty fields mean "*". */
function parseGlob(text: string, fail: (p: string) => never): AddressSpec {
  const dot = text.indexOf('.');
  const dbs = dot < 0 ? text : text.slice(0, dot);
  const funcText = dot < 0 ? '' : text.slice(dot + 1);
  const parts = dbs === '' ? [] : dbs.split(':');
  if (parts.length > 3) fail(`address "${text}" has more than domain:bus:slot.function`);
  const raw = [...Array(3 - parts.length).fill('*'), ...parts, funcText];
  const values = raw.map((field, i) => globField(field.trim(), FIELDS[i]!, text, fail));
  const [domain, bus, slot, func] = values;
  const exact = values.every((x) => x !== null) ? formatAddress({ domain: domain!, bus: bus!, slot: slot!, func: func! }) : null;
  return {
    exact,
    matches(address: string): boolean {
      const a = parsePciAddress(address);
      if (!a) return false;
      return (domain === null || domain === a.domain) && (bus === null || bus === a.bus)
        && (slot === null || slot === a.slot) && (func === null || func === a.func);
    },
  };
}

function globField(field: string, spec: (typeof FIELDS)[number], text: string, fail: (p: string) => never): number | null {
  if (field === '' || field === '*') return null;
  if (!/^[0-9a-fA-F]+$/.test(field)) return fail(`address "${text}": ${spec.name} "${field}" is not a hex number`);
  const n = parseInt(field, 16);
  if (n > spec.max) return fail(`address "${text}": ${spec.name} "${field}" is greater than the maximum ${spec.max.toString(16)}`);
  return n;
}

/** Nova's PciAddressRegexSpec, but each regex must match the whole field. */
function parseRegex(obj: Record<string, unknown>, fail: (p: string) => never): AddressSpec {
  const known: string[] = FIELDS.map((f) => f.name);
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) fail(`unknown address key "${key}": expected domain, bus, slot, function`);
  }
  const regexes = FIELDS.map((f) => {
    const src = obj[f.name] ?? '.*';
    if (typeof src !== 'string') return fail(`address ${f.name} must be a regular expression string, got ${JSON.stringify(src)}`);
    try {
      return new RegExp(`^(?:${src})$`);
    } catch (e) {
      return fail(`address ${f.name} "${src}" is not a valid regular expression (${(e as Error).message})`);
    }
  });
  return {
    exact: null,
    matches(address: string): boolean {
      const a = parsePciAddress(address);
      if (!a) return false;
      const fields = [a.domain, a.bus, a.slot, a.func].map((n, i) => n.toString(16).padStart(FIELDS[i]!.width, '0'));
      return regexes.every((re, i) => re.test(fields[i]!));
    },
  };
}

function parsePciAddress(address: string): PciAddress | null {
  const m = /^([0-9a-fA-F]{1,4}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$/.exec(address);
  if (!m) return null;
  return { domain: parseInt(m[1]!, 16), bus: parseInt(m[2]!, 16), slot: parseInt(m[3]!, 16), func: parseInt(m[4]!, 16) };
}

function formatAddress(a: PciAddress): string {
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${hex(a.domain, 4)}:${hex(a.bus, 2)}:${hex(a.slot, 2)}.${a.func}`;
}

function sameAddress(a: string, b: string): boolean {
  const pa = parsePciAddress(a);
  return pa !== null && formatAddress(pa) === b;
}

function describe(entry: unknown): string {
  if (typeof entry === 'string') return entry;
  try {
    return JSON.stringify(entry) ?? String(entry);
  } catch {
    return String(entry);
  }
}
