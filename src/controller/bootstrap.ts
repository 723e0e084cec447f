import { flavorExists, imageIdNamed, networkIdNamed, subnetIdNamed } from '../storage/repositories/bootstrapRows.js';
import { getSetting, putSetting } from '../storage/repositories/settings.js';
import { createImage } from './services/images.js';
import { createFlavor } from './services/flavors.js';
import {
  assignRole, createProject, createUser, findProject, findUser, setPassword, type RoleName,
} from './services/directory.js';
import { writeCloudsYaml } from './cloudsYaml.js';
import type { ControllerContext } from './context.js';
import { createNetwork, createSubnet } from './services/networking.js';
import { generatePassword, verifyPassword } from './services/passwords.js';
import type { Unit } from '../storage/unit.js';

export interface BootstrapResult {
  adminPassword: string;
  demoPassword: string;
  /** The compute agents' credential (user `compute-agent`, project `service`, role `service`). */
  agentPassword: string;
}

const FLAVORS = [
  { id: '1', name: 'm1.tiny', vcpus: 1, ram: 512, disk: 1 },
  { id: '2', name: 'm1.small', vcpus: 1, ram: 2048, disk: 20 },
  { id: '3', name: 'm1.medium', vcpus: 2, ram: 4096, disk: 40 },
  { id: '4', name: 'm1.large', vcpus: 4, ram: 8192, disk: 80 },
  { id: '5', name: 'm1.xlarge', vcpus: 8, ram: 16384, disk: 160 },
];

/** A generated password is stored so that later starts (and clouds.yaml) reuse it. */
async function storedPassword(db: Unit, key: string, given?: string): Promise<string> {
  const stored = await getSetting(db, key);
  const password = given ?? stored ?? generatePassword();
  if (stored !== password) await putSetting(db, key, password);
  return password;
}

async function ensureProject(db: Unit, name: string, description: string) {
  return (await findProject(db, { name })) ?? createProject(db, { name, description });
}

/** Creates the user, or brings an existing one's password in line with the stored one. */
async function ensureUser(db: Unit, name: string, password: string, projectId: string, role: RoleName) {
  let user = await findUser(db, { name });
  if (!user) user = await createUser(db, { name, password, defaultProjectId: projectId });
  else if (!(await verifyPassword(password, user.password_hash))) await setPassword(db, user.id, password);
  await assignRole(db, user.id, projectId, role);
  return user;
}

/**
 * Makes an empty database usable and is a no-op on one already set up:
 * projects, users, the agents' credential, flavors, the cirros image record
 * and the shared vDPA provider network. Writes clouds.yaml every time.
 */
export async function bootstrap(
  ctx: ControllerContext,
  opts: { adminPassword?: string; dataDir: string; publicUrl: string; cacert?: string },
): Promise<BootstrapResult> {
  // Controller processes started together on one empty PostgreSQL database
  // race to create the same rows; the loser's unique violation means the row
  // is there now, and every step below reads before it writes, so a second
  // pass completes against what the winner made.
  for (let attempt = 1; ; attempt++) {
    try {
      return await bootstrapOnce(ctx, opts);
    } catch (e) {
      if (attempt >= 3 || !isUniqueViolation(e)) throw e;
      ctx.log.info({ attempt }, 'bootstrap raced another controller process; checking again');
    }
  }
}

function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

async function bootstrapOnce(
  ctx: ControllerContext,
  opts: { adminPassword?: string; dataDir: string; publicUrl: string; cacert?: string },
): Promise<BootstrapResult> {
  // One unit: a bootstrap interrupted half-way leaves nothing half-made.
  const made = await ctx.store.transact((db) => bootstrapRows(db, opts));
  await writeCloudsYaml(opts.dataDir, opts.publicUrl, { adminPassword: made.adminPassword, demoPassword: made.demoPassword }, opts.cacert);
  ctx.log.info({ dataDir: opts.dataDir }, 'bootstrap complete');
  return made;
}

async function bootstrapRows(db: Unit, opts: { adminPassword?: string }): Promise<BootstrapResult> {
  const adminPassword = await storedPassword(db, 'admin_password', opts.adminPassword);
  const demoPassword = await storedPassword(db, 'demo_password');
  const agentPassword = await storedPassword(db, 'agent_password');

  const admin = await ensureProject(db, 'admin', 'Bootstrap project for administrators');
  const demo = await ensureProject(db, 'demo', 'Demo project');
  const service = await ensureProject(db, 'service', 'Project of the compute agents');
  await ensureUser(db, 'admin', adminPassword, admin.id, 'admin');
  await ensureUser(db, 'demo', demoPassword, demo.id, 'member');
  await ensureUser(db, 'compute-agent', agentPassword, service.id, 'service');

  for (const f of FLAVORS) {
    if (!(await flavorExists(db, f.id, f.name))) await createFlavor(db, f);
  }

  if (!(await imageIdNamed(db, 'cirros'))) {
    await createImage(db, {
      name: 'cirros', status: 'active', visibility: 'public', diskFormat: 'qcow2', containerFormat: 'bare',
      size: 16338944, owner: admin.id,
    });
  }

  let networkId = await networkIdNamed(db, 'vdpa-net');
  if (!networkId) {
    ({ id: networkId } = await createNetwork(db, {
      name: 'vdpa-net', projectId: admin.id, shared: true, physicalNetwork: 'physnet0', networkType: 'vlan',
      segmentationId: 100, mtu: 1500,
    }));
  }
  if (!(await subnetIdNamed(db, 'vdpa-subnet'))) {
    await createSubnet(db, {
      name: 'vdpa-subnet', networkId, projectId: admin.id, cidr: '10.0.0.0/24', ipVersion: 4,
      gatewayIp: '10.0.0.1',
    });
  }

  return { adminPassword, demoPassword, agentPassword };
}
