import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DEFAULT_CONFIG, loadConfig } from '../../src/config.js';

async function withConfig(text: string, check: (path: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vdpa-config-'));
  try {
    const path = join(dir, 'config.yaml');
    await writeFile(path, text);
    check(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('the operation engine settings default to Nova-like values', { timeout: 5000 }, () => {
  assert.equal(DEFAULT_CONFIG.reconcile_interval, 10);
  assert.equal(DEFAULT_CONFIG.operation_timeout, 300);
  assert.equal(DEFAULT_CONFIG.scheduler_max_attempts, 3);
  assert.equal(DEFAULT_CONFIG.lease_seconds, 15);
});

test('operation settings are read from the file', { timeout: 5000 }, async () => {
  await withConfig('reconcile_interval: 2\noperation_timeout: 30\nscheduler_max_attempts: 5\nlease_seconds: 4\n', (path) => {
    const cfg = loadConfig(path);
    assert.deepEqual([cfg.reconcile_interval, cfg.operation_timeout, cfg.scheduler_max_attempts, cfg.lease_seconds], [2, 30, 5, 4]);
  });
});

test('zero, negative or fractional attempts are refused with the key named', { timeout: 5000 }, async () => {
  for (const [text, key] of [
    ['operation_timeout: 0\n', 'operation_timeout'],
    ['lease_seconds: -1\n', 'lease_seconds'],
    ['scheduler_max_attempts: 1.5\n', 'scheduler_max_attempts'],
    ['reconcile_interval: "10"\n', 'reconcile_interval'],
  ] as const) {
    await withConfig(text, (path) => {
      assert.throws(() => loadConfig(path), (e: unknown) => e instanceof ConfigError && e.message.includes(`'${key}'`));
    });
  }
});
