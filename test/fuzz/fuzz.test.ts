/**
 * A bounded fuzzing run (npm run fuzz, docs/fuzzing.md) on SQLite: about half
 * a minute of valid, invalid and hostile requests from /openapi.json, as every
 * kind of caller. Nothing may answer 5xx, and no rejected request may change
 * the database. The seed is fixed so a failure repeats (VDPA_FUZZ_SEED picks another).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const FUZZ = resolve(import.meta.dirname, '../../bench/fuzz.js');
const SEED = process.env.VDPA_FUZZ_SEED ?? '20261203';
const SECONDS = process.env.VDPA_FUZZ_SECONDS ?? '30';
/** Well under what 30 s give on a loaded two-core machine (about 300), so a slow run does not fail, while a broken walk does. */
const REQUEST_FLOOR = 100;

test('fuzzing /openapi.json on SQLite: no 5xx, no change by a rejected request', { timeout: 300_000 }, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [FUZZ, '--seconds', SECONDS, '--seed', SEED], { maxBuffer: 64 * 1024 * 1024 });
  const summary = JSON.parse(stdout);
  const findings = JSON.stringify(summary.samples, null, 2);
  assert.equal(summary.five_xx, 0, `5xx answers:\n${findings}`);
  assert.equal(summary.changed_by_rejected, 0, `rejected requests that changed the database:\n${findings}`);
  assert.equal(summary.connection_errors, 0, `connections that failed:\n${findings}`);
  assert.ok(summary.requests > REQUEST_FLOOR, `only ${summary.requests} requests`);
  // The probe sees writes at all: accepted requests changed the database.
  assert.ok(summary.changed_by_accepted > 0, JSON.stringify(summary.by_status));
});
