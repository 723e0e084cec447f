/**
 * Interface attach and detach (behaviour.md "interface attach"; Nova's
 * os-interface). The device is claimed on the server's own host, in the same
 * transaction that binds the port and records the new guest spec, so a
 * missing device changes nothing; the agent then hot-plugs (or unplugs) by
 * converging the guest to the new spec.
 *
 * | step                      | task_state          | port                               | device            | guest spec          |
 * |---------------------------|---------------------|------------------------------------|-------------------|---------------------|
 * | attach accepted           | attaching_interface | bound to the new device            | allocated         | + the new NIC       |
 * | agent: NIC plugged        | null                | ACTIVE (DOWN if the server is off) | allocated         | -                   |
 * | agent: plug failed        | null, fault         | unbound, device_id ""              | freed             | - the NIC again     |
 * | detach accepted           | detaching_interface | unchanged                          | unchanged         | - the NIC           |
 * | agent: NIC unplugged      | null                | unbound, device_id "", profile {}  | freed             | -                   |
 * | agent: unplug failed      | null, fault         | unchanged                          | unchanged         | + the NIC again     |
 *
 * | deadline (attach)         | null, fault         | as "plug failed"                   |                   |                     |
 * | deadline (detach)         | null, fault         | as "unplug failed"                 |                   |                     |
 *
 * While attaching, the port being attached is the last of instance.portIds;
 * while detaching, it is the one of instance.portIds missing from the spec.
 */
