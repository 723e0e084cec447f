import { Kysely, type Compilable, type CompiledQuery, type QueryResult } from 'kysely';
import { execute } from './inTransaction.js';
import { dbOf } from './internal/handles.js';
import type { Database } from './schema.js';
import type { Session } from './unit.js';

/** Stands for a named value while the query is built; each run puts its own value there. */
class Slot {
  constructor(readonly name: string) {}
}

declare const placeholder: unique symbol;
/**
 * What the builder gets for each value: a stand-in recorded where the query
 * uses it, typed as the value (so Kysely checks it against its column) but
 * branded, since it holds no value while the query is built.
 */
type Placeholder<T> = T & { readonly [placeholder]: true };
type Slots<P> = { readonly [K in keyof P]: Placeholder<P[K]> };

interface Plan {
  compiled: CompiledQuery;
  /** Per SQL parameter: the run's value of this name, or a value fixed at build time. */
  values: Array<{ name: string } | { fixed: unknown }>;
}

/**
 * A query built with Kysely once per dialect and then run with new values.
 * Building a query (its operation tree, then the SQL text) costs more than
 * running a small indexed statement on SQLite; the hot statements of claims,
 * reports and agent polls are built once and only their values change.
 *
 *   const freeDevice = precompiled<{ host: string }>((db, p) =>
 *     db.selectFrom('pci_devices').select('id').where('host', '=', p.host));
 *   const rows = (await freeDevice.run(trx, { host })).rows;
 *
 * Every value the query depends on must come from `p`: the builder runs once.
 */
export function precompiled<P extends Record<string, unknown>, R = unknown>(
  build: (db: Kysely<Database>, p: Slots<P>) => Compilable<R>,
) {
  // One plan per dialect adapter (a database and its transactions share one).
  const plans = new WeakMap<object, Plan>();
  const slots = new Proxy({} as Slots<P>, {
    get: (_, name) => new Slot(String(name)),
  });

  function planFor(db: Kysely<Database>): Plan {
    const adapter = db.getExecutor().adapter;
    let plan = plans.get(adapter);
    if (!plan) {
      const compiled = build(db, slots).compile();
      plan = {
        compiled,
        values: compiled.parameters.map((v) => (v instanceof Slot ? { name: v.name } : { fixed: v })),
      };
      plans.set(adapter, plan);
    }
    return plan;
  }

  return {
    async run(db: Kysely<Database>, values: P): Promise<QueryResult<R>> {
      return execute(db, compileOn(db, values));
    },
    /** The statement with these values, to run later (deferWrite). */
    compile(db: Kysely<Database>, values: P): CompiledQuery<R> {
      return compileOn(db, values);
    },
    /** The SQL text this dialect runs (tests, profiles); takes a session too. */
    sql(handle: Kysely<Database> | Session): string {
      return planFor(handle instanceof Kysely ? handle : dbOf(handle)).compiled.sql;
    },
  };

  function compileOn(db: Kysely<Database>, values: P): CompiledQuery<R> {
    const plan = planFor(db);
    const parameters = plan.values.map((v) => ('name' in v ? values[v.name] : v.fixed));
    return { ...plan.compiled, parameters } as CompiledQuery<R>;
  }
}
