import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentClock, type ClockTarget } from '../../src/agent/agentClock.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recorder(log: string[], name: string): ClockTarget {
  return { onTick: (kind) => log.push(`${name}:${kind}`) };
}

test('jobs run once each, in the order of their due time, not before it', { timeout: 300_000 }, async () => {
  const clock = new AgentClock(10);
  const log: string[] = [];
  const t0 = Date.now();
  const at = new Map<string, number>();
  const target = (name: string): ClockTarget => ({ onTick: (kind) => { log.push(`${name}:${kind}`); at.set(`${name}:${kind}`, Date.now() - t0); } });
  clock.schedule(target('c'), 0, 90);
  clock.schedule(target('a'), 1, 10);
  clock.schedule(target('b'), 2, 50);
  assert.equal(clock.size, 3);
  await sleep(160);
  assert.deepEqual(log, ['a:1', 'b:2', 'c:0']);
  assert.ok(at.get('b:2')! >= 50 && at.get('c:0')! >= 90, JSON.stringify([...at]));
  assert.equal(clock.size, 0);
});

test('a cancelled job does not run; the others in its slot still do', { timeout: 300_000 }, async () => {
  const clock = new AgentClock(10);
  const log: string[] = [];
  const a = recorder(log, 'a');
  const b = recorder(log, 'b');
  const slotA = clock.schedule(a, 0, 30);
  clock.schedule(b, 0, 30);
  const slotA1 = clock.schedule(a, 1, 30);
  clock.cancel(a, 0, slotA);
  assert.equal(clock.size, 2);
  await sleep(80);
  assert.deepEqual(log.sort(), ['a:1', 'b:0']);
  clock.cancel(a, 1, slotA1); // already ran: nothing happens
  assert.equal(clock.size, 0);
});

test('with every job cancelled nothing is left waiting', { timeout: 300_000 }, async () => {
  const clock = new AgentClock(10);
  const log: string[] = [];
  const a = recorder(log, 'a');
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const slots = [clock.schedule(a, 0, 20), clock.schedule(a, 1, 40), clock.schedule(a, 2, 60_000)];
  assert.equal(timers(), before + 1, 'one timer for all jobs');
  slots.forEach((slot, kind) => clock.cancel(a, kind, slot));
  assert.equal(clock.size, 0);
  // No timer keeps the process alive for jobs that will never run (a stopped agent's).
  assert.equal(timers(), before);
  await sleep(80);
  assert.deepEqual(log, []);
});

test('a target that throws does not keep the others of its slot from running', { timeout: 300_000 }, async () => {
  const clock = new AgentClock(10);
  const log: string[] = [];
  clock.schedule({ onTick: () => { throw new Error('boom'); } }, 0, 10);
  clock.schedule(recorder(log, 'b'), 0, 10);
  await sleep(50);
  assert.deepEqual(log, ['b:0']);
});

test('a job scheduled from inside a tick runs on its own time', { timeout: 300_000 }, async () => {
  const clock = new AgentClock(10);
  const times: number[] = [];
  const t0 = Date.now();
  const repeating: ClockTarget = {
    onTick: () => {
      times.push(Date.now() - t0);
      if (times.length < 3) clock.schedule(repeating, 0, 30);
    },
  };
  clock.schedule(repeating, 0, 30);
  await sleep(150);
  assert.equal(times.length, 3);
  assert.ok(times[2]! >= 90, JSON.stringify(times));
});
