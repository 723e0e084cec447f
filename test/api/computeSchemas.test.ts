/**
 * Issue 16, item 1, compute side: every compute route declares the schema of
 * its body, path and query, so a malformed request is a 400 in Nova's format
 * ({"badRequest": {"code": 400, "message": "Invalid input for field/attribute
 * <field>. …"}}) that changes nothing, and /openapi.json, built from those
 * schemas, lists every compute route with its request body.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sendJson } from '../helpers/apiClient.js';
import { startTestController, type TestController } from '../helpers/testController.js';

const LIMIT = { timeout: 120_000 };

/** One malformed request: what it sends, and the field its 400 must name. */
interface Malformed {
  what: string;
  method: string;
  path: string;
  body?: unknown;
  version?: string;
  message: RegExp;
}

async function json(res: Response): Promise<any> {
  const text = await res.text();
  return text ? JSON.parse(text) : undefined;
}

/** Every compute route ("METHOD /path" as /openapi.json spells it) and whether it takes a JSON body. */
const COMPUTE_ROUTES: ReadonlyArray<[string, boolean]> = [
  ['GET /compute', false], ['GET /compute/v2.1', false],
  ['GET /compute/v2.1/flavors', false], ['POST /compute/v2.1/flavors', true], ['GET /compute/v2.1/flavors/detail', false],
  ['GET /compute/v2.1/flavors/{id}', false], ['DELETE /compute/v2.1/flavors/{id}', false],
  ['GET /compute/v2.1/flavors/{id}/os-extra_specs', false], ['POST /compute/v2.1/flavors/{id}/os-extra_specs', true],
  ['GET /compute/v2.1/flavors/{id}/os-extra_specs/{key}', false], ['PUT /compute/v2.1/flavors/{id}/os-extra_specs/{key}', true],
  ['DELETE /compute/v2.1/flavors/{id}/os-extra_specs/{key}', false],
  ['POST /compute/v2.1/servers', true], ['GET /compute/v2.1/servers', false], ['GET /compute/v2.1/servers/detail', false],
  ['GET /compute/v2.1/servers/{id}', false], ['PUT /compute/v2.1/servers/{id}', true], ['DELETE /compute/v2.1/servers/{id}', false],
  ['POST /compute/v2.1/servers/{id}/action', true], ['GET /compute/v2.1/servers/{id}/domain-xml', false],
  ['GET /compute/v2.1/servers/{id}/os-instance-actions', false], ['GET /compute/v2.1/servers/{id}/os-instance-actions/{requestId}', false],
  ['GET /compute/v2.1/os-services', false], ['PUT /compute/v2.1/os-services/{id}', true],
  ['GET /compute/v2.1/os-hypervisors', false], ['GET /compute/v2.1/os-hypervisors/detail', false],
  ['GET /compute/v2.1/os-hypervisors/{id}', false], ['GET /compute/v2.1/os-hypervisors/{id}/uptime', false],
  ['GET /compute/v2.1/os-hypervisors/statistics', false], ['GET /compute/v2.1/os-pci/detail', false], ['GET /compute/v2.1/limits', false],
  ['GET /compute/v2.1/servers/{id}/os-interface', false], ['POST /compute/v2.1/servers/{id}/os-interface', true],
  ['GET /compute/v2.1/servers/{id}/os-interface/{portId}', false], ['DELETE /compute/v2.1/servers/{id}/os-interface/{portId}', false],
  ['GET /compute/v2.1/os-migrations', false], ['GET /compute/v2.1/servers/{id}/migrations', false],
  ['GET /compute/v2.1/servers/{id}/migrations/{mid}', false], ['GET /compute/v2.1/os-vdpa-doctor', false],
  ['GET /compute/v2.1/servers/{id}/metadata', false], ['POST /compute/v2.1/servers/{id}/metadata', true],
  ['PUT /compute/v2.1/servers/{id}/metadata', true], ['GET /compute/v2.1/servers/{id}/metadata/{key}', false],
  ['PUT /compute/v2.1/servers/{id}/metadata/{key}', true], ['DELETE /compute/v2.1/servers/{id}/metadata/{key}', false],
  ['GET /compute/v2.1/servers/{id}/tags', false], ['PUT /compute/v2.1/servers/{id}/tags', true], ['DELETE /compute/v2.1/servers/{id}/tags', false],
  ['GET /compute/v2.1/servers/{id}/tags/{tag}', false], ['PUT /compute/v2.1/servers/{id}/tags/{tag}', false],
  ['DELETE /compute/v2.1/servers/{id}/tags/{tag}', false],
  ['GET /compute/v2.1/os-keypairs', false], ['POST /compute/v2.1/os-keypairs', true],
  ['GET /compute/v2.1/os-keypairs/{name}', false], ['DELETE /compute/v2.1/os-keypairs/{name}', false],
  ['GET /compute/v2.1/os-server-groups', false], ['POST /compute/v2.1/os-server-groups', true],
  ['GET /compute/v2.1/os-server-groups/{id}', false], ['DELETE /compute/v2.1/os-server-groups/{id}', false],
  ['GET /compute/v2.1/os-aggregates', false], ['POST /compute/v2.1/os-aggregates', true], ['GET /compute/v2.1/os-aggregates/{id}', false],
  ['PUT /compute/v2.1/os-aggregates/{id}', true], ['DELETE /compute/v2.1/os-aggregates/{id}', false],
  ['POST /compute/v2.1/os-aggregates/{id}/action', true],
  ['GET /compute/v2.1/os-availability-zone', false], ['GET /compute/v2.1/os-availability-zone/detail', false],
  ['GET /compute/v2.1/os-quota-sets/{p}', false], ['PUT /compute/v2.1/os-quota-sets/{p}', true], ['DELETE /compute/v2.1/os-quota-sets/{p}', false],
  ['GET /compute/v2.1/os-quota-sets/{p}/defaults', false], ['GET /compute/v2.1/os-quota-sets/{p}/detail', false],
  ['GET /compute/v2.1/os-simple-tenant-usage', false], ['GET /compute/v2.1/os-simple-tenant-usage/{p}', false],
  ['GET /compute/v2.1/os-vdpa-fleet', false],
];

