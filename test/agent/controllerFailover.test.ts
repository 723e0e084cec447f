/**
 * A link given several controller URLs: two controller replicas (two HTTP
 * listeners, each with its own token service, over one database), each behind
 * a real proxy that can refuse, reset or answer 503. When the one in use goes
 * away, calls carry on through the other with the same token; when all are
 * away, the link backs off until one is back. And `vdpa-compute agent`'s
 * runAgent with `--controller a,b` keeps its host working when a dies.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { HttpControllerLink } from '../../src/agent/httpControllerLink.js';
import { AgentConfigError, controllerUrls, runAgent } from '../../src/cli/agent.js';
import { buildApp } from '../../src/controller/app.js';
import { tokenIssuer } from '../../src/controller/api/identity/tokens.js';
import type { ControllerContext } from '../../src/controller/context.js';
import { createTokenService } from '../../src/controller/services/tokens.js';
import type { GuestSpec } from '../../src/domain/guest/spec.js';
import type { HostRegistration } from '../../src/protocol/agentProtocol.js';
import { getGuest, setDesiredGuest } from '../../src/storage/repositories/guests.js';
import { vdpaHost } from '../helpers/allInOneProcess.js';
import { startProxy, type Proxy } from '../helpers/httpProxy.js';
import { startTestController, type TestController } from '../helpers/testController.js';
import { kysely, asUnit } from '../helpers/storageAccess.js';

const registration = (host: string): HostRegistration => ({
  host, serviceVersion: 66, hypervisorType: 'QEMU', hostIp: '192.0.2.9', vcpus: 8, memoryMb: 16384, diskGb: 100,
  versions: { kernel: '6.1.0', libvirt: '9.0.0', qemu: '7.2.0' }, vdpaUnsupportedReason: null,
});

describe('a link with several controller URLs fails over between them', () => {
  let c: TestController;
  let replica: FastifyInstance;
  let replicaCtx: ControllerContext;
  let a: Proxy;
  let b: Proxy;
  const credential = () => ({ username: 'compute-agent', password: c.agentPassword, projectName: 'service' });
  const reports = async (host: string) =>
    (await kysely(c.ctx.store).selectFrom('services').select('report_count').where('host', '=', host).executeTakeFirstOrThrow()).report_count;

  before(async () => {
    c = await startTestController();
    // A second controller on the same database, as a replica behind a load balancer would be.
    replicaCtx = { ...c.ctx, tokens: createTokenService(c.ctx.store, c.ctx.config.token_ttl_seconds) };
    replica = await buildApp(replicaCtx);
    replicaCtx.publicUrl = await replica.listen({ host: '127.0.0.1', port: 0 });
    a = await startProxy(c.url);
    b = await startProxy(replicaCtx.publicUrl);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await replica?.close();
    await c?.close();
  });

  test('one replica refused, then 503, then reset: every call goes through the other, with the token of the first', { timeout: 300_000 }, async () => {
    for (const p of [a, b]) await p.start().catch(() => {});
    const link = new HttpControllerLink({ controllerUrl: [a.url, b.url], credential: credential(), initialBackoffMs: 20, maxBackoffMs: 200 });
    const host = `failover-${randomUUID().slice(0, 8)}`;
    try {
      await link.registerHost(registration(host));
      assert.equal(link.controllerUrl, a.url);
      const token = a.tokens.at(-1)!;

      await a.stop();
      const before = await reports(host);
      await link.heartbeat(host);
      assert.equal(await reports(host), before + 1);
      assert.equal(link.controllerUrl, b.url, 'a refused connection moves the link on');
      assert.equal(b.tokens.at(-1), token, 'the token from one replica is used on the other');
      assert.equal(link.authentications, 1);

      // Round robin: from b, a 503 moves the link back to a (up again).
      await a.start();
      b.mode = '503';
      await link.heartbeat(host);
      assert.equal(link.controllerUrl, a.url);
      b.mode = 'up';

      a.mode = 'reset';
      assert.deepEqual(await link.pendingGuests(host), []);
      assert.equal(link.controllerUrl, b.url, 'a reset connection moves the link on');
      a.mode = 'up';
      assert.equal(await reports(host), before + 2);
      assert.equal(link.authentications, 1, 'no failover needed a new token');
    } finally {
      link.close();
    }
  });

  test('all replicas away: the call backs off until one is back, then completes', { timeout: 300_000 }, async () => {
    const link = new HttpControllerLink({ controllerUrl: [a.url, b.url], credential: credential(), initialBackoffMs: 20, maxBackoffMs: 200 });
    const host = `outage-${randomUUID().slice(0, 8)}`;
    a.mode = 'reset';
    b.mode = '503';
    try {
      const seen = a.requests.length + b.requests.length;
      let done = false;
      const call = link.registerHost(registration(host)).then(() => { done = true; });
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(done, false, 'the call finished while every controller was away');
      // Backoff between rounds: 20, 40, 80, 160, 200 ms... a handful of rounds of two, not a busy loop.
      const tries = a.requests.length + b.requests.length - seen;
      assert.ok(tries >= 4 && tries <= 20, `${tries} attempts in 700 ms`);
      b.mode = 'up';
      await call;
      assert.equal(link.controllerUrl, b.url);
      assert.ok(await kysely(c.ctx.store).selectFrom('compute_nodes').select('host').where('host', '=', host).executeTakeFirst());
    } finally {
      a.mode = 'up';
      b.mode = 'up';
      link.close();
    }
  });

  test('a 401 from the replica in use still gets a fresh token, once', { timeout: 300_000 }, async () => {
    const link = new HttpControllerLink({ controllerUrl: [a.url, b.url], credential: credential(), initialBackoffMs: 20, maxBackoffMs: 200 });
    const host = `reauth-${randomUUID().slice(0, 8)}`;
    try {
      await link.registerHost(registration(host));
      await a.stop();
      await link.heartbeat(host);
      const used = b.tokens.at(-1)!;
      // Revoked through the replica in use: the other's token cache may still hold it for a while.
      assert.ok(await tokenIssuer(replicaCtx).revoke(used));
      await link.heartbeat(host);
      assert.equal(link.authentications, 2);
      assert.notEqual(b.tokens.at(-1), used);
    } finally {
      await a.start();
      link.close();
    }
  });

  test('vdpa-compute agent with --controller a,b: its host keeps working through b when a dies', { timeout: 300_000 }, async () => {
    const name = `cli-${randomUUID().slice(0, 8)}`;
    const inventory = join(c.dataDir, `${name}.yaml`);
    await writeFile(inventory, stringify(vdpaHost(name)));
    const credentials = join(c.dataDir, `${name}-credentials.yaml`);
    await writeFile(credentials, stringify({ username: 'compute-agent', password: c.agentPassword, project_name: 'service' }));
    const running = await runAgent({
      controller: [`${a.url}/,${b.url}`], driver: 'simulated', inventory, credentials, libvirtUri: 'test:///default',
      sysfsRoot: '/sys', procRoot: '/proc', trackSoftwareVdpa: false, heartbeatSeconds: 0.2, rediscoverSeconds: 3600,
    }, pino({ level: 'silent' }));
    try {
      assert.equal(running.link.controllerUrl, a.url);
      await a.stop();
      const uuid = randomUUID();
      const spec: GuestSpec = { uuid, name: 'instance-cli', displayName: 'cli', vcpus: 1, memoryMb: 512, diskGb: 1, imageRef: 'cirros', interfaces: [], hostdevs: [] };
      await c.ctx.store.autocommit((u) => setDesiredGuest(u, uuid, name, 'running', spec));
      c.ctx.signals.notify(name);
      const t0 = Date.now();
      for (;;) {
        const row = await getGuest(c.ctx.store.reader, uuid, name);
        if (row?.observed_state === 'running') break;
        if (Date.now() - t0 > 15_000) throw new Error(`the guest was never reported: ${JSON.stringify(row)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(running.link.controllerUrl, b.url);
      const beats = await reports(name);
      await new Promise((r) => setTimeout(r, 600));
      assert.ok(await reports(name) > beats, 'heartbeats stopped after the failover');
    } finally {
      await running.stop();
      await a.start();
    }
  });

  test('--controller takes http(s) URLs only, and says which is wrong', { timeout: 300_000 }, () => {
    assert.deepEqual(controllerUrls(['http://c1:8774/, https://c2', 'http://c3:8774']), ['http://c1:8774', 'https://c2', 'http://c3:8774']);
    assert.throws(() => controllerUrls('c1:8774'), (e: unknown) => e instanceof AgentConfigError && /--controller: "c1:8774" must be an http:\/\/ or https:\/\/ URL/.test(e.message));
    assert.throws(() => controllerUrls('http://ok:1,not a url'), /--controller: "not a url" is not a URL/);
    assert.throws(() => controllerUrls(' , '), /--controller: no URL given/);
  });
});
