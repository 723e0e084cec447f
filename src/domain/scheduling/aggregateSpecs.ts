/**
 * Nova's AggregateInstanceExtraSpecsFilter rules (extra_specs_ops.py): a
 * flavor's `aggregate_instance_extra_specs:KEY` = requirement is met when the
 * host's aggregates' metadata (the union of their values of KEY, each split on
 * `,`) holds a value that satisfies it.
 */
export const AGGREGATE_SPEC_SCOPE = 'aggregate_instance_extra_specs:';

/** The flavor's aggregate requirements, prefix stripped. Other keys are not checked here (see docs/scheduling.md). */
export function aggregateSpecsOf(extraSpecs: Record<string, string>): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(extraSpecs)) {
    if (k.startsWith(AGGREGATE_SPEC_SCOPE)) (out ??= {})[k.slice(AGGREGATE_SPEC_SCOPE.length)] = v;
  }
  return out;
}

const num = (s: string) => Number.parseFloat(s);

const OPS: Record<string, (value: string, arg: string) => boolean> = {
  '=': (v, a) => num(v) >= num(a),
  '<in>': (v, a) => v.includes(a),
  '<all-in>': (v, a) => a.split(/\s+/).filter(Boolean).every((w) => v.includes(w)),
  '==': (v, a) => num(v) === num(a),
  '!=': (v, a) => num(v) !== num(a),
  '>=': (v, a) => num(v) >= num(a),
  '<=': (v, a) => num(v) <= num(a),
  's==': (v, a) => v === a,
  's!=': (v, a) => v !== a,
  's<': (v, a) => v < a,
  's<=': (v, a) => v <= a,
  's>': (v, a) => v > a,
  's>=': (v, a) => v >= a,
};

/** One value against one requirement (`s== x`, `<or> a <or> b`, or plain equality). */
export function valueMatches(value: string, requirement: string): boolean {
  const words = requirement.trim().split(/\s+/);
  const op = words[0] ?? '';
  if (op === '<or>') {
    const options: string[] = [];
    for (let i = 1; i < words.length; i += 2) options.push(words[i]!);
    return options.includes(value);
  }
  const fn = OPS[op];
  if (fn && words.length > 1) return fn(value, words.slice(1).join(' '));
  return value === requirement;
}

/** The host's aggregate metadata: per key every value of every aggregate it is in. */
export type HostAggregateMetadata = Record<string, string[]>;

export function mergeAggregateMetadata(all: Iterable<Record<string, string>>): HostAggregateMetadata {
  const out: HostAggregateMetadata = {};
  for (const m of all) {
    for (const [k, v] of Object.entries(m)) {
      const list = (out[k] ??= []);
      for (const part of v.split(',')) {
        const t = part.trim();
        if (!list.includes(t)) list.push(t);
      }
    }
  }
  return out;
}

/** The first requirement the host does not meet, or null. */
export function unmetAggregateSpec(metadata: HostAggregateMetadata, specs: Record<string, string>): string | null {
  for (const [key, requirement] of Object.entries(specs)) {
    const values = metadata[key];
    if (!values || !values.some((v) => valueMatches(v, requirement))) return key;
  }
  return null;
}
