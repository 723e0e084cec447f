// Runs the compiled test files given as arguments with Node's test runner,
// VDPA_TEST_CONCURRENCY (default 2) at a time, in scripts/test-order.mjs's
// order, with the spec reporter. Node 20's `node --test` sorts its files by
// name whatever order they are given in; its run() keeps the order.
// Every test file's process gets --test-force-exit (a file whose tests are
// done but whose handles are still open ends). Exits 1 if any test failed.
// VDPA_TEST_DURATIONS_OUT=FILE writes each file's wall time in the format of
// scripts/test-durations.tsv.
import { writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { orderTestFiles, readDurations } from './test-order.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const concurrency = Number(process.env.VDPA_TEST_CONCURRENCY || 2);
// On Node 20 the timeout limits each *file* as a whole: a backstop for a hung hook.
const timeout = Number(process.env.VDPA_TEST_FILE_TIMEOUT_MS || 1_800_000);

const given = process.argv.slice(2);
const files = orderTestFiles(given, readDurations(resolve(ROOT, 'scripts/test-durations.tsv')), concurrency);

// The runner starts each file with this process's execArgv; this process itself must not
// force-exit, or it would end before the reporter has printed the failures and the summary.
process.execArgv.push('--test-force-exit');

const started = new Map();
const seconds = new Map();
const stream = run({ files, concurrency, timeout });
stream.on('test:fail', () => { process.exitCode = 1; });
// A file is a test of its own on the runner's queue, named by its path as given.
stream.on('test:dequeue', (d) => { if (d.file && resolve(d.name) === d.file) started.set(d.file, Date.now()); });
stream.on('test:complete', (d) => {
  if (d.file && resolve(d.name) === d.file && started.has(d.file)) seconds.set(d.file, (Date.now() - started.get(d.file)) / 1000);
});
stream.on('end', () => {
  const out = process.env.VDPA_TEST_DURATIONS_OUT;
  if (!out) return;
  const lines = [...seconds].sort((a, b) => b[1] - a[1]).map(([f, s]) => `${s.toFixed(1)}\t${relative(ROOT, resolve(f))}`);
  writeFileSync(out, `${lines.join('\n')}\n`);
});
stream.compose(spec).pipe(process.stdout);
