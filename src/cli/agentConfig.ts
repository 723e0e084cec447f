/**
 * `vdpa-compute agent --config FILE`: the agent's settings in one YAML (or
 * JSON) file, as a packaged agent runs under systemd (docs/agent.md). Every
 * key is optional and is the long option of the same name with `_` for `-`;
 * an option given on the command line wins over the file. `credentials` and
 * `device_spec` may be given inline or as the path of their own file.
 *
 *   controller: [http://ctl-a:8774, http://ctl-b:8774]   # or one URL
 *   libvirt_uri: qemu:///system
 *   host_ip: 192.0.2.11
 *   credentials: {username: compute-agent, password: ..., project_name: service}
 *   device_spec:
 *     - {vendor_id: "15b3", product_id: "101e", physical_network: physnet0}
 *   rediscover_seconds: 60
 *   cpu_dedicated_set: "2-15,18-31"    # Nova's [compute] cpu_dedicated_set
 *   cpu_shared_set: "0-1,16-17"
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';

/** The file's keys and the option (AgentCommandOptions field) each sets, with the type it takes. */
const KEYS = {
  controller: ['controller', 'urls'],
  host: ['host', 'string'],
  driver: ['driver', 'string'],
  inventory: ['inventory', 'string'],
  libvirt_uri: ['libvirtUri', 'string'],
  sysfs_root: ['sysfsRoot', 'string'],
  proc_root: ['procRoot', 'string'],
  device_spec: ['deviceSpec', 'fileOrList'],
  track_software_vdpa: ['trackSoftwareVdpa', 'boolean'],
  credentials: ['credentials', 'fileOrMapping'],
  host_ip: ['hostIp', 'string'],
  heartbeat_seconds: ['heartbeatSeconds', 'seconds'],
  rediscover_seconds: ['rediscoverSeconds', 'seconds'],
  poll_seconds: ['pollSeconds', 'seconds'],
  instances_path: ['instancesPath', 'string'],
  image_cache: ['imageCache', 'string'],
  live_migration_uri: ['liveMigrationUri', 'string'],
  cpu_dedicated_set: ['cpuDedicatedSet', 'cpuList'],
  cpu_shared_set: ['cpuSharedSet', 'cpuList'],
} as const;

export class AgentConfigFileError extends Error {}

function valueOf(file: string, key: string, kind: string, v: unknown): unknown {
  const bad = (what: string) => new AgentConfigFileError(`--config ${file}: '${key}' must be ${what}`);
  switch (kind) {
    case 'urls':
      if (typeof v === 'string') return [v];
      if (Array.isArray(v) && v.length > 0 && v.every((u) => typeof u === 'string')) return v;
      throw bad('a URL or a list of URLs');
    case 'string':
      if (typeof v !== 'string' || v === '') throw bad('a string');
      return v;
    case 'cpuList':
      // YAML reads a lone CPU (`cpu_shared_set: 3`) as a number.
      if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return String(v);
      if (typeof v !== 'string' || v.trim() === '') throw bad('a CPU list such as "2-15,18-31"');
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') throw bad('true or false');
      return v;
    case 'seconds':
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw bad('a number of seconds > 0');
      return v;
    case 'fileOrList':
      if (typeof v === 'string' || Array.isArray(v)) return v;
      throw bad('a list of device_spec entries or the path of a file holding them');
    case 'fileOrMapping':
      if (typeof v === 'string' || (v !== null && typeof v === 'object' && !Array.isArray(v))) return v;
      throw bad('a mapping {username, password, project_name} or the path of a file holding it');
    default:
      throw bad(kind);
  }
}

/** The file's settings as option values (field name → value). */
export async function readAgentConfig(file: string): Promise<Record<string, unknown>> {
  let doc: unknown;
  try {
    doc = parseYaml(await readFile(file, 'utf8'));
  } catch (e) {
    throw new AgentConfigFileError(`--config ${file}: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new AgentConfigFileError(`--config ${file}: expected a mapping of settings`);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    const spec = (KEYS as Record<string, readonly [string, string]>)[key];
    if (!spec) throw new AgentConfigFileError(`--config ${file}: unknown setting '${key}' (known: ${Object.keys(KEYS).join(', ')})`);
    out[spec[0]] = valueOf(file, key, spec[1], v);
  }
  return out;
}

/**
 * The options with the file's settings under them: a value from the file is
 * used unless the option was given on the command line (`givenOnCommandLine`).
 */
export function withConfigFile<T extends object>(options: T, fromFile: Record<string, unknown>, givenOnCommandLine: (field: string) => boolean): T {
  const merged = { ...options } as Record<string, unknown>;
  for (const [field, value] of Object.entries(fromFile)) if (!givenOnCommandLine(field)) merged[field] = value;
  return merged as T;
}
