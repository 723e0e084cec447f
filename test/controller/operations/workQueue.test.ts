import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedWorkQueue } from '../../../src/controller/operations/workQueue.js';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

test('a key queued many times runs once; queued while running, once more after', { timeout: 5000 }, async () => {
  const runs: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const q = new KeyedWorkQueue(async (key) => {
    runs.push(key);
    if (runs.length === 1) await gate;
  }, { concurrency: 4 });
  q.add('a');
  await tick();
  q.add('a');
  q.add('a');
  q.add('a');
  assert.deepEqual(runs, ['a'], 'never two workers on one key');
  release();
  await tick(20);
  await q.drained();
  assert.deepEqual(runs, ['a', 'a']);
});

test('a failing key is retried with growing delays until it succeeds', { timeout: 5000 }, async () => {
  const at: number[] = [];
  const q = new KeyedWorkQueue(async () => {
    at.push(Date.now());
    if (at.length < 4) throw new Error('database busy');
  }, { concurrency: 1, initialBackoffMs: 20, maxBackoffMs: 1000 });
  q.add('k');
  for (let i = 0; i < 100 && at.length < 4; i++) await tick(10);
  assert.equal(at.length, 4);
  const gaps = at.slice(1).map((t, i) => t - at[i]!);
  assert.ok(gaps[0]! >= 15 && gaps[1]! >= 35 && gaps[2]! >= 75, `backoff doubles: ${gaps.join(', ')}`);
  await q.stop();
});

test('a key asks to be looked at again later (another process holds it)', { timeout: 5000 }, async () => {
  let calls = 0;
  const q = new KeyedWorkQueue(async () => {
    calls += 1;
    return calls === 1 ? { retryInMs: 30 } : undefined;
  }, { concurrency: 1 });
  q.add('k');
  await tick(10);
  assert.equal(calls, 1);
  await tick(60);
  assert.equal(calls, 2);
  await q.stop();
});

test('no more than `concurrency` keys run at once, and every key runs', { timeout: 5000 }, async () => {
  let running = 0;
  let peak = 0;
  const done = new Set<string>();
  const q = new KeyedWorkQueue(async (key) => {
    running += 1;
    peak = Math.max(peak, running);
    await tick(5);
    running -= 1;
    done.add(key);
  }, { concurrency: 3 });
  for (let i = 0; i < 20; i++) q.add(`k${i}`);
  await q.drained();
  assert.equal(done.size, 20);
  assert.equal(peak, 3);
});
