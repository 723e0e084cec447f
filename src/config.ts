import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

/**
 * Operator settings from the file named by VDPA_CONFIG (YAML or JSON). Every
 * key is optional; the README lists them with their defaults.
 */
import type { PciAliasConfig } from './domain/pci/request.js';
export type { PciAliasConfig } from './domain/pci/request.js';

export interface Config {
  /** Allow resize (and cold migrate fallbacks) to land on the server's own host. */
  allow_resize_to_same_host: boolean;
  /** Seconds without a heartbeat after which a compute service counts as down. */
  service_down_time: number;
  /** Seconds between agent heartbeats. */
  report_interval: number;
  /** Lifetime of identity tokens, in seconds. */
  token_ttl_seconds: number;
  cpu_allocation_ratio: number;
  ram_allocation_ratio: number;
  disk_allocation_ratio: number;
  /** How many candidate hosts the index hands to the filters per decision. */
  scheduler_candidate_limit: number;
  pci: { alias: PciAliasConfig[] };
  /** Seconds between the controller's resyncs of every server with work in progress. */
  reconcile_interval: number;
  /** Seconds a step that waits on a compute host may take before the operation is rolled back or failed. */
  operation_timeout: number;
  /** How many hosts a build is tried on before it ends in ERROR (Nova's scheduler max_attempts). */
  scheduler_max_attempts: number;
  /** Seconds a controller process's claim on a server's (or a periodic job's) work lasts without renewal. */
  lease_seconds: number;
  /**
   * Nova's [DEFAULT] shelved_offload_time: 0 offloads a shelved server at once
   * (frees its host's devices), -1 never, N > 0 after N seconds (periodic job).
   */
  shelved_offload_time: number;
  /** Seconds `os-getConsoleOutput` waits for the host's agent to read the console log before answering 500. */
  console_log_timeout: number;
  /** Serve Prometheus metrics at /metrics on the controller's listener. */
  metrics: boolean;
  /** When set, /metrics answers only requests carrying `Authorization: Bearer <this>` (none by default). */
  metrics_token: string;
  /** Largest request body accepted, in bytes; a larger one is answered 413 before it is read. */
  max_body_bytes: number;
  /** Failed password attempts before a user is locked out (Keystone's lockout_failure_attempts); 0: never. */
  lockout_failure_attempts: number;
  /** Seconds a locked-out user stays locked (Keystone's lockout_duration). */
  lockout_duration: number;
}

export const DEFAULT_CONFIG: Config = {
  allow_resize_to_same_host: false,
  service_down_time: 60,
  report_interval: 10,
  token_ttl_seconds: 3600,
  cpu_allocation_ratio: 4.0,
  ram_allocation_ratio: 1.0,
  disk_allocation_ratio: 1.0,
  scheduler_candidate_limit: 20,
  pci: { alias: [] },
  reconcile_interval: 10,
  operation_timeout: 300,
  scheduler_max_attempts: 3,
  lease_seconds: 15,
  shelved_offload_time: 0,
  console_log_timeout: 30,
  metrics: true,
  metrics_token: '',
  max_body_bytes: 1024 * 1024,
  // Off, as in Keystone (lockout_failure_attempts unset); Keystone's lockout_duration default.
  lockout_failure_attempts: 0,
  lockout_duration: 1800,
};

export class ConfigError extends Error {}

/** Settings that only make sense above zero (a zero deadline or lease would fail or stall every operation). */
const POSITIVE_SETTINGS: Record<string, 'number' | 'integer'> = {
  reconcile_interval: 'number', operation_timeout: 'number', lease_seconds: 'number', scheduler_max_attempts: 'integer',
  service_down_time: 'number', report_interval: 'number', console_log_timeout: 'number', max_body_bytes: 'integer', lockout_duration: 'number',
};

/** Settings where 0 means "off" and anything else must be a whole number above zero. */
const COUNT_SETTINGS = new Set(['lockout_failure_attempts']);

export function loadConfig(path: string | undefined): Config {
  if (!path) return structuredClone(DEFAULT_CONFIG);
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  if (raw == null) return structuredClone(DEFAULT_CONFIG);
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`config file ${path}: expected a mapping of keys`);
  const cfg = structuredClone(DEFAULT_CONFIG) as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!(key in cfg)) throw new ConfigError(`config file ${path}: unknown key '${key}'`);
    const expected = typeof cfg[key];
    if (key === 'pci') {
      const alias = (value as { alias?: unknown })?.alias ?? [];
      const list = Array.isArray(alias) ? alias : [alias];
      cfg.pci = { alias: list.map((a) => (typeof a === 'string' ? JSON.parse(a) : a)) };
      continue;
    }
    if (typeof value !== expected) throw new ConfigError(`config file ${path}: '${key}' must be a ${expected}`);
    const limit = POSITIVE_SETTINGS[key];
    if (limit && (!Number.isFinite(value as number) || (value as number) <= 0 || (limit === 'integer' && !Number.isInteger(value)))) {
      throw new ConfigError(`config file ${path}: '${key}' must be a ${limit === 'integer' ? 'whole number' : 'number'} greater than 0`);
    }
    if (key === 'shelved_offload_time' && !Number.isInteger(value)) {
      throw new ConfigError(`config file ${path}: 'shelved_offload_time' must be a whole number (0 at once, -1 never, N seconds)`);
    }
    if (COUNT_SETTINGS.has(key) && (!Number.isInteger(value) || (value as number) < 0)) {
      throw new ConfigError(`config file ${path}: '${key}' must be a whole number, 0 or more`);
    }
    cfg[key] = value;
  }
  return cfg as unknown as Config;
}
