/**
 * Issue 16, item 1: malformed and hostile input is a 4xx in each API's own
 * error format, on SQLite and on PostgreSQL, and lists page as OpenStack's do.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sendJson } from '../helpers/apiClient.js';
import { startTestController, withPostgresDatabase, type TestController } from '../helpers/testController.js';

const LIMIT = { timeout: 60_000 };
/** Server descriptions exist from compute 2.19. */
const V2_19 = { 'openstack-api-version': 'compute 2.19' };

async function json(res: Response): Promise<any> {
  const text = await res.text();
  return text ? JSON.parse(text) : undefined;
}

function hostileInputSuite(backend: string, withDatabase: <T>(fn: (url?: string) => Promise<T>) => Promise<T>): void {
  describe(`hostile input on ${backend}`, { timeout: 120_000 }, () => {
    let c: TestController;
    let admin: string;
    let demo: string;
    let finish: () => void;
    let done: Promise<void>;
    const call = async (method: string, path: string, body?: unknown, token: string | undefined = admin, headers: Record<string, string> = {}) => {
      const res = await sendJson(method, `${c.url}${path}`, token, body, headers);
      return { status: res.status, body: await json(res) };
    };
    const bootRecord = async (name: string, token = admin) => {
      const images = await call('GET', '/image/v2/images', undefined, token);
      const r = await call('POST', '/compute/v2.1/servers', {
        server: { name, imageRef: images.body.images[0].id, flavorRef: '1', networks: 'none' },
      }, token);
      assert.equal(r.status, 202, JSON.stringify(r.body));
      return r.body.server.id as string;
    };

    before(async () => {
      // The controller lives inside withDatabase, which drops a PostgreSQL database when the suite ends.
      let started!: (v: void) => void;
      const ready = new Promise<void>((r) => { started = r; });
      done = withDatabase(async (url) => {
        c = await startTestController({ databaseUrl: url });
        started();
        await new Promise<void>((r) => { finish = r; });
        await c.close();
      });
      await Promise.race([ready, done]);
      admin = await c.token('admin');
      demo = await c.token('demo');
    });
    after(async () => { finish?.(); await done; });

    test('a body over max_body_bytes (1 MiB) is 413 in each API\'s error format', LIMIT, async () => {
      const big = { padding: 'x'.repeat(1024 * 1024 + 1) };
      const compute = await call('POST', '/compute/v2.1/servers', big);
      assert.equal(compute.status, 413);
      assert.equal(compute.body.overLimit.code, 413);
      const network = await call('POST', '/network/v2.0/ports', big);
      assert.equal(network.status, 413);
      assert.equal(typeof network.body.NeutronError.message, 'string');
      const identity = await call('POST', '/identity/v3/users', big);
      assert.equal(identity.status, 413);
      assert.deepEqual(Object.keys(identity.body.error).sort(), ['code', 'message', 'title']);
      assert.equal(identity.body.error.code, 413);
      const image = await call('POST', '/image/v2/images', big);
      assert.equal(image.status, 413);
      assert.equal(image.body.code, 413);
    });

    test('PUT servers/{id} with a description that is not a string is 400, and the server is unchanged', LIMIT, async () => {
      const id = await bootRecord('described');
      for (const description of [true, [], {}, 1]) {
        const r = await call('PUT', `/compute/v2.1/servers/${id}`, { server: { description } }, admin, V2_19);
        assert.equal(r.status, 400, `${JSON.stringify(description)} → ${r.status}`);
        assert.match(r.body.badRequest.message, /^Invalid input for field\/attribute description\./);
      }
      const ok = await call('PUT', `/compute/v2.1/servers/${id}`, { server: { description: null } }, admin, V2_19);
      assert.equal(ok.status, 200);
    });

    test('POST servers with a name that is not a string is 400 with Nova\'s schema message', LIMIT, async () => {
      const images = await call('GET', '/image/v2/images');
      for (const [name, repr] of [[1, '1'], [true, 'True'], [1.5, '1.5']] as const) {
        const r = await call('POST', '/compute/v2.1/servers', {
          server: { name, imageRef: images.body.images[0].id, flavorRef: '1', networks: 'none' },
        });
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.equal(r.body.badRequest.message, `Invalid input for field/attribute name. Value: ${repr}. ${repr} is not of type 'string'`);
      }
      const list = await call('GET', '/compute/v2.1/servers?name=^1');
      assert.deepEqual(list.body.servers, []);
    });

    test('limit beyond any page, repeated query parameters and NUL bytes are 400s', LIMIT, async () => {
      const huge = await call('GET', '/compute/v2.1/servers/detail?limit=99999999999999999999');
      assert.equal(huge.status, 400);
      assert.equal(huge.body.badRequest.message, 'Invalid input for query parameters limit. Value: 99999999999999999999.');
      const flavors = await call('GET', '/compute/v2.1/flavors/detail?limit=99999999999999999999&minRam=99999999999999999999');
      assert.equal(flavors.status, 400);
      assert.match(flavors.body.badRequest.message, /^Invalid (limit|minRam) filter \[99999999999999999999\]$/);
      const twice = await call('GET', '/compute/v2.1/os-pci/detail?host=a&host=b');
      assert.equal(twice.status, 400);
      assert.equal(twice.body.badRequest.message, "Query parameter 'host' may be given only once.");
      const nulImage = await call('GET', '/image/v2/images?status=%00');
      assert.equal(nulImage.status, 400);
      assert.equal(nulImage.body.code, 400);
      const nulServer = await call('GET', '/compute/v2.1/servers?name=%00');
      assert.equal(nulServer.status, 400);
      const nulBody = await call('POST', '/network/v2.0/networks', { network: { name: 'a\u0000b' } });
      assert.equal(nulBody.status, 400);
      assert.equal(nulBody.body.NeutronError.type, 'InvalidInput');
      const nulPath = await call('GET', '/identity/v3/users/%00');
      assert.equal(nulPath.status, 400);
      assert.equal(nulPath.body.error.code, 400);
      const nulPort = await call('GET', '/network/v2.0/ports?limit=1&limit=2');
      assert.equal(nulPort.status, 400);
      // Neutron's filters take several values: still a list.
      const filters = await call('GET', '/network/v2.0/networks?name=vdpa-net&name=other');
      assert.equal(filters.status, 200);
      assert.deepEqual(filters.body.networks.map((n: any) => n.name), ['vdpa-net']);
    });

    test('a sweep of hostile query values and ids over the lists and lookups gives no 5xx', { timeout: 120_000 }, async () => {
      const lists = [
        '/compute/v2.1/servers', '/compute/v2.1/servers/detail', '/compute/v2.1/flavors', '/compute/v2.1/flavors/detail',
        '/compute/v2.1/os-hypervisors', '/compute/v2.1/os-services', '/compute/v2.1/os-pci/detail', '/compute/v2.1/os-migrations',
        '/image/v2/images', '/network/v2.0/ports', '/network/v2.0/networks', '/network/v2.0/subnets',
        '/identity/v3/users', '/identity/v3/projects', '/identity/v3/role_assignments',
      ];
      const params = ['limit', 'marker', 'name', 'host', 'status', 'minRam', 'minDisk', 'is_public', 'all_tenants', 'id',
        'network_id', 'changes-since', 'sort_key', 'sort_dir', 'project_id', 'visibility', 'fields', 'user.id', 'instance_uuid'];
      const values = ['%00', '99999999999999999999', '-1', 'abc', '%FF%FE', '%27%22', '1e400', '', '%E2%80%AE'];
      const fiveXx: string[] = [];
      for (const list of lists) {
        for (const param of params) {
          for (const value of values) {
            const path = `${list}?${param}=${value}`;
            const r = await sendJson('GET', `${c.url}${path}`, admin);
            await r.arrayBuffer();
            if (r.status >= 500) fiveXx.push(`${path} → ${r.status}`);
          }
        }
      }
      const ids = ['%00', '99999999999999999999', '%FF', 'x'.repeat(300), '%2E%2E'];
      const lookups = ['/compute/v2.1/servers/', '/compute/v2.1/flavors/', '/image/v2/images/', '/network/v2.0/ports/',
        '/network/v2.0/networks/', '/network/v2.0/subnets/', '/identity/v3/users/', '/identity/v3/projects/'];
      for (const lookup of lookups) {
        for (const id of ids) {
          const r = await sendJson('GET', `${c.url}${lookup}${id}`, admin);
          await r.arrayBuffer();
          if (r.status >= 500) fiveXx.push(`${lookup}${id} → ${r.status}`);
        }
      }
      assert.deepEqual(fiveXx, []);
    });

    test('an id longer than the router\'s 100 characters is a 4xx in each API\'s error format', LIMIT, async () => {
      const id = 'x'.repeat(300);
      // Every API's path schemas cap ids at 255 characters: a 400 saying so (before, the router's own 414).
      const server = await call('GET', `/compute/v2.1/servers/${id}`);
      assert.equal(server.status, 400);
      assert.match(server.body.badRequest.message, /is too long/);
      const flavor = await call('GET', `/compute/v2.1/flavors/${'f'.repeat(150)}`);
      assert.equal(flavor.status, 404, JSON.stringify(flavor.body));
      assert.equal(flavor.body.itemNotFound.code, 404);
      const port = await call('GET', `/network/v2.0/ports/${id}`);
      assert.equal(port.status, 400, JSON.stringify(port.body));
      assert.equal(port.body.NeutronError.type, 'InvalidInput');
      const user = await call('GET', `/identity/v3/users/${id}`);
      assert.equal(user.status, 400, JSON.stringify(user.body));
      assert.equal(user.body.error.code, 400);
      const image = await sendJson('GET', `${c.url}/image/v2/images/${id}`, admin);
      const imageText = await image.text();
      assert.equal(image.status, 400, imageText);
      assert.match(JSON.parse(imageText).message, /is too long/);
    });

    test('servers, ports and networks page with limit and marker', LIMIT, async () => {
      const ids = [await bootRecord('page-a', demo), await bootRecord('page-b', demo), await bootRecord('page-c', demo)];
      const first = await call('GET', '/compute/v2.1/servers?limit=2', undefined, demo);
      assert.equal(first.status, 200);
      assert.equal(first.body.servers.length, 2);
      const next = new URL(first.body.servers_links[0].href);
      assert.equal(next.searchParams.get('marker'), first.body.servers[1].id);
      const second = await call('GET', `/compute/v2.1/servers/detail?limit=2&marker=${first.body.servers[1].id}`, undefined, demo);
      assert.equal(second.body.servers.length, 1);
      assert.deepEqual([...first.body.servers, ...second.body.servers].map((s: any) => s.id).sort(), [...ids].sort());
      assert.equal(second.body.servers_links, undefined);
      const badMarker = await call('GET', '/compute/v2.1/servers?marker=00000000-0000-0000-0000-000000000000', undefined, demo);
      assert.equal(badMarker.status, 400);
      assert.equal(badMarker.body.badRequest.message, 'Marker 00000000-0000-0000-0000-000000000000 could not be found.');

      const net = (await call('GET', '/network/v2.0/networks?name=vdpa-net')).body.networks[0];
      for (const name of ['pa', 'pb', 'pc']) {
        assert.equal((await call('POST', '/network/v2.0/ports', { port: { network_id: net.id, name } })).status, 201);
      }
      const ports1 = await call('GET', '/network/v2.0/ports?limit=2');
      assert.equal(ports1.body.ports.length, 2);
      const link = new URL(ports1.body.ports_links[0].href);
      assert.equal(link.searchParams.get('marker'), ports1.body.ports[1].id);
      const ports2 = await call('GET', `/network/v2.0/ports?limit=2&marker=${ports1.body.ports[1].id}`);
      assert.deepEqual([...ports1.body.ports, ...ports2.body.ports].map((p: any) => p.name).sort(), ['pa', 'pb', 'pc']);
      const badLimit = await call('GET', '/network/v2.0/ports?limit=-1');
      assert.equal(badLimit.status, 400);
      const nets = await call('GET', '/network/v2.0/networks?limit=1');
      assert.equal(nets.body.networks.length, 1);
      assert.equal(nets.body.networks_links, undefined);
    });
  });
}

hostileInputSuite('SQLite', (fn) => fn(undefined));
hostileInputSuite('PostgreSQL', (fn) => withPostgresDatabase(fn));
