import { createHash } from 'node:crypto';
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';
import { PgConnection } from './pgConnection.js';
import { sqlProfileFigures } from './sqlProfile.js';

/** Distinct statements kept prepared per connection: the hot ones, not every IN-list length. */
const MAX_PREPARED = 1000;

/**
 * PostgreSQL parses and plans every unnamed statement anew, and on a
 * machine where the database shares the controller's cores that was most
 * of its work per server. A statement seen again (the same SQL text, which
 * Kysely produces for the same query shape) is sent as a named prepared
 * statement: each connection parses it once and then only binds values.
 */
export function preparingPool(pool: pg.Pool, maxPrepared = MAX_PREPARED): PostgresPool {
  const seen = new Map<string, string | null>();
  const profile = process.env.VDPA_SQL_PROFILE ? sqlProfileFigures(process.env.VDPA_SQL_PROFILE) : null;

  const nameFor = (text: string): string | null => {
    const known = seen.get(text);
    if (known !== undefined) {
      if (known !== null) return known;
      if (seen.size > maxPrepared) return null;
      const name = `vc_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
      seen.set(text, name);
      return name;
    }
    // Once is not yet a pattern: a one-off statement stays unnamed.
    if (seen.size <= maxPrepared * 4) seen.set(text, null);
    return null;
  };

  return {
    async connect(): Promise<PostgresPoolClient> {
      return new PgConnection(await pool.connect(), nameFor, profile) as unknown as PostgresPoolClient;
    },
    end: () => pool.end(),
  };
}
