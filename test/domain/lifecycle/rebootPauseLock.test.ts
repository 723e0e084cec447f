import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rebootTypeOf, requireRebootable } from '../../../src/domain/lifecycle/reboot.js';
import { isExpectedLocker, lockChanges, lockerKind, lockRefusal } from '../../../src/domain/lifecycle/lock.js';
import { serverStatus, TaskState, VmState } from '../../../src/domain/lifecycle/serverStatus.js';
import { metadataOfBody, requireMetadataQuota } from '../../../src/domain/servers/metadata.js';
import { requireRoomForTag, requireTagInUrl, tagFilterOf, tagsOfBody } from '../../../src/domain/servers/tags.js';

const ID = '11111111-2222-4333-8444-555555555555';
const server = (vmState: string, taskState: string | null = null, launchedAt: string | null = '2024-01-01T00:00:00Z') => ({ uuid: ID, vmState, taskState, launchedAt });
const refusal = (fn: () => void) => {
  try { fn(); } catch (e) { return (e as Error).message; }
  return null;
};

test('reboot types: the six spellings Nova accepts', { timeout: 2000 }, () => {
  assert.deepEqual(['SOFT', 'Soft', 'soft', 'HARD', 'Hard', 'hard'].map(rebootTypeOf), ['SOFT', 'SOFT', 'SOFT', 'HARD', 'HARD', 'HARD']);
  assert.equal(rebootTypeOf('WARM'), null);
  assert.equal(rebootTypeOf(undefined), null);
  assert.equal(rebootTypeOf('toString'), null);
});

test('reboot states: soft from an idle active server; hard also from stopped, paused, suspended, error and over some tasks', { timeout: 2000 }, () => {
  assert.equal(refusal(() => requireRebootable(server('active'), 'SOFT')), null);
  for (const vm of ['active', 'stopped', 'paused', 'suspended', 'error']) assert.equal(refusal(() => requireRebootable(server(vm), 'HARD')), null, vm);
  assert.equal(refusal(() => requireRebootable(server('stopped'), 'SOFT')), `Cannot 'reboot' instance ${ID} while it is in vm_state stopped`);
  assert.equal(refusal(() => requireRebootable(server('shelved_offloaded'), 'HARD')), `Cannot 'reboot' instance ${ID} while it is in vm_state shelved_offloaded`);
  assert.equal(refusal(() => requireRebootable(server('active', 'rebooting'), 'SOFT')), `Cannot 'reboot' instance ${ID} while it is in task_state rebooting`);
  for (const task of ['rebooting', 'reboot_started', 'rebooting_hard', 'pausing', 'unpausing', 'suspending', 'resuming']) {
    assert.equal(refusal(() => requireRebootable(server('active', task), 'HARD')), null, task);
  }
  assert.equal(refusal(() => requireRebootable(server('active', 'reboot_started_hard'), 'HARD')), `Cannot 'reboot' instance ${ID} while it is in task_state reboot_started_hard`);
  assert.equal(refusal(() => requireRebootable(server('active', 'migrating'), 'HARD')), `Cannot 'reboot' instance ${ID} while it is in task_state migrating`);
  assert.equal(refusal(() => requireRebootable(server('error', null, null), 'HARD')), `Cannot 'reboot' instance ${ID} while it is in launched_at None`);
});

