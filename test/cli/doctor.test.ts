/**
 * `vdpa-compute doctor` as a real process: where it finds the database
 * (--data-dir, VDPA_DATA_DIR, --database-url, VDPA_DATABASE_URL), what it
 * prints (--json and text), its exit codes, and --fix.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { simulatedFunctions, parseHostInventory } from '../../src/domain/inventory/hostInventory.js';
import { applyDeviceSpecs, parseDeviceSpecs } from '../../src/domain/pci/deviceSpec.js';
import { requestForPort } from '../../src/domain/pci/request.js';
import { openStore, type Store } from '../../src/storage/db.js';
import { claimOnHost } from '../../src/storage/repositories/claims.js';
import { syncInventory } from '../../src/storage/devices/deviceWrites.js';
import { registerHost } from '../../src/storage/repositories/hosts.js';
import { insertInstance } from '../../src/storage/repositories/instances.js';
import { withPostgresDatabase } from '../helpers/testController.js';
import { vdpaInventoryYaml } from '../helpers/inventoryYaml.js';
import { asUnit } from '../helpers/storageAccess.js';

const mainJs = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const LIMIT = { timeout: 90_000 };

interface Run { code: number; stdout: string; stderr: string }

function doctor(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VDPA_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [mainJs, 'doctor', ...args], { env: { ...clean, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

type View = { code: string; ids: Record<string, unknown>; fix: string | null };
function json(r: Run): { findings: View[]; fixed?: View[]; remaining?: View[] } {
  return JSON.parse(r.stdout);
}
const codes = (list: Array<{ code: string }> | undefined) => (list ?? []).map((f) => f.code).sort();

const HOST = vdpaInventoryYaml('h1', ['0000:06:00.0'], 4);

async function seed(store: Store): Promise<void> {
  const [entry] = parseHostInventory(HOST, 'test');
  await registerHost(asUnit(store.db), {
    host: 'h1', serviceVersion: 66, hypervisorType: 'QEMU', hostIp: '127.0.0.1', vcpus: 4, memoryMb: 8192, diskGb: 100,
    versions: entry!.versions, vdpaUnsupportedReason: null,
  }, { cpu: 1, ram: 1, disk: 1 });
  await syncInventory(asUnit(store.db), 'h1', applyDeviceSpecs(parseDeviceSpecs(entry!.deviceSpec), simulatedFunctions(entry!)));
}

/** A claim whose server does not exist (a leak), and a guest record of a server that is gone. */
async function plantLeaks(store: Store, tag: string): Promise<void> {
  await store.transact((trx) => claimOnHost(trx, {
    host: 'h1', consumer: `ghost-${tag}`, instanceUuid: `ghost-${tag}`, vcpus: 1, memoryMb: 256, diskGb: 1,
    pciRequests: [requestForPort({ id: `p-${tag}`, vnicType: 'vdpa', physicalNetwork: 'physnet0' })!],
  }));
  await store.db.insertInto('guests').values({
    instance_uuid: `gone-${tag}`, host: 'h1', desired_state: 'running', spec: '{}', generation: 1, observed_generation: 1,
    observed_state: 'running', domain_xml: null, error: null, updated_at: new Date().toISOString(),
  }).execute();
}

/** A server stuck in scheduling since 2000. */
async function plantStuckTask(store: Store): Promise<void> {
  await store.transact((trx) => insertInstance(trx, {
    uuid: 'stuck-1', name: 'stuck', projectId: 'p', userId: 'u', imageRef: 'i',
    flavor: { id: '1', name: 'm1.tiny', vcpus: 1, ram: 512, disk: 1, ephemeral: 0, swap: 0, extra_specs: {} },
    metadata: {}, description: null, keyName: null, pciRequests: [], portIds: [], availabilityZone: 'nova',
  }, { vmState: 'building', taskState: 'scheduling' }));
  await store.db.updateTable('instances').set({ task_changed_at: '2000-01-01T00:00:00.000Z' }).where('uuid', '=', 'stuck-1').execute();
}

