import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedDriver } from '../../../src/agent/drivers/simulated.js';
import { guestSpec, vdpaPort } from '../../domain/guest/fixtures.js';

// A generous bound (a loaded CI machine), still far below what an O(n)-per-op driver would take.
test('thousands of spawns per second, independent of how many guests exist', async () => {
  const n = 20_000;
  const present = new Set(Array.from({ length: n }, (_, i) => `/dev/vhost-vdpa-${i}`));
  const d = new SimulatedDriver({ hostName: 'compute1', availableChardevs: () => present });
  const specs = Array.from({ length: n }, (_, i) =>
    guestSpec({ uuid: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`, name: `instance-${i}`, interfaces: [vdpaPort(i)] }));
  const timeBatch = async (from: number, to: number): Promise<number> => {
    const start = process.hrtime.bigint();
    for (let i = from; i < to; i++) await d.spawn(specs[i]!);
    return Number(process.hrtime.bigint() - start) / 1e9;
  };
  await timeBatch(0, 1_000); // warm up
  const early = await timeBatch(1_000, 5_000);
  await timeBatch(5_000, 15_000);
  const late = await timeBatch(15_000, 19_000);
  const perSecond = 4_000 / late;
  console.log(`simulated spawn: ${(late / 4_000 * 1e6).toFixed(1)} µs each, ${Math.round(perSecond)}/s`);
  assert.ok(perSecond > 5_000, `spawns per second: ${Math.round(perSecond)}`);
  assert.ok(late < early * 3 + 0.05, `no slowdown with 15k guests defined: ${early}s vs ${late}s`);
  for (let i = 0; i < 1000; i++) {
    await d.suspend(specs[i]!.uuid);
    await d.resume(specs[i]!.uuid, specs[i]!);
  }
  assert.equal(d.size, 19_000);
});