test('status: REBOOT and HARD_REBOOT while active; a stopped server hard-rebooting shows SHUTOFF; PAUSED', { timeout: 2000 }, () => {
  for (const t of [TaskState.REBOOTING, TaskState.REBOOT_PENDING, TaskState.REBOOT_STARTED]) assert.equal(serverStatus(VmState.ACTIVE, t), 'REBOOT');
  for (const t of [TaskState.REBOOTING_HARD, TaskState.REBOOT_PENDING_HARD, TaskState.REBOOT_STARTED_HARD]) assert.equal(serverStatus(VmState.ACTIVE, t), 'HARD_REBOOT');
  assert.equal(serverStatus(VmState.STOPPED, TaskState.REBOOTING_HARD), 'SHUTOFF');
  assert.equal(serverStatus(VmState.PAUSED, TaskState.REBOOTING_HARD), 'PAUSED');
  assert.equal(serverStatus(VmState.ACTIVE, TaskState.PAUSING), 'ACTIVE');
  assert.equal(serverStatus(VmState.PAUSED, TaskState.UNPAUSING), 'PAUSED');
  assert.equal(serverStatus(VmState.PAUSED, TaskState.MIGRATING), 'MIGRATING');
});

test('lock: members refused, admins pass; owner and admin locks; who may unlock', { timeout: 2000 }, () => {
  const owned = { uuid: ID, projectId: 'demo', locked: true, lockedBy: 'owner' as const };
  assert.equal(lockRefusal(owned, false)?.message, `Instance ${ID} is locked`);
  assert.equal(lockRefusal(owned, true), null);
  assert.equal(lockRefusal({ ...owned, locked: false }, false), null);
  assert.equal(lockerKind(owned, 'demo'), 'owner');
  assert.equal(lockerKind(owned, 'admin'), 'admin');
  assert.equal(lockChanges(owned, 'demo'), false, 'an owner re-locking changes nothing');
  assert.equal(lockChanges(owned, 'admin'), true, "an admin's lock replaces the owner's");
  assert.equal(isExpectedLocker(owned, 'demo'), true);
  assert.equal(isExpectedLocker(owned, 'admin'), false);
  assert.equal(isExpectedLocker({ ...owned, lockedBy: 'admin' }, 'demo'), false);
  assert.equal(isExpectedLocker({ ...owned, locked: false, lockedBy: null }, 'demo'), true);
});

test('tags: Nova texts for a bad tag, the per-server limit, bodies and filters', { timeout: 2000 }, () => {
  assert.equal(refusal(() => requireTagInUrl('ok-tag')), null);
  assert.equal(refusal(() => requireTagInUrl('a,b')), "Tag 'a,b' is invalid. It must be a non empty string without characters '/' and ','. Validation error message: 'a,b' does not match '^[^,/]*$'");
  assert.match(refusal(() => requireTagInUrl('x'.repeat(61)))!, /is too long$/);
  assert.equal(refusal(() => requireRoomForTag(50)), 'The number of tags exceeded the per-server limit 50');
  assert.equal(refusal(() => requireRoomForTag(49)), null);
  assert.deepEqual(tagsOfBody({ tags: ['a', 'b', 'a'] }), ['a', 'b']);
  assert.match(refusal(() => tagsOfBody({ tags: Array.from({ length: 51 }, (_, i) => `t${i}`) }))!, /is too long$/);
  assert.deepEqual(tagFilterOf('a, b,,c'), ['a', 'b', 'c']);
  assert.equal(tagFilterOf(''), undefined);
});

test('metadata: key pattern, string values, one item per PUT of an item, the 128-item quota', { timeout: 2000 }, () => {
  assert.deepEqual(metadataOfBody({ metadata: { 'env:x.y_z-1 ': 'prod' } }, 'metadata'), { 'env:x.y_z-1 ': 'prod' });
  assert.match(refusal(() => metadataOfBody({ metadata: { 'a/b': 'x' } }, 'metadata'))!, /Additional properties are not allowed \('a\/b' was unexpected\)/);
  assert.match(refusal(() => metadataOfBody({ metadata: { a: 1 } }, 'metadata'))!, /1 is not of type 'string'/);
  assert.match(refusal(() => metadataOfBody({ meta: { a: 'x', b: 'y' } }, 'meta'))!, /has too many properties/);
  const full = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, 'v']));
  assert.equal(refusal(() => requireMetadataQuota(full)), 'Maximum number of metadata items exceeds 128');
});