describe('compute route schemas', { timeout: 300_000 }, () => {
  let c: TestController;
  let admin: string;
  let serverId: string;
  let imageId: string;
  const call = async (method: string, path: string, body?: unknown, version?: string) => {
    const res = await sendJson(method, `${c.url}${path}`, admin, body, version ? { 'openstack-api-version': `compute ${version}` } : {});
    return { status: res.status, body: await json(res) };
  };

  /** What a rejected request must leave as it was: the server, its actions and tags, flavors, key pairs, aggregates, quotas. */
  const snapshot = async () => {
    const parts = await Promise.all([
      call('GET', `/compute/v2.1/servers/${serverId}`, undefined, '2.93'),
      call('GET', `/compute/v2.1/servers/${serverId}/os-instance-actions`),
      call('GET', '/compute/v2.1/servers/detail'),
      call('GET', '/compute/v2.1/flavors/detail?is_public=None', undefined, '2.61'),
      call('GET', '/compute/v2.1/os-keypairs'),
      call('GET', '/compute/v2.1/os-aggregates'),
      call('GET', '/compute/v2.1/os-quota-sets/anything/defaults'),
      call('GET', '/compute/v2.1/os-services'),
    ]);
    return JSON.stringify(parts.map((p) => p.body));
  };

  /** Waits until a server has left BUILD (with no compute host here, the scheduler puts it in ERROR), so it no longer changes by itself. */
  const settled = async (id: string) => {
    for (let i = 0; i < 300; i++) {
      const s = await call('GET', `/compute/v2.1/servers/${id}`);
      if (s.body.server.status !== 'BUILD') return s.body.server.status as string;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`server ${id} stayed in BUILD`);
  };

  before(async () => {
    c = await startTestController();
    admin = await c.token('admin');
    imageId = (await call('GET', '/image/v2/images')).body.images[0].id;
    // The body the openstack client sends (openstack-cli-contract.md §4), with a scheduler hint beside `server`.
    const created = await call('POST', '/compute/v2.1/servers', {
      server: { name: 'schema-vm', imageRef: imageId, flavorRef: '1', min_count: 1, max_count: 1, networks: 'none', metadata: { role: 'probe' } },
      'OS-SCH-HNT:scheduler_hints': { same_host: [] },
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    serverId = created.body.server.id;
    await settled(serverId);
    assert.equal((await call('POST', '/compute/v2.1/os-aggregates', { aggregate: { name: 'schema-agg' } })).status, 200);
  });
  after(async () => { await c?.close(); });

  test('the clients\' bodies pass: action values null, legacy booleans, Nova\'s optional fields of later microversions', LIMIT, async () => {
    const unknown = '00000000-0000-0000-0000-000000000000';
    // A well-formed action on a server nobody has is Nova's 404, not a 400 (the id is looked up after the body is checked).
    for (const body of [{ 'os-stop': null }, { migrate: null }, { migrate: {} }, { suspend: null }, { lock: { locked_reason: 'x' } },
      { 'os-migrateLive': { block_migration: 'auto', host: null } }, { evacuate: { onSharedStorage: false } }, { reboot: { type: 'SOFT' } }]) {
      const r = await call('POST', `/compute/v2.1/servers/${unknown}/action`, body);
      assert.equal(r.status, 404, `${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
      assert.equal(r.body.itemNotFound.code, 404);
    }
    const described = await call('POST', '/compute/v2.1/servers', {
      server: { name: 'described-vm', imageRef: imageId, flavorRef: 1, networks: 'none', description: null, tags: ['a'], config_drive: 'True' },
    }, '2.74');
    assert.equal(described.status, 202, JSON.stringify(described.body));
    await settled(described.body.server.id);
  });

  test('a malformed body, query or path of each compute route file is a 400 in Nova\'s format that changes nothing', LIMIT, async () => {
    const server = `/compute/v2.1/servers/${serverId}`;
    const action = `${server}/action`;
    const cases: Malformed[] = [
      // servers.ts: create, update, the action dispatch
      { what: 'create: name not a string', method: 'POST', path: '/compute/v2.1/servers', body: { server: { name: 5, flavorRef: '1', imageRef: imageId } }, message: /field\/attribute name\. .* is not of type 'string'/ },
      { what: 'create: unknown property', method: 'POST', path: '/compute/v2.1/servers', body: { server: { name: 'x', flavorRef: '1', imageRef: imageId, colour: 'red' } }, message: /Additional properties are not allowed \('colour' was unexpected\)/ },
      { what: 'create: name too long', method: 'POST', path: '/compute/v2.1/servers', body: { server: { name: 'n'.repeat(256), flavorRef: '1', imageRef: imageId } }, message: /field\/attribute name\. .* is too long/ },
      { what: 'create: max_count 0', method: 'POST', path: '/compute/v2.1/servers', body: { server: { name: 'x', flavorRef: '1', imageRef: imageId, max_count: 0 } }, message: /field\/attribute max_count\. Value: 0\. 0 is less than the minimum of 1/ },
      { what: 'create: networks neither a list nor none/auto', method: 'POST', path: '/compute/v2.1/servers', body: { server: { name: 'x', flavorRef: '1', imageRef: imageId, networks: 'all' } }, message: /field\/attribute networks\./ },
      { what: 'create: metadata value too long', method: 'POST', path: '/compute/v2.1/servers', body: { server: { name: 'x', flavorRef: '1', imageRef: imageId, metadata: { k: 'v'.repeat(256) } } }, message: /field\/attribute k\. .* is too long/ },
      { what: 'update: description too long', method: 'PUT', path: server, body: { server: { description: 'd'.repeat(256) } }, version: '2.19', message: /field\/attribute description\. .* is too long/ },
      { what: 'update: unknown property', method: 'PUT', path: server, body: { server: { name: 'x', flavor: '2' } }, message: /\('flavor' was unexpected\)/ },
      { what: 'list: limit not a number', method: 'GET', path: '/compute/v2.1/servers/detail?limit=ten', message: /^Invalid input for query parameters limit\. Value: ten\./ },
      { what: 'list: a filter too long', method: 'GET', path: `/compute/v2.1/servers?name=${'n'.repeat(300)}`, message: /query parameters name\. .* is too long/ },
      { what: 'action: two actions at once', method: 'POST', path: action, body: { 'os-stop': null, 'os-start': null }, message: /has too many properties/ },
      { what: 'action: unknown action', method: 'POST', path: action, body: { 'os-explode': null }, message: /\('os-explode' was unexpected\)/ },
      // actions/*: one of each module
      { what: 'powerActions: os-stop with arguments', method: 'POST', path: action, body: { 'os-stop': { force: true } }, message: /\('force' was unexpected\)/ },
      { what: 'rebootActions: reboot type', method: 'POST', path: action, body: { reboot: { type: 'GENTLE' } }, message: /field\/attribute type\. .* is not one of \['HARD'/ },
      { what: 'coldMove: resize without flavorRef', method: 'POST', path: action, body: { resize: {} }, message: /'flavorRef' is a required property/ },
      { what: 'liveMigration: block_migration', method: 'POST', path: action, body: { 'os-migrateLive': { block_migration: 'yes', host: null } }, message: /field\/attribute block_migration\./ },
      { what: 'evacuate: host too long', method: 'POST', path: action, body: { evacuate: { host: 'h'.repeat(256) } }, message: /field\/attribute host\. .* is too long/ },
      { what: 'lockActions: empty locked_reason', method: 'POST', path: action, body: { lock: { locked_reason: '' } }, version: '2.73', message: /field\/attribute locked_reason\. .* is too short/ },
      { what: 'shelveActions: unshelve zone not a string', method: 'POST', path: action, body: { unshelve: { availability_zone: 7 } }, version: '2.77', message: /field\/attribute availability_zone\. Value: 7\./ },
      { what: 'rebuildActions: rebuild without imageRef', method: 'POST', path: action, body: { rebuild: { name: 'x' } }, message: /'imageRef' is a required property/ },
      { what: 'rebuildActions: createImage metadata value', method: 'POST', path: action, body: { createImage: { name: 'img', metadata: { k: 1 } } }, message: /field\/attribute k\. Value: 1\. 1 is not of type 'string'/ },
      { what: 'consoleOutput: length below -1 as a number', method: 'POST', path: action, body: { 'os-getConsoleOutput': { length: -5 } }, message: /field\/attribute length\. Value: -5\. -5 is less than the minimum of -1/ },
      // serverMetadata.ts, serverTags.ts, interfaces.ts
      { what: 'metadata: key of characters Nova refuses', method: 'POST', path: `${server}/metadata`, body: { metadata: { 'a/b': 'x' } }, message: /\('a\/b' was unexpected\)/ },
      { what: 'metadata item: two items', method: 'PUT', path: `${server}/metadata/a`, body: { meta: { a: '1', b: '2' } }, message: /has too many properties/ },
      { what: 'tags: a tag with a comma', method: 'PUT', path: `${server}/tags`, body: { tags: ['a,b'] }, version: '2.26', message: /does not match/ },
      { what: 'tags: more than 50', method: 'PUT', path: `${server}/tags`, body: { tags: Array.from({ length: 51 }, (_, i) => `t${i}`) }, version: '2.26', message: /field\/attribute tags\. .* is too long/ },
      { what: 'interfaces: port_id not a string', method: 'POST', path: `${server}/os-interface`, body: { interfaceAttachment: { port_id: 42 } }, message: /field\/attribute port_id\. Value: 42\./ },
      // flavors.ts
      { what: 'flavor create: ram below 1', method: 'POST', path: '/compute/v2.1/flavors', body: { flavor: { name: 'f', ram: 0, vcpus: 1, disk: 0 } }, message: /field\/attribute ram\. Value: 0\. 0 is less than the minimum of 1/ },
      { what: 'flavor create: vcpus beyond the database', method: 'POST', path: '/compute/v2.1/flavors', body: { flavor: { name: 'f', ram: 1, vcpus: 2 ** 31, disk: 0 } }, message: /field\/attribute vcpus\. .* is greater than the maximum of 2147483647/ },
      { what: 'flavor create: unknown property', method: 'POST', path: '/compute/v2.1/flavors', body: { flavor: { name: 'f', ram: 1, vcpus: 1, disk: 0, gpus: 1 } }, message: /\('gpus' was unexpected\)/ },
      { what: 'extra specs: value too long', method: 'POST', path: '/compute/v2.1/flavors/1/os-extra_specs', body: { extra_specs: { 'hw:x': 'v'.repeat(256) } }, message: /is too long/ },
      // keypairs.ts
      { what: 'server group: no server_group', method: 'POST', path: '/compute/v2.1/os-server-groups', body: { group: {} }, message: /server_group/ },
      { what: 'keypair: name too long', method: 'POST', path: '/compute/v2.1/os-keypairs', body: { keypair: { name: 'k'.repeat(256) } }, message: /field\/attribute name\. .* is too long/ },
      { what: 'keypair: type', method: 'POST', path: '/compute/v2.1/os-keypairs', body: { keypair: { name: 'k', type: 'rsa' } }, version: '2.2', message: /field\/attribute type\. Value: rsa\. 'rsa' is not one of \['ssh', 'x509'\]/ },
      { what: 'keypairs: limit negative', method: 'GET', path: '/compute/v2.1/os-keypairs?limit=-1', version: '2.35', message: /query parameters limit\. Value: -1\./ },
      // aggregates.ts
      { what: 'aggregate create: name too long', method: 'POST', path: '/compute/v2.1/os-aggregates', body: { aggregate: { name: 'a'.repeat(256) } }, message: /field\/attribute name\. .* is too long/ },
      { what: 'aggregate action: unknown', method: 'POST', path: '/compute/v2.1/os-aggregates/1/action', body: { add_hosts: { host: 'x' } }, message: /\('add_hosts' was unexpected\)/ },
      { what: 'aggregate set_metadata: value not a string', method: 'POST', path: '/compute/v2.1/os-aggregates/1/action', body: { set_metadata: { metadata: { k: 1 } } }, message: /field\/attribute k\. Value: 1\./ },
      // quotaSets.ts
      { what: 'quota: limit beyond the database', method: 'PUT', path: '/compute/v2.1/os-quota-sets/p1', body: { quota_set: { cores: 2 ** 31 } }, message: /field\/attribute cores\. .* is greater than the maximum of 2147483647/ },
      { what: 'quota: limit below -1', method: 'PUT', path: '/compute/v2.1/os-quota-sets/p1', body: { quota_set: { cores: -2 } }, message: /field\/attribute cores\. Value: -2\. -2 is less than the minimum of -1/ },
      // services.ts
      { what: 'service update: status', method: 'PUT', path: '/compute/v2.1/os-services/1', body: { status: 'paused' }, version: '2.53', message: /field\/attribute status\. Value: paused\. 'paused' is not one of \['enabled', 'disabled'\]/ },
      // migrations.ts, usage.ts, hypervisors.ts, pciDevices.ts, extras.ts, availabilityZones.ts, doctor.ts, vdpaFleet.ts, versions.ts
      { what: 'migrations: limit', method: 'GET', path: '/compute/v2.1/os-migrations?limit=1.5', version: '2.59', message: /query parameters limit\./ },
      { what: 'usage: limit', method: 'GET', path: '/compute/v2.1/os-simple-tenant-usage?limit=x', message: /query parameters limit\./ },
      { what: 'hypervisors: a query value too long', method: 'GET', path: `/compute/v2.1/os-hypervisors/detail?with_servers=${'x'.repeat(300)}`, message: /query parameters with_servers\./ },
      { what: 'pci: host too long', method: 'GET', path: `/compute/v2.1/os-pci/detail?host=${'h'.repeat(300)}`, message: /query parameters host\./ },
      { what: 'limits: tenant_id too long', method: 'GET', path: `/compute/v2.1/limits?tenant_id=${'t'.repeat(300)}`, message: /query parameters tenant_id\./ },
      { what: 'zones: a query value too long', method: 'GET', path: `/compute/v2.1/os-availability-zone?x=${'x'.repeat(300)}`, message: /query parameters x\./ },
      { what: 'doctor: a query value too long', method: 'GET', path: `/compute/v2.1/os-vdpa-doctor?x=${'x'.repeat(300)}`, message: /query parameters x\./ },
      { what: 'fleet: host too long', method: 'GET', path: `/compute/v2.1/os-vdpa-fleet?host=${'h'.repeat(300)}`, message: /query parameters host\./ },
      { what: 'versions: a query value too long', method: 'GET', path: `/compute/v2.1?x=${'x'.repeat(300)}`, message: /query parameters x\./ },
    ];
    const before = await snapshot();
    const wrong: string[] = [];
    for (const m of cases) {
      const r = await call(m.method, m.path, m.body, m.version);
      const message: string = r.body?.badRequest?.message ?? '';
      const shape = r.body ? Object.keys(r.body).join() + '/' + Object.keys(r.body.badRequest ?? {}).sort().join() : '';
      const ok = r.status === 400 && r.body?.badRequest?.code === 400 && m.message.test(message) && shape === 'badRequest/code,message';
      wrong.push(...(ok ? [] : [`${m.what}: ${r.status} ${JSON.stringify(r.body)}`]));
    }
    assert.deepEqual(wrong, []);
    assert.equal(await snapshot(), before);
  });

  test('path ids are bounded, and an id that names nothing stays a 404', LIMIT, async () => {
    for (const path of ['/compute/v2.1/servers/not-a-uuid', '/compute/v2.1/servers/not-a-uuid/metadata', '/compute/v2.1/flavors/nope', '/compute/v2.1/os-keypairs/nope']) {
      const r = await call('GET', path);
      assert.equal(r.status, 404, path);
      assert.equal(r.body.itemNotFound.code, 404);
    }
  });

  test('/openapi.json lists every compute route, tagged compute with a summary, and a request body where the route takes one', LIMIT, async () => {
    const doc = (await call('GET', '/openapi.json', undefined)).body;
    const listed = new Map<string, any>();
    for (const [path, ops] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        const key = `${method.toUpperCase()} ${path}`;
        listed.set(key, op);
      }
    }
    const compute = [...listed.keys()].filter((k) => / \/compute(\/|$)/.test(k)).sort();
    assert.deepEqual(compute, COMPUTE_ROUTES.map(([r]) => r).sort());
    const problems: string[] = [];
    for (const [route, takesBody] of COMPUTE_ROUTES) {
      const op = listed.get(route);
      problems.push(...(op.tags?.includes('compute') ? [] : [`${route}: no compute tag`]));
      problems.push(...(typeof op.summary === 'string' && op.summary !== '' ? [] : [`${route}: no summary`]));
      problems.push(...(Boolean(op.requestBody?.content?.['application/json']?.schema) === takesBody ? [] : [`${route}: requestBody ${takesBody ? 'missing' : 'unexpected'}`]));
      const pathParams = [...route.matchAll(/\{(\w+)\}/g)].map((x) => x[1]).sort();
      const declared = (op.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name).sort();
      problems.push(...(JSON.stringify(pathParams) === JSON.stringify(declared) ? [] : [`${route}: path parameters ${declared} for ${pathParams}`]));
    }
    assert.deepEqual(problems, []);
    // The action body names every server action with the schema of its value.
    const actions = listed.get('POST /compute/v2.1/servers/{id}/action').requestBody.content['application/json'].schema;
    assert.ok(['os-stop', 'reboot', 'resize', 'os-migrateLive', 'evacuate', 'rebuild', 'createImage', 'unshelve', 'lock'].every((a) => a in actions.properties));
    assert.equal(actions.additionalProperties, false);
  });
});
