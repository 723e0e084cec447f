import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { pino } from 'pino';
import { DEFAULT_CONFIG, type Config } from '../../src/config.js';
import { buildApp } from '../../src/controller/app.js';
import { bootstrap } from '../../src/controller/bootstrap.js';
import type { ControllerContext } from '../../src/controller/context.js';
import { createHostSignals } from '../../src/controller/services/hostSignals.js';
import { createTokenService } from '../../src/controller/services/tokens.js';
import { openStore } from '../../src/storage/db.js';

export interface TestController {
  url: string;
  ctx: ControllerContext;
  app: FastifyInstance;
  /** Where clouds.yaml was written. */
  dataDir: string;
  adminPassword: string;
  demoPassword: string;
  agentPassword: string;
  /** A fresh token for the bootstrap user, scoped to its project (admin → admin, demo → demo). */
  token(user: 'admin' | 'demo'): Promise<string>;
  close(): Promise<void>;
}

/**
 * A real controller on 127.0.0.1 with a bootstrapped database: SQLite in a
 * temporary directory unless `databaseUrl` names another. Set VDPA_TEST_LOG=debug to see its log.
 */
export async function startTestController(opts: { databaseUrl?: string; config?: Partial<Config> } = {}): Promise<TestController> {
  const dataDir = await mkdtemp(join(tmpdir(), 'vdpa-test-'));
  const store = await openStore(opts.databaseUrl ?? join(dataDir, 'controller.sqlite'));
  const config: Config = { ...structuredClone(DEFAULT_CONFIG), ...opts.config };
  const ctx: ControllerContext = {
    store,
    config,
    log: pino({ level: process.env.VDPA_TEST_LOG ?? 'silent' }),
    tokens: createTokenService(store, config.token_ttl_seconds),
    signals: createHostSignals(),
    publicUrl: 'http://127.0.0.1',
    imageDir: join(dataDir, 'images'),
  };
  let app: FastifyInstance | undefined;
  try {
    app = await buildApp(ctx);
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    // The port is only known after listening; handlers read ctx.publicUrl per request.
    ctx.publicUrl = address;
    const creds = await bootstrap(ctx, { dataDir, publicUrl: address });
    const passwords = { admin: creds.adminPassword, demo: creds.demoPassword };
    return {
      url: address, ctx, app, dataDir, ...creds,
      async token(user) {
        const res = await fetch(`${address}/identity/v3/auth/tokens`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            auth: {
              identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password: passwords[user] } } },
              scope: { project: { name: user, domain: { name: 'Default' } } },
            },
          }),
        });
        const token = res.headers.get('x-subject-token');
        if (res.status !== 201 || !token) throw new Error(`token for ${user}: HTTP ${res.status} ${await res.text()}`);
        return token;
      },
      async close() {
        await app!.close();
        await store.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await app?.close();
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
    throw e;
  }
}

const POSTGRES_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs `fn` against a new, uniquely named PostgreSQL database that is dropped afterwards. */
export async function withPostgresDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const name = `vdpa_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    try {
      return await fn(`postgres://postgres@127.0.0.1:5432/${name}`);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}