import { BadRequest, ClaimConflict, Conflict, NotFound } from '../../domain/errors.js';
import { invalidState } from '../../domain/lifecycle/invalidState.js';
import type { GuestSpec } from '../../domain/guest/spec.js';
import { vdpaOperationGate, type VdpaGatedOperation } from '../../domain/lifecycle/vdpaGates.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { requestForPort } from '../../domain/pci/request.js';
import type { DesiredGuestState } from '../../protocol/agentProtocol.js';
import { actionsOf, finishAction, startAction } from '../../storage/repositories/actions.js';
import { claimDevicesOnHost, releaseDevices } from '../../storage/repositories/claims.js';
import { getGuest, setDesiredGuest, type GuestRow, guestSpecOf } from '../../storage/repositories/guests.js';
import { COMPUTE_BINARY, listServices, minimumComputeVersion, serviceIsUp } from '../../storage/repositories/hosts.js';
import { getInstance, updateInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import { bindPort, getPort, getPorts, setPortStatus, unbindPort, type PortRecord } from '../../storage/repositories/ports.js';
import { reservePort } from '../../storage/repositories/portReservations.js';
import type { AuthContext, ControllerContext } from '../context.js';
import { bindingProfileFor, buildGuestSpec, VIF_DETAILS_OVS } from '../services/guestSpecs.js';
import { guestNumaPlacement, heldDevicesByPort } from './portBindings.js';
import { numaRequestFor } from './resources.js';
import { answered, failedOn, ownGuest, type Operation } from '../operations/transitions.js';
import type { Unit } from '../../storage/unit.js';

export const ATTACH_ACTION = 'attach_interface';
export const DETACH_ACTION = 'detach_interface';

/** vm_states in which a NIC may come or go (Nova: ACTIVE, PAUSED, STOPPED; no PAUSED here). */
const INTERFACE_VM_STATES: readonly string[] = [VmState.ACTIVE, VmState.STOPPED];

export interface InterfaceRequestor {
  auth: AuthContext;
  requestId: string;
}

function checkState(instance: InstanceRecord, action: string): void {
  if (!INTERFACE_VM_STATES.includes(instance.vmState) || !instance.host) {
    throw invalidState(action, instance, 'vm_state');
  }
  if (instance.taskState !== null) {
    throw invalidState(action, instance, 'task_state');
  }
}

async function checkGate(ctx: ControllerContext, op: VdpaGatedOperation, instance: InstanceRecord, hasVdpaPorts: boolean): Promise<void> {
  const refusal = vdpaOperationGate(op, hasVdpaPorts, await minimumComputeVersion(ctx.store.reader), instance.uuid);
  if (refusal) throw new BadRequest(refusal);
}

async function checkHostUp(ctx: ControllerContext, host: string): Promise<void> {
  const [svc] = await listServices(ctx.store.reader, { host, binary: COMPUTE_BINARY });
  if (!svc || !serviceIsUp(svc, ctx.config.service_down_time)) {
    throw new Conflict(`Compute service of host ${host} is down; the interface cannot be changed now.`);
  }
}

/** The guest spec of a server with exactly these ports, from the devices it holds on its host. */
async function specFor(trx: Unit, instance: InstanceRecord, portIds: string[]): Promise<GuestSpec> {
  const ports = await getPorts(trx, portIds);
  const { byPort, aliasDevices } = await heldDevicesByPort(trx, instance.uuid, ports, instance.host!);
  // The guest keeps its pins and cells: an interface change does not move it.
  const numa = await guestNumaPlacement(trx, instance, instance.host!);
  return buildGuestSpec({ ...instance, portIds }, ports, byPort, aliasDevices, instance.flavor, numa);
}

function desiredOf(guest: GuestRow | undefined, instance: InstanceRecord): DesiredGuestState {
  if (guest && (guest.desired_state === 'running' || guest.desired_state === 'shutoff')) return guest.desired_state;
  return instance.vmState === VmState.STOPPED ? 'shutoff' : 'running';
}

/**
 * Validates an attach and records it: device claimed on the server's host,
 * port bound, guest spec with the new NIC, task attaching_interface. Throws
 * (and changes nothing) when the port is unusable or no device is free.
 */
export async function startInterfaceAttach(ctx: ControllerContext, instance: InstanceRecord, portId: string, who: InterfaceRequestor): Promise<void> {
  const db = ctx.store.reader;
  checkState(instance, ATTACH_ACTION);
  const port = await getPort(db, portId);
  if (!port || (!who.auth.isAdmin && port.projectId !== who.auth.projectId)) throw new NotFound(`Port id ${portId} could not be found.`);
  const current = await getPorts(db, instance.portIds);
  await checkGate(ctx, ATTACH_ACTION, instance, port.vnicType === 'vdpa' || current.some((p) => p.vnicType === 'vdpa'));
  if (port.deviceId !== '') throw new Conflict(`Port ${portId} is still in use.`);
  const request = requestForPort({ id: port.id, vnicType: port.vnicType, physicalNetwork: port.physicalNetwork, numaAffinityPolicy: port.numaAffinityPolicy });
  // A guest with a NUMA topology gets a device its PCI NUMA affinity policy allows (port, else flavor/image, else legacy).
  const numa = request ? numaRequestFor(instance.flavor, [request], instance.imageProperties) : undefined;
  if (request && !port.physicalNetwork) {
    throw new BadRequest(`Port ${portId} has vnic_type ${port.vnicType} but its network has no physical network.`);
  }
  const host = instance.host!;
  await checkHostUp(ctx, host);

  let notify = false;
  try {
    await ctx.store.transact(async (trx) => {
      const portIds = [...instance.portIds, port.id];
      const pciRequests = request ? [...instance.pciRequests, request] : instance.pciRequests;
      const moved = await updateInstance(trx, instance.uuid, { taskState: TaskState.ATTACHING_INTERFACE, portIds, pciRequests },
        { taskState: null, vmState: instance.vmState });
      if (!moved) throw new Conflict(`Cannot '${ATTACH_ACTION}' instance ${instance.uuid} while another operation is in progress`);
      const owner = `compute:${instance.availabilityZone}`;
      await reservePort(trx, port.id, instance.uuid, owner, () => new Conflict(`Port ${portId} is still in use.`));
      const claimed = request
        ? await claimDevicesOnHost(trx, { host, consumer: instance.uuid, instanceUuid: instance.uuid, pciRequests: [request], ...(numa ? { numa } : {}) })
        : [];
      await bindPort(trx, port.id, {
        hostId: host, deviceId: instance.uuid, deviceOwner: owner, profile: bindingProfileFor(claimed[0]?.device),
        vifType: 'ovs', vifDetails: { ...VIF_DETAILS_OVS }, status: 'DOWN',
      });
      const guest = await getGuest(trx, instance.uuid, host);
      await setDesiredGuest(trx, instance.uuid, host, desiredOf(guest, instance), await specFor(trx, instance, portIds));
      await startAction(trx, { instanceUuid: instance.uuid, action: ATTACH_ACTION, requestId: who.requestId, projectId: who.auth.projectId, userId: who.auth.userId });
      notify = true;
    });
  } catch (e) {
    if (e instanceof ClaimConflict) {
      const where = request!.spec.physicalNetwork ? ` on physical network ${request!.spec.physicalNetwork}` : '';
      const policy = numa ? ` that its PCI NUMA affinity policy (${numa.pciPolicies[request!.id]}) allows` : '';
      throw new BadRequest(`Failed to claim PCI device for ${instance.uuid} during interface attach: `
        + `host ${host} has no free ${request!.spec.devType} device${where}${policy} for port ${port.id}.`);
    }
    throw e;
  }
  if (notify) ctx.signals.notify(host);
}

/** Records a detach: the guest spec loses the NIC, task detaching_interface; the agent's report finishes it. */
export async function startInterfaceDetach(ctx: ControllerContext, instance: InstanceRecord, portId: string, who: InterfaceRequestor): Promise<void> {
  const db = ctx.store.reader;
  if (!instance.portIds.includes(portId)) throw new NotFound(`Port ${portId} is not attached to server ${instance.uuid}.`);
  checkState(instance, DETACH_ACTION);
  const current = await getPorts(db, instance.portIds);
  await checkGate(ctx, DETACH_ACTION, instance, current.some((p) => p.vnicType === 'vdpa'));
  const host = instance.host!;
  await checkHostUp(ctx, host);
  await ctx.store.transact(async (trx) => {
    const moved = await updateInstance(trx, instance.uuid, { taskState: TaskState.DETACHING_INTERFACE },
      { taskState: null, vmState: instance.vmState });
    if (!moved) throw new Conflict(`Cannot '${DETACH_ACTION}' instance ${instance.uuid} while another operation is in progress`);
    const guest = await getGuest(trx, instance.uuid, host);
    const spec = await specFor(trx, instance, instance.portIds.filter((id) => id !== portId));
    await setDesiredGuest(trx, instance.uuid, host, desiredOf(guest, instance), spec);
    await startAction(trx, { instanceUuid: instance.uuid, action: DETACH_ACTION, requestId: who.requestId, projectId: who.auth.projectId, userId: who.auth.userId });
  });
  ctx.signals.notify(host);
}

export type InterfaceOutcome = { done: true; ok: boolean; message: string | null } | { done: false };

/** Waits until the action started by this request finishes (the agent has reported). */
export async function awaitInterfaceAction(ctx: ControllerContext, uuid: string, action: string, requestId: string, timeoutMs: number): Promise<InterfaceOutcome> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const row = (await actionsOf(ctx.store.reader, uuid)).find((a) => a.action === action && a.request_id === requestId);
    if (!row) return { done: true, ok: false, message: `Server ${uuid} is gone.` };
    if (row.finish_time) return { done: true, ok: row.result === 'Success', message: row.message };
    if (Date.now() > until) return { done: false };
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function portSlot(trx: Unit, portId: string): Promise<{ port: PortRecord | null; slot: string | null }> {
  const port = await getPort(trx, portId);
  const slot = port?.profile['pci_slot'];
  return { port, slot: typeof slot === 'string' ? slot : null };
}

/** Drops a port from the server: frees its device, unbinds it, forgets its PCI request. */
async function forgetPort(ctx: ControllerContext, trx: Unit, instance: InstanceRecord, portId: string): Promise<{ portIds: string[] }> {
  const { port, slot } = await portSlot(trx, portId);
  if (slot) await releaseDevices(trx, instance.uuid, instance.host!, [slot]);
  if (port && (port.deviceId === instance.uuid || port.deviceId === '')) await unbindPort(trx, portId);
  return { portIds: instance.portIds.filter((id) => id !== portId) };
}

async function attached(ctx: ControllerContext, instance: InstanceRecord, guest: GuestRow): Promise<void> {
  const portId = instance.portIds[instance.portIds.length - 1]!;
  await ctx.store.transact(async (trx) => {
    const done = await updateInstance(trx, instance.uuid, { taskState: null }, { taskState: TaskState.ATTACHING_INTERFACE });
    if (!done) return;
    await setPortStatus(trx, [portId], guest.observed_state === 'running' ? 'ACTIVE' : 'DOWN');
    await finishAction(trx, instance.uuid, ATTACH_ACTION, 'Success');
  });
}

/** The hot-plug failed (or timed out): give back the device and the port; the agent removes whatever half-arrived. */
async function attachFailed(ctx: ControllerContext, instance: InstanceRecord, guest: GuestRow | undefined, error: string): Promise<void> {
  const portId = instance.portIds[instance.portIds.length - 1]!;
  const host = instance.host!;
  const message = `Failed to attach network adapter device to ${instance.uuid}: ${error}`;
  await ctx.store.transact(async (trx) => {
    const fresh = await getInstance(trx, instance.uuid);
    if (!fresh || fresh.taskState !== TaskState.ATTACHING_INTERFACE) return;
    const { portIds } = await forgetPort(ctx, trx, fresh, portId);
    const pciRequests = fresh.pciRequests.filter((r) => r.id !== `port-${portId}`);
    const done = await updateInstance(trx, fresh.uuid, {
      taskState: null, portIds, pciRequests, fault: { code: 500, message, created: nowIso() },
    }, { taskState: TaskState.ATTACHING_INTERFACE });
    if (!done) return;
    const spec = await specFor(trx, { ...fresh, portIds, pciRequests }, portIds);
    await setDesiredGuest(trx, fresh.uuid, host, desiredOf(guest, fresh), spec);
    await finishAction(trx, fresh.uuid, ATTACH_ACTION, 'Error', message);
  });
  ctx.signals.notify(host);
}

async function detached(ctx: ControllerContext, instance: InstanceRecord, guest: GuestRow): Promise<void> {
  const spec = guestSpecOf(guest);
  const kept = new Set(spec.interfaces.map((i) => i.portId));
  const portId = instance.portIds.find((id) => !kept.has(id));
  await ctx.store.transact(async (trx) => {
    const fresh = await getInstance(trx, instance.uuid);
    if (!fresh || fresh.taskState !== TaskState.DETACHING_INTERFACE) return;
    const portIds = portId ? (await forgetPort(ctx, trx, fresh, portId)).portIds : fresh.portIds;
    const pciRequests = fresh.pciRequests.filter((r) => r.id !== `port-${portId}`);
    const done = await updateInstance(trx, fresh.uuid, { taskState: null, portIds, pciRequests }, { taskState: TaskState.DETACHING_INTERFACE });
    if (done) await finishAction(trx, fresh.uuid, DETACH_ACTION, 'Success');
  });
}

/** The unplug failed (or timed out): the NIC stays, and the agent is told to keep (or re-plug) it. */
async function detachFailed(ctx: ControllerContext, instance: InstanceRecord, guest: GuestRow | undefined, error: string): Promise<void> {
  const host = instance.host!;
  const message = `Failed to detach network adapter device from ${instance.uuid}: ${error}`;
  await ctx.store.transact(async (trx) => {
    const done = await updateInstance(trx, instance.uuid, { taskState: null, fault: { code: 500, message, created: nowIso() } },
      { taskState: TaskState.DETACHING_INTERFACE });
    if (!done) return;
    await setDesiredGuest(trx, instance.uuid, host, desiredOf(guest, instance), await specFor(trx, instance, instance.portIds));
    await finishAction(trx, instance.uuid, DETACH_ACTION, 'Error', message);
  });
  ctx.signals.notify(host);
}

export const INTERFACE_OPERATION: Operation = {
  action: ATTACH_ACTION,
  transitions: [
    {
      state: TaskState.ATTACHING_INTERFACE, on: 'NIC plugged', when: (s) => answered(ownGuest(s)) && ownGuest(s)!.error === null,
      step: (ctx, s) => attached(ctx, s.instance, ownGuest(s)!),
    },
    {
      state: TaskState.ATTACHING_INTERFACE, on: 'plug failed', when: (s) => failedOn(ownGuest(s)),
      step: (ctx, s) => attachFailed(ctx, s.instance, ownGuest(s), ownGuest(s)!.error!),
    },
    {
      state: TaskState.DETACHING_INTERFACE, on: 'NIC unplugged', when: (s) => answered(ownGuest(s)) && ownGuest(s)!.error === null,
      step: (ctx, s) => detached(ctx, s.instance, ownGuest(s)!),
    },
    {
      state: TaskState.DETACHING_INTERFACE, on: 'unplug failed', when: (s) => failedOn(ownGuest(s)),
      step: (ctx, s) => detachFailed(ctx, s.instance, ownGuest(s), ownGuest(s)!.error!),
    },
  ],
  async onDeadline(ctx, s, why) {
    if (s.instance.taskState === TaskState.ATTACHING_INTERFACE) return attachFailed(ctx, s.instance, ownGuest(s), why);
    return detachFailed(ctx, s.instance, ownGuest(s), why);
  },
};
