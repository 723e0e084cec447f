import { test } from 'node:test';
import assert from 'node:assert/strict';
import { postgresPoolSize } from '../../src/storage/db.js';

test('VDPA_PG_POOL: 10 when unset, a whole number taken as is, anything else a clear error', { timeout: 120_000 }, () => {
  assert.equal(postgresPoolSize(undefined), 10);
  assert.equal(postgresPoolSize(''), 10);
  assert.equal(postgresPoolSize('24'), 24);
  for (const bad of ['0', '-3', '2.5', 'ten', '100000']) {
    assert.throws(() => postgresPoolSize(bad), new RegExp(`VDPA_PG_POOL must be a whole number of connections from 1 to 1000, not "${bad.replace('.', '\\.')}"`));
  }
});
