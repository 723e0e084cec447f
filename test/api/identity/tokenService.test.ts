import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assignRole, createProject, createUser } from '../../../src/controller/services/directory.js';
import { hashPassword, verifyPassword } from '../../../src/controller/services/passwords.js';
import { createTokenService, hashToken } from '../../../src/controller/services/tokens.js';
import { openStore, type Store } from '../../../src/storage/db.js';
import { deleteUserRows, revokeRole, updateProjectColumns, updateUserColumns } from '../../../src/storage/repositories/identity.js';
import { deleteTokensOf } from '../../../src/storage/repositories/tokens.js';
import { asUnit } from '../../helpers/storageAccess.js';

describe('token service', () => {
  let dir: string;
  let store: Store;
  let userId: string;
  let projectId: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdpa-tokens-'));
    store = await openStore(join(dir, 'db.sqlite'));
    const project = await createProject(asUnit(store.db), { name: 'p' });
    const user = await createUser(asUnit(store.db), { name: 'u', password: 'pw', defaultProjectId: project.id });
    await assignRole(asUnit(store.db), user.id, project.id, 'member');
    userId = user.id;
    projectId = project.id;
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('issues url-safe 32-byte tokens that verify to the user, project and roles', { timeout: 120_000 }, async () => {
    const tokens = createTokenService(store, 60);
    const issued = await tokens.issue({ userId, projectId });
    assert.match(issued.token, /^[A-Za-z0-9_-]{43}$/);
    const auth = await tokens.verify(issued.token);
    assert.deepEqual(auth, {
      userId, userName: 'u', projectId, projectName: 'p', roles: ['member'], isAdmin: false, isService: false, agentHost: null,
    });
    // A second service (another controller process) reads it from the database.
    assert.deepEqual(await createTokenService(store, 60).verify(issued.token), auth);
    assert.equal(await tokens.verify(`${issued.token}x`), null);
    assert.equal(await tokens.verify(''), null);
  });

  it('deletes expired rows when issuing', { timeout: 120_000 }, async () => {
    const stale = 'stale-token-id';
    await store.db.insertInto('tokens').values({
      id: stale, user_id: userId, project_id: projectId, roles: '[]', issued_at: '2000-01-01T00:00:00.000Z', expires_at: '2000-01-01T01:00:00.000Z',
    }).execute();
    await createTokenService(store, 60).issue({ userId, projectId });
    const row = await store.db.selectFrom('tokens').select('id').where('id', '=', stale).executeTakeFirst();
    assert.equal(row, undefined);
  });

  it('reads every token from the database: a role removed, the user or project disabled, the user deleted end it at once in any process', { timeout: 120_000 }, async () => {
    const a = createTokenService(store, 60);
    const b = createTokenService(store, 60); // another controller process
    const project = await createProject(asUnit(store.db), { name: 'p-revoke' });
    const user = await createUser(asUnit(store.db), { name: 'u-revoke', password: 'pw', defaultProjectId: project.id });
    await assignRole(asUnit(store.db), user.id, project.id, 'member');
    const { token } = await a.issue({ userId: user.id, projectId: project.id });
    assert.ok(await b.verify(token));
    await revokeRole(asUnit(store.db), user.id, project.id, 'member');
    assert.equal(await b.verify(token), null, 'a removed role ends the token');
    await assignRole(asUnit(store.db), user.id, project.id, 'member');
    const second = (await a.issue({ userId: user.id, projectId: project.id })).token;
    await updateUserColumns(asUnit(store.db), user.id, { enabled: 0 });
    assert.equal(await b.verify(second), null, 'a disabled user');
    await updateUserColumns(asUnit(store.db), user.id, { enabled: 1 });
    assert.ok(await b.verify(second));
    await updateProjectColumns(asUnit(store.db), project.id, { enabled: 0 });
    assert.equal(await b.verify(second), null, 'a disabled project');
    await updateProjectColumns(asUnit(store.db), project.id, { enabled: 1 });
    await deleteUserRows(asUnit(store.db), user.id);
    assert.equal(await b.verify(second), null, 'a deleted user');
    assert.equal(await a.verify(second), null);
  });

  it('compares tokens exactly: a trailing space, another case or a prefix is no token', { timeout: 120_000 }, async () => {
    const tokens = createTokenService(store, 60);
    const { token } = await tokens.issue({ userId, projectId });
    assert.ok(await tokens.verify(token));
    for (const other of [`${token} `, ` ${token}`, `${token}\n`, token.toUpperCase(), token.slice(0, 42)]) {
      assert.equal(await tokens.verify(other), null, JSON.stringify(other));
    }
  });

  it('caches a token while the revocation counter stands still, and a revocation from another process on the file ends it', { timeout: 120_000 }, async () => {
    const tokens = createTokenService(store, 60);
    const { token } = await tokens.issue({ userId, projectId });
    assert.ok(await tokens.verify(token));
    // A row gone without the counter moving (no revoking path does this) shows the cache answering.
    await store.db.deleteFrom('tokens').where('id', '=', hashToken(token)).execute();
    assert.ok(await tokens.verify(token), 'answered from the cache');
    const second = (await tokens.issue({ userId, projectId })).token;
    assert.ok(await tokens.verify(second));
    // A CLI process on the same SQLite file (agent-credential create, say) revokes the user's tokens.
    const other = await openStore(join(dir, 'db.sqlite'));
    try {
      await other.transact((u) => deleteTokensOf(u, { userId }));
    } finally {
      await other.close();
    }
    assert.equal(await tokens.verify(second), null, 'the counter moved: the cache is read again');
    assert.equal(await tokens.verify(token), null);
  });

  it('forgets a revoked token at once, cache included', { timeout: 120_000 }, async () => {
    const tokens = createTokenService(store, 60);
    const { token } = await tokens.issue({ userId, projectId });
    assert.ok(await tokens.verify(token));
    assert.equal(await tokens.revoke(token), true);
    assert.equal(await tokens.verify(token), null);
    assert.equal(await store.db.selectFrom('tokens').select('id').where('id', '=', hashToken(token)).executeTakeFirst(), undefined);
  });
});

describe('password hashes', () => {
  it('are salted: the same password hashes differently and both verify', { timeout: 120_000 }, async () => {
    const a = await hashPassword('secret');
    const b = await hashPassword('secret');
    assert.notEqual(a, b);
    assert.match(a, /^scrypt\$16384\$8\$1\$/);
    assert.equal(await verifyPassword('secret', a), true);
    assert.equal(await verifyPassword('secret', b), true);
    assert.equal(await verifyPassword('Secret', a), false);
    assert.equal(await verifyPassword('secret', '!'), false);
    assert.equal(await verifyPassword('secret', 'scrypt$16384$8$1$AAAA$'), false);
  });
});
