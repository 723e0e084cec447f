import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleNotAvailable } from '../../../src/agent/drivers/driver.js';
import { readConsoleLog } from '../../../src/agent/drivers/libvirt/consoleLogFile.js';
import { SimulatedDriver } from '../../../src/agent/drivers/simulated.js';
import { MAX_CONSOLE_BYTES, tailLines } from '../../../src/domain/guest/consoleLog.js';
import { consoleLogPathOf, guestDomainXml } from '../../../src/domain/guest/domainXml.js';
import { guestSpec, validateDomain, vdpaPort } from './fixtures.js';

const spec = guestSpec({ interfaces: [vdpaPort(0)] });

test('a kvm guest logs its serial console to <instances>/<uuid>/console.log, and the domain validates', { timeout: 20_000 }, () => {
  const xml = guestDomainXml(spec, { virtType: 'kvm', instancesPath: '/srv/instances' });
  assert.match(xml, /<serial type="pty">\s*<log file="\/srv\/instances\/[0-9a-f-]+\/console\.log" append="off"\/>\s*<target port="0"\/>\s*<\/serial>/);
  assert.equal(consoleLogPathOf(xml), `/srv/instances/${spec.uuid}/console.log`);
  const validated = validateDomain(xml);
  assert.equal(validated.status, 0, validated.output);
});

test('a test-driver guest has no serial console, hence no console log', { timeout: 300_000 }, () => {
  assert.equal(consoleLogPathOf(guestDomainXml(spec, { virtType: 'test' })), null);
});

test('tailLines keeps the last N lines (the trailing newline too) and strips control characters as Nova does', { timeout: 300_000 }, () => {
  assert.equal(tailLines('a\nb\nc\n', 2), 'b\nc\n');
  assert.equal(tailLines('a\nb\nc', 1), 'c');
  assert.equal(tailLines('a\x07b\r\n\tc\n', null), 'ab\r\n\tc\n');
  assert.equal(tailLines('a\nb\n', 0), '');
  assert.equal(tailLines('a\nb\n', 10), 'a\nb\n');
});

test('the libvirt driver reads the log file its domain names, at most its last 100 KB', { timeout: 10_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vdpa-console-'));
  try {
    const xml = guestDomainXml(spec, { virtType: 'kvm', instancesPath: dir });
    await assert.rejects(readConsoleLog(xml), ConsoleNotAvailable);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, spec.uuid));
    await writeFile(join(dir, spec.uuid, 'console.log'), 'x'.repeat(MAX_CONSOLE_BYTES) + 'login: ');
    const log = await readConsoleLog(xml);
    assert.equal(log.length, MAX_CONSOLE_BYTES);
    assert.ok(log.endsWith('login: '));
    await assert.rejects(readConsoleLog(guestDomainXml(spec, { virtType: 'test' })), ConsoleNotAvailable);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the simulated driver logs one boot per start, naming each NIC by its MAC', { timeout: 300_000 }, async () => {
  const driver = new SimulatedDriver({ hostName: 'h' });
  await driver.spawn(spec);
  const first = await driver.consoleLog(spec.uuid);
  assert.match(first, new RegExp(`virtio_net eth0: MAC address ${spec.interfaces[0]!.macAddress}`));
  assert.match(first, /login: \n$/);
  await driver.powerOff(spec.uuid);
  await driver.powerOn(spec.uuid);
  assert.equal((await driver.consoleLog(spec.uuid)).match(/=== .* boot \d ===/g)?.length, 2);
});