describe('vdpa-compute doctor (the command)', LIMIT, () => {
  test('SQLite: exit 0 when clean, 1 with findings, --fix repairs the safe ones; exit 2 without a database', { timeout: LIMIT.timeout }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'vdpa-doctor-'));
    t.after(() => rm(dir, { recursive: true, force: true }));

    const missing = await doctor(['--data-dir', dir]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no database at .*vdpa-compute\.sqlite/);

    const store = await openStore(join(dir, 'vdpa-compute.sqlite'));
    try {
      await seed(store);
      const clean = await doctor(['--data-dir', dir, '--json']);
      assert.equal(clean.code, 0, clean.stderr);
      assert.deepEqual(json(clean), { findings: [] });
      const cleanText = await doctor(['--data-dir', dir]);
      assert.equal(cleanText.code, 0);
      assert.match(cleanText.stdout, /no findings/);

      await plantLeaks(store, 'a');
      const sick = await doctor(['--data-dir', dir, '--json']);
      assert.equal(sick.code, 1, sick.stderr);
      assert.deepEqual(codes(json(sick).findings), ['claim-of-missing-consumer', 'guest-of-missing-server']);
      assert.ok(json(sick).findings.every((f) => f.fix !== null));
      const sickText = await doctor(['--data-dir', dir]);
      assert.equal(sickText.code, 1);
      assert.match(sickText.stdout, /\[claim-of-missing-consumer\] .*ghost-a/);
      assert.match(sickText.stdout, /--fix: release everything ghost-a holds/);

      const fixed = await doctor(['--data-dir', dir, '--fix', '--json']);
      assert.equal(fixed.code, 0, fixed.stderr);
      assert.deepEqual(codes(json(fixed).fixed), ['claim-of-missing-consumer', 'guest-of-missing-server']);
      assert.deepEqual(json(fixed).remaining, []);
      const devices = await store.db.selectFrom('pci_devices').select('status').where('host', '=', 'h1').execute();
      assert.equal(devices.filter((d) => d.status === 'available').length, 5);

      // A stuck task is the engine's: --fix leaves it and exits 1.
      await plantStuckTask(store);
      await plantLeaks(store, 'b');
      const partly = await doctor(['--data-dir', dir, '--fix', '--json']);
      assert.equal(partly.code, 1, partly.stderr);
      assert.deepEqual(codes(json(partly).findings), ['claim-of-missing-consumer', 'guest-of-missing-server', 'task-past-deadline']);
      assert.deepEqual(codes(json(partly).fixed), ['claim-of-missing-consumer', 'guest-of-missing-server']);
      assert.deepEqual(json(partly).remaining!.map((f) => [f.code, f.ids.server]), [['task-past-deadline', 'stuck-1']]);
      const text = await doctor(['--data-dir', dir, '--fix']);
      assert.equal(text.code, 1);
      assert.match(text.stdout, /re-audit finds 1/);
      assert.match(text.stdout, /\[task-past-deadline\] server stuck-1/);

      // VDPA_DATA_DIR and VDPA_CONFIG, as serve reads them: a long enough operation_timeout and nothing is overdue.
      const config = join(dir, 'config.yaml');
      await writeFile(config, 'operation_timeout: 2000000000\n');
      const patient = await doctor(['--json'], { VDPA_DATA_DIR: dir, VDPA_CONFIG: config });
      assert.deepEqual(json(patient), { findings: [] });
      assert.equal(patient.code, 0, patient.stderr);
    } finally {
      await store.close();
    }
  });

  test('PostgreSQL: VDPA_DATABASE_URL and --database-url', { timeout: LIMIT.timeout }, async () => {
    await withPostgresDatabase(async (url) => {
      const store = await openStore(url);
      try {
        await seed(store);
        const clean = await doctor(['--json'], { VDPA_DATABASE_URL: url });
        assert.equal(clean.code, 0, clean.stderr);
        assert.deepEqual(json(clean), { findings: [] });
        await plantLeaks(store, 'pg');
        const sick = await doctor(['--json'], { VDPA_DATABASE_URL: url });
        assert.equal(sick.code, 1, sick.stderr);
        assert.deepEqual(codes(json(sick).findings), ['claim-of-missing-consumer', 'guest-of-missing-server']);
        const fixed = await doctor(['--database-url', url, '--fix', '--json']);
        assert.equal(fixed.code, 0, fixed.stderr);
        assert.deepEqual(json(fixed).remaining, []);
      } finally {
        await store.close();
      }
    });
  });
});
