import { join, resolve } from 'node:path';

/** The database serve would use: --database-url, else VDPA_DATABASE_URL, else the SQLite file in the data directory. */
export function databaseOf(opts: { dataDir?: string; databaseUrl?: string }): { url: string; where: string } {
  const url = opts.databaseUrl ?? process.env.VDPA_DATABASE_URL;
  if (url) return { url, where: /^postgres(ql)?:\/\//.test(url) ? 'PostgreSQL database' : `SQLite file ${url}` };
  const file = join(resolve(opts.dataDir ?? process.env.VDPA_DATA_DIR ?? 'var'), 'vdpa-compute.sqlite');
  return { url: file, where: `SQLite file ${file}` };
}

/** Opening a SQLite path creates a database: a command that reads one must not make an empty one. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}
