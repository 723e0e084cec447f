/**
 * What a controller process sends to the others for a host wake-up: nothing
 * for hosts whose agents it serves itself, one name per host per event-loop
 * turn for the rest.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ATTACHED_GRACE_MS, clusterSignals } from '../../src/controller/services/clusterSignals.js';
import { createHostSignals } from '../../src/controller/services/hostSignals.js';

const turn = () => new Promise((r) => setImmediate(r));

/** The signals' timers do not keep a process alive (unref); the test must, while it waits on one. */
async function held<T>(p: Promise<T>): Promise<T> {
  const keep = setInterval(() => undefined, 1000);
  try { return await p; } finally { clearInterval(keep); }
}

function rig(opts: { here?: string[] } = {}) {
  const sent: string[][] = [];
  let wokeHere = 0;
  let clock = 1_000_000;
  const here = new Set(opts.here ?? []);
  const cluster = clusterSignals(createHostSignals(), {
    runsHere: (h) => here.has(h),
    wakeAllHere: () => { wokeHere += 1; },
    publish: (hosts) => { sent.push(hosts); },
    now: () => clock,
  });
  return {
    cluster, sent, wokeHere: () => wokeHere, advance: (ms: number) => { clock += ms; },
    /** An agent's first poll at a process answers at once; the tests start after it. */
    prime: (...hosts: string[]) => Promise.all(hosts.map((h) => cluster.signals.wait(h, 0))),
  };
}

describe('cluster host signals', () => {
  test('a host whose agent runs in this process sends nothing', { timeout: 120_000 }, async () => {
    const r = rig({ here: ['h1'] });
    for (let i = 0; i < 1000; i++) r.cluster.signals.notify('h1');
    await turn();
    assert.deepEqual(r.sent, []);
  });

  test('notifies within one turn go out together, each host once', { timeout: 120_000 }, async () => {
    const r = rig();
    r.cluster.signals.notify('h1');
    r.cluster.signals.notify('h2');
    r.cluster.signals.notify('h1');
    await Promise.resolve();
    r.cluster.signals.notify('h2');
    assert.deepEqual(r.sent, [], 'nothing is sent before the turn ends');
    await turn();
    assert.deepEqual(r.sent, [['h1', 'h2']]);
    r.cluster.signals.notify('h1');
    await turn();
    assert.deepEqual(r.sent, [['h1', 'h2'], ['h1']]);
  });

  test('a remote agent\'s first poll here answers at once: what was sent before it came is lost here', { timeout: 120_000 }, async () => {
    const r = rig();
    const started = Date.now();
    await held(r.cluster.signals.wait('h1', 60_000));
    assert.ok(Date.now() - started < 1000);
  });

  test('a remote agent long-polling here is woken locally; between its polls it is notified too', { timeout: 120_000 }, async () => {
    const r = rig();
    await r.prime('h1');
    const polled = r.cluster.signals.wait('h1', 60_000);
    r.cluster.signals.notify('h1');
    await polled;
    await turn();
    assert.deepEqual(r.sent, [], 'an agent waiting here needs no notification');
    r.cluster.signals.notify('h1');
    await turn();
    assert.deepEqual(r.sent, [['h1']], 'it may poll another process next');
    let woken = false;
    await r.cluster.signals.wait('h1', 60_000).then(() => { woken = true; });
    assert.equal(woken, true, 'and the local latch holds the wake-up should it come back here');
  });

  test('a received name is latched for an agent between two polls here, for a while', { timeout: 120_000 }, async () => {
    const r = rig();
    await held(r.cluster.signals.wait('h1', 0));
    r.advance(ATTACHED_GRACE_MS - 1);
    r.cluster.received('h1');
    let early = false;
    await r.cluster.signals.wait('h1', 60_000).then(() => { early = true; });
    assert.equal(early, true);
    r.advance(ATTACHED_GRACE_MS + 1);
    r.cluster.received('h1');
    const started = Date.now();
    await held(r.cluster.signals.wait('h1', 200));
    assert.ok(Date.now() - started >= 150, 'an agent gone quiet here is not latched for');
  });

  test('a poll whose agent went away (its connection closed) no longer counts as waiting here', { timeout: 120_000 }, async () => {
    const r = rig();
    await r.prime('h1');
    const gone = new AbortController();
    const polled = r.cluster.signals.wait('h1', 60_000, gone.signal);
    gone.abort();
    await polled;
    r.cluster.signals.notify('h1');
    await turn();
    assert.deepEqual(r.sent, [['h1']]);
  });

  test('a received name wakes an agent attached here and is ignored otherwise', { timeout: 120_000 }, async () => {
    const r = rig({ here: [] });
    await r.prime('h1');
    let woken = false;
    const polled = r.cluster.signals.wait('h1', 60_000).then(() => { woken = true; });
    r.cluster.received('elsewhere');
    await turn();
    assert.equal(woken, false);
    r.cluster.received('h1');
    await polled;
    assert.equal(woken, true);
  });

  test('after lost notifications every attached agent is woken once', { timeout: 120_000 }, async () => {
    const r = rig();
    await r.prime('h1', 'h2');
    const polls = [r.cluster.signals.wait('h1', 60_000), r.cluster.signals.wait('h2', 60_000)];
    r.cluster.wakeAllAttached();
    await Promise.all(polls);
    assert.equal(r.wokeHere(), 1, 'the agents running in this process are woken too');
    await turn();
    assert.deepEqual(r.sent, []);
  });
});
