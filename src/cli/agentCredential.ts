/**
 * `agent-credential create HOST`: a credential that may act for HOST only on
 * the agent API, printed as JSON ({username, password, project_name}) — the
 * file `vdpa-compute agent --credentials FILE` reads (docs/agent.md).
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { createAgentCredential } from '../controller/services/agentCredentials.js';
import { openStore } from '../storage/db.js';
import { databaseOf, isPostgresUrl } from './databaseOption.js';

export async function runAgentCredentialCreate(host: string, opts: { dataDir?: string; databaseUrl?: string }): Promise<string> {
  const { url } = databaseOf(opts);
  if (!isPostgresUrl(url) && !existsSync(url)) throw new Error(`no database at ${url} (give --data-dir or --database-url)`);
  const store = await openStore(url);
  try {
    return `${JSON.stringify(await store.transact((u) => createAgentCredential(u, host)), null, 2)}\n`;
  } finally {
    await store.close();
  }
}

export function registerAgentCredentialCommand(program: Command): void {
  const group = program.command('agent-credential').description('credentials of compute agents');
  group
    .command('create <host>')
    .description('create (or renew) the credential that may act only for HOST on the agent API; prints {username, password, project_name}')
    .option('--data-dir <dir>', 'where the database lives (env VDPA_DATA_DIR)')
    .option('--database-url <url>', 'postgres://… for PostgreSQL, else a SQLite file (env VDPA_DATABASE_URL)')
    .action(async (host: string, opts: { dataDir?: string; databaseUrl?: string }) => {
      let output: string;
      try {
        output = await runAgentCredentialCreate(host, opts);
      } catch (e) {
        process.stderr.write(`vdpa-compute agent-credential: ${(e as Error).message}\n`);
        process.exit(1);
      }
      await new Promise<void>((done) => process.stdout.write(output, () => done()));
      process.exit(0);
    });
}
