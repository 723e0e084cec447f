/**
 * The controller under fuzzing: the all-in-one (controller, operation engine
 * and the default inventory's simulated hosts) in this process, on a
 * temporary SQLite file or a PostgreSQL database of its own, with the
 * periodic background work slowed so the database holds still between requests.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { startAllInOne, type AllInOne } from '../../src/cli/allInOne.js';
import { postgresProbe, sqliteProbe, type DatabaseProbe } from './digest.js';

const STOP_LIMIT_MS = 20_000;

export const DEFAULT_POSTGRES_SERVER = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface FuzzTarget {
  url: string;
  aio: AllInOne;
  probe: DatabaseProbe;
  backend: 'sqlite' | 'postgres';
  stop(): Promise<void>;
}

/**
 * Heartbeats, reconciliation and service liveness at an hour: hosts still
 * register and report at start, but nothing periodic writes while requests
 * are checked. Operations a request starts run as usual; the fuzzer waits
 * for the database to settle after each accepted request.
 */
const QUIET_CONFIG = 'report_interval: 3600\nservice_down_time: 7200\nreconcile_interval: 3600\nlockout_failure_attempts: 0\n';

export async function startTarget(opts: { backend: 'sqlite' | 'postgres'; postgresServer?: string }): Promise<FuzzTarget> {
  const dataDir = await mkdtemp(join(tmpdir(), 'vdpa-fuzz-'));
  const configFile = join(dataDir, 'fuzz-config.yaml');
  await writeFile(configFile, QUIET_CONFIG);
  let dropDatabase = async () => {};
  let databaseUrl: string | undefined;
  if (opts.backend === 'postgres') {
    const server = opts.postgresServer ?? DEFAULT_POSTGRES_SERVER;
    const name = `vdpa_fuzz_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: server });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(server);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    dropDatabase = async () => {
      const c = new pg.Client({ connectionString: server });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    };
  }
  const aio = await startAllInOne({
    host: '127.0.0.1', port: 0, dataDir, configFile,
    ...(databaseUrl ? { databaseUrl } : {}),
    log: pino({ level: process.env.VDPA_FUZZ_LOG ?? 'silent' }),
  });
  const probe = databaseUrl ? await postgresProbe(databaseUrl) : sqliteProbe(join(dataDir, 'vdpa-compute.sqlite'));
  return {
    url: aio.url, aio, probe, backend: opts.backend,
    async stop() {
      await probe.close();
      // A request that never finishes would hold the listener's close forever: give up on it after a while.
      const stopped = await Promise.race([aio.stop().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), STOP_LIMIT_MS).unref())]);
      if (!stopped) process.stderr.write(`[fuzz] the controller did not stop within ${STOP_LIMIT_MS / 1000} s (a request still running)\n`);
      await dropDatabase();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
