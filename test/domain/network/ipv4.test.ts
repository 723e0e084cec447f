import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  defaultGateway, defaultPool, formatIpv4, nextInPool, parseIpv4, parseIpv4Cidr, poolProblem,
} from '../../../src/domain/network/ipv4.js';

const ip = (s: string) => parseIpv4(s)!;

test('dotted quads round-trip and malformed ones are refused', { timeout: 120_000 }, () => {
  for (const s of ['0.0.0.0', '10.0.0.1', '255.255.255.255', '192.168.100.7']) assert.equal(formatIpv4(ip(s)), s);
  for (const s of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', 'a.b.c.d', '', '1.2.3.-4']) assert.equal(parseIpv4(s), null, s);
});

test('a subnet CIDR must have its host bits clear', { timeout: 120_000 }, () => {
  assert.deepEqual(parseIpv4Cidr('10.0.0.0/24'), { network: ip('10.0.0.0'), prefix: 24, last: ip('10.0.0.255') });
  assert.equal(parseIpv4Cidr('10.0.0.5/24'), null);
  assert.equal(parseIpv4Cidr('10.0.0.0/33'), null);
  assert.equal(parseIpv4Cidr('10.0.0.0'), null);
  assert.deepEqual(parseIpv4Cidr('0.0.0.0/0'), { network: 0, prefix: 0, last: 2 ** 32 - 1 });
});

test('the default gateway is the first host and the pool is the rest of the hosts', { timeout: 120_000 }, () => {
  const c = parseIpv4Cidr('10.0.0.0/24')!;
  assert.equal(formatIpv4(defaultGateway(c)!), '10.0.0.1');
  const pool = defaultPool(c, defaultGateway(c))!;
  assert.deepEqual([formatIpv4(pool.start), formatIpv4(pool.end)], ['10.0.0.2', '10.0.0.254']);
  const highGw = defaultPool(c, ip('10.0.0.254'))!;
  assert.deepEqual([formatIpv4(highGw.start), formatIpv4(highGw.end)], ['10.0.0.1', '10.0.0.253']);
  const noGw = defaultPool(c, null)!;
  assert.deepEqual([formatIpv4(noGw.start), formatIpv4(noGw.end)], ['10.0.0.1', '10.0.0.254']);
  assert.equal(defaultPool(parseIpv4Cidr('10.0.0.0/30')!, ip('10.0.0.1'))?.start, ip('10.0.0.2'));
});

test('a requested pool must sit inside the hosts and avoid the gateway', { timeout: 120_000 }, () => {
  const c = parseIpv4Cidr('10.0.0.0/24')!;
  assert.equal(poolProblem(c, { start: ip('10.0.0.10'), end: ip('10.0.0.20') }, ip('10.0.0.1')), null);
  assert.match(poolProblem(c, { start: ip('10.0.0.20'), end: ip('10.0.0.10') }, null)!, /after its end/);
  assert.match(poolProblem(c, { start: ip('10.0.0.0'), end: ip('10.0.0.20') }, null)!, /not within/);
  assert.match(poolProblem(c, { start: ip('10.0.0.10'), end: ip('10.0.1.20') }, null)!, /not within/);
  assert.match(poolProblem(c, { start: ip('10.0.0.1'), end: ip('10.0.0.20') }, ip('10.0.0.1'))!, /conflicts/);
});

test('the allocator steps through the pool and wraps to its start', { timeout: 120_000 }, () => {
  const pool = { start: ip('10.0.0.2'), end: ip('10.0.0.4') };
  assert.equal(formatIpv4(nextInPool(pool, ip('10.0.0.2'))), '10.0.0.3');
  assert.equal(formatIpv4(nextInPool(pool, ip('10.0.0.4'))), '10.0.0.2');
  assert.equal(formatIpv4(nextInPool(pool, ip('10.0.0.99'))), '10.0.0.2');
});
