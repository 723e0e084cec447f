/**
 * `doctor`: audits the database's invariants (src/domain/audit) and, with
 * --fix, repairs what is safe (src/storage/repositories/audit.ts). Exit 0
 * when clean (after --fix: when the re-audit is), 1 when anything is wrong,
 * 2 when it could not audit at all.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { viewOf } from '../domain/audit/findings.js';
import { openStore } from '../storage/db.js';
import { auditDatabase, repairDatabase } from '../storage/repositories/audit.js';
import { renderJson, renderText, type DoctorResult } from './doctorReport.js';
import { databaseOf } from './databaseOption.js';

export interface DoctorOptions {
  dataDir?: string;
  databaseUrl?: string;
  config?: string;
  json?: boolean;
  fix?: boolean;
}

export async function runDoctor(opts: DoctorOptions): Promise<{ code: number; output: string }> {
  const config = loadConfig(opts.config ?? process.env.VDPA_CONFIG);
  const { url, where } = databaseOf(opts);
  // Opening a SQLite path creates a database: a doctor must not make an empty one and call it healthy.
  if (!/^postgres(ql)?:\/\//.test(url) && url !== ':memory:' && !existsSync(url)) {
    throw new Error(`no database at ${url} (give --data-dir or --database-url)`);
  }
  const store = await openStore(url);
  try {
    const auditOptions = () => ({ now: Date.now(), operationTimeoutSeconds: config.operation_timeout });
    let result: DoctorResult;
    let clean: boolean;
    if (opts.fix) {
      const { found, repaired } = await repairDatabase(store, auditOptions());
      const remaining = await auditDatabase(store, auditOptions());
      result = { findings: found.map(viewOf), fixed: repaired.map(viewOf), remaining: remaining.map(viewOf) };
      clean = remaining.length === 0;
    } else {
      const findings = await auditDatabase(store, auditOptions());
      result = { findings: findings.map(viewOf) };
      clean = findings.length === 0;
    }
    return { code: clean ? 0 : 1, output: opts.json ? renderJson(result) : renderText(result, where) };
  } finally {
    await store.close();
  }
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('audit the database (claims, port bindings, device states, counts, guest records, stuck tasks); --fix repairs what is safe')
    .option('--data-dir <dir>', 'where the database lives (env VDPA_DATA_DIR)')
    .option('--database-url <url>', 'postgres://… for PostgreSQL, else a SQLite file (env VDPA_DATABASE_URL)')
    .option('--config <file>', 'operator settings, for operation_timeout (env VDPA_CONFIG)')
    .option('--json', 'print {"findings": [...]} (with --fix also "fixed" and "remaining")')
    .option('--fix', 'repair what is safe, then audit again')
    .action(async (opts: DoctorOptions) => {
      let code: number;
      let output: string;
      try {
        ({ code, output } = await runDoctor(opts));
      } catch (e) {
        code = 2;
        output = '';
        process.stderr.write(`vdpa-compute doctor: ${(e as Error).message}\n`);
      }
      // Written before exiting: a pipe's writes are asynchronous.
      await new Promise<void>((done) => process.stdout.write(output, () => done()));
      process.exit(code);
    });
}
