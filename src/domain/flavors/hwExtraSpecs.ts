/**
 * Nova's validators of the `hw:` extra specs, checked when a flavor's extra
 * specs are set at microversion 2.86 or later (nova/api/validation/extra_specs/
 * hw.py and base.py; validators.py's lookup). Each key has a value type
 * (bool, int with bounds, a string with an enum or a pattern) and Nova's
 * messages word for word; a key in the `hw` namespace that no validator
 * names is refused. Other namespaces are not checked here (Nova checks some
 * of them too; this project checks `hw:` only).
 *
 * These are Nova's per-key checks only: how the keys combine (a thread policy
 * without dedicated CPUs, a page size the image may not override…) is
 * numa_get_constraints, checked at server create (../numa/guestTopology.ts).
 */
import { BadRequest } from '../errors.js';
import { CPU_POLICIES, CPU_THREAD_POLICIES } from '../numa/guestTopology.js';

type ValueRule =
  | { type: 'bool' }
  | { type: 'int'; min?: number; max?: number }
  | { type: 'str'; enum?: readonly string[]; pattern?: string };

interface HwValidator {
  /** Nova's name, `{num}` standing for a guest NUMA node. */
  name: string;
  value: ValueRule;
}

/** The patterns of hw:cpu_realtime_mask / hw:cpu_dedicated_mask / hw:numa_cpus.N (Nova's, as printed in its messages). */
const REALTIME_MASK = String.raw`(\^)?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*`;
const CPU_MASK = String.raw`\^?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*`;

const bool = { type: 'bool' } as const;
const int = (min: number, max?: number): ValueRule => ({ type: 'int', min, ...(max === undefined ? {} : { max }) });
const oneOf = (values: readonly string[]): ValueRule => ({ type: 'str', enum: values });
const like = (pattern: string): ValueRule => ({ type: 'str', pattern });

/** In hw.py's order (register()): realtime, hypervisor id, CPU policy, huge pages, NUMA, CPU topology, features, ephemeral encryption. */
const VALIDATORS: readonly HwValidator[] = [
  { name: 'hw:cpu_realtime', value: bool },
  { name: 'hw:cpu_realtime_mask', value: like(REALTIME_MASK) },
  { name: 'hw:hide_hypervisor_id', value: bool },
  // Nova's enum orders (its messages list them so): dedicated, shared, mixed / prefer, isolate, require.
  { name: 'hw:cpu_policy', value: oneOf(CPU_POLICIES) },
  { name: 'hw:cpu_thread_policy', value: oneOf(CPU_THREAD_POLICIES) },
  { name: 'hw:emulator_threads_policy', value: oneOf(['isolate', 'share']) },
  { name: 'hw:cpu_dedicated_mask', value: like(CPU_MASK) },
  { name: 'hw:mem_page_size', value: like(String.raw`(large|small|any|\d+([kKMGT]i?)?(b|bit|B)?)`) },
  { name: 'hw:locked_memory', value: bool },
  { name: 'hw:numa_nodes', value: int(1) },
  { name: 'hw:numa_cpus.{num}', value: like(CPU_MASK) },
  { name: 'hw:numa_mem.{num}', value: int(1) },
  { name: 'hw:pci_numa_affinity_policy', value: oneOf(['required', 'preferred', 'legacy', 'socket']) },
  { name: 'hw:cpu_sockets', value: int(1) },
  { name: 'hw:cpu_cores', value: int(1) },
  { name: 'hw:cpu_threads', value: int(1) },
  { name: 'hw:cpu_max_sockets', value: int(1) },
  { name: 'hw:cpu_max_cores', value: int(1) },
  { name: 'hw:cpu_max_threads', value: int(1) },
  { name: 'hw:boot_menu', value: bool },
  { name: 'hw:vif_multiqueue_enabled', value: bool },
  { name: 'hw:mem_encryption', value: bool },
  { name: 'hw:mem_encryption_model', value: oneOf(['amd-sev', 'amd-sev-es', 'amd-sev-snp']) },
  { name: 'hw:pmem', value: like('([a-zA-Z0-9_]+(,)?)+') },
  { name: 'hw:pmu', value: bool },
  { name: 'hw:serial_port_count', value: int(0) },
  { name: 'hw:tpm_model', value: oneOf(['tpm-tis', 'tpm-crb']) },
  { name: 'hw:tpm_version', value: oneOf(['1.2', '2.0']) },
  { name: 'hw:tpm_secret_security', value: oneOf(['user', 'host', 'deployment']) },
  { name: 'hw:watchdog_action', value: oneOf(['none', 'pause', 'poweroff', 'reset', 'disabled']) },
  { name: 'hw:viommu_model', value: oneOf(['intel', 'smmuv3', 'virtio', 'auto']) },
  { name: 'hw:virtio_packed_ring', value: bool },
  { name: 'hw:sound_model', value: oneOf(['sb16', 'es1370', 'pcspk', 'ac97', 'ich6', 'ich9', 'usb', 'virtio']) },
  { name: 'hw:usb_model', value: oneOf(['none', 'nec-xhci', 'qemu-xhci']) },
  { name: 'hw:redirected_usb_ports', value: int(0, 15) },
  { name: 'hw:ephemeral_encryption', value: bool },
  { name: 'hw:ephemeral_encryption_format', value: oneOf(['plain', 'luks', 'luksv2']) },
];

