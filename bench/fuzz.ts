/**
 * `npm run fuzz -- --minutes N [--backend postgres] [--seed S]`: walks the
 * controller's /openapi.json with valid, invalid and hostile requests from
 * every kind of caller and checks that nothing answers 5xx and that nothing
 * rejected changed the database (docs/fuzzing.md). Progress goes to stderr;
 * the last line on stdout is one JSON summary.
 */
import { Command, InvalidArgumentError } from 'commander';
import { runFuzz } from './fuzz/runner.js';

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number greater than 0');
  return n;
}

const program = new Command()
  .name('fuzz')
  .description('fuzz the controller\'s HTTP APIs from its OpenAPI document')
  .option('--minutes <n>', 'how long to send requests', positive)
  .option('--seconds <n>', 'how long to send requests (for short runs; --minutes wins)', positive)
  .option('--backend <kind>', 'sqlite (a temporary file) or postgres (a temporary database)', (v) => {
    if (v !== 'sqlite' && v !== 'postgres') throw new InvalidArgumentError('must be sqlite or postgres');
    return v;
  }, 'sqlite')
  .option('--database-url <url>', 'the PostgreSQL server to create (and afterwards drop) the temporary database on', 'postgres://postgres@127.0.0.1:5432/postgres')
  .option('--seed <n>', 'fast-check seed (default: random; printed in the summary)', (v) => {
    const n = Number.parseInt(v, 10);
    if (!Number.isInteger(n)) throw new InvalidArgumentError('must be a whole number');
    return n;
  });

const opts = program.parse().opts<{ minutes?: number; seconds?: number; backend: 'sqlite' | 'postgres'; databaseUrl: string; seed?: number }>();
const durationMs = opts.minutes !== undefined ? opts.minutes * 60_000 : (opts.seconds ?? 60) * 1000;
const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
// The summary is printed as soon as the requests end, before the controller stops.
await runFuzz({
  durationMs, backend: opts.backend, seed, postgresServer: opts.databaseUrl,
  log: (m) => process.stderr.write(`[fuzz] ${m}\n`),
  onSummary: (summary) => process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`),
});
process.exit(0);