/**
 * Nova builds each name's regex by putting `(?P<num>\d+)` for `{num}` into
 * the name as it is (so the `.` matches any character there, as in Nova),
 * and matches names and values whole (re.fullmatch).
 */
const whole = (pattern: string) => new RegExp(`^(?:${pattern})$`);
const byName = new Map(VALIDATORS.map((v) => [v.name, v]));
const byPattern = VALIDATORS.filter((v) => v.name.includes('{')).map((v) => ({ v, re: whole(v.name.replace('{num}', String.raw`(\d+)`)) }));
const valueRegex = new Map(VALIDATORS.flatMap((v) => (v.value.type === 'str' && v.value.pattern ? [[v.name, whole(v.value.pattern)] as const] : [])));

const fail = (detail: string) => new BadRequest(`Validation failed; ${detail}`);

/** oslo strutils.bool_from_string(strict=True). */
const BOOL_STRINGS = new Set(['1', 't', 'true', 'on', 'y', 'yes', '0', 'f', 'false', 'off', 'n', 'no']);
/** Python's int() of a string: optional sign and whitespace, digits with single underscores between them. */
const PY_INT = /^\s*[+-]?\d+(_\d+)*\s*$/;

function checkValue(v: HwValidator, value: string): void {
  const rule = v.value;
  if (rule.type === 'bool') {
    if (!BOOL_STRINGS.has(value.trim().toLowerCase())) throw fail(`'${value}' is not a valid boolean-like value.`);
    return;
  }
  if (rule.type === 'int') {
    if (!PY_INT.test(value)) throw fail(`'${value}' is not a valid integer value.`);
    const n = Number(value.replace(/_/g, '').trim());
    if (rule.max !== undefined && rule.max < n) throw fail(`'${n}' is greater than the max value of '${rule.max}'.`);
    if (rule.min !== undefined && rule.min > n) throw fail(`'${n}' is less than the min value of '${rule.min}'.`);
    return;
  }
  if (rule.pattern !== undefined) {
    if (!valueRegex.get(v.name)!.test(value)) throw fail(`'${value}' is not of the format '${rule.pattern}'.`);
  } else if (rule.enum && !rule.enum.includes(value)) {
    throw fail(`'${value}' is not one of: ${rule.enum.join(', ')}.`);
  }
}

/**
 * Nova's validators.validate for one extra spec, for the `hw` namespace:
 * a 400 with Nova's message when the value is not what the key takes, or
 * when the key is in `hw:` and no validator names it. Keys of other
 * namespaces, and keys without one, pass.
 */
export function validateHwExtraSpec(name: string, value: string): void {
  const exact = byName.get(name);
  if (exact) return checkValue(exact, value);
  const matched = byPattern.find((p) => p.re.test(name));
  if (matched) return checkValue(matched.v, value);
  if (name.split(':', 1)[0] === 'hw' && name.includes(':')) {
    throw fail(`extra spec '${name}' does not appear to be a valid extra spec.`);
  }
}
