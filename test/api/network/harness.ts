import { startTestController, type TestController } from '../../helpers/testController.js';
import { kysely } from '../../helpers/storageAccess.js';

/**
 * The bootstrapped test controller (real identity, real HTTP, real database)
 * plus what networking tests keep asking for: tokens, project ids and the
 * shared `vdpa-net` with its subnet.
 */
export type Who = 'admin' | 'demo';

/** A project nobody logs into: admins create resources in it to test what members must not see. */
export const OTHER_PROJECT = 'project-of-someone-else';

export interface NetworkHarness {
  url: string; controller: TestController; ctx: TestController['ctx'];
  sharedNetworkId: string; sharedSubnetId: string; projectIds: Record<Who, string>;
  call(who: Who | null, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function startNetworkHarness(opts: { databaseUrl?: string } = {}): Promise<NetworkHarness> {
  const controller = await startTestController(opts);
  const db = kysely(controller.ctx.store);
  const tokens: Record<Who, string> = { admin: await controller.token('admin'), demo: await controller.token('demo') };
  const net = await db.selectFrom('networks').select('id').where('name', '=', 'vdpa-net').executeTakeFirstOrThrow();
  const subnet = await db.selectFrom('subnets').select('id').where('network_id', '=', net.id).executeTakeFirstOrThrow();
  const projects = await db.selectFrom('projects').select(['id', 'name']).where('name', 'in', ['admin', 'demo']).execute();
  const projectIds = Object.fromEntries(projects.map((p) => [p.name, p.id])) as Record<Who, string>;
  const url = controller.url;
  return {
    url, controller, ctx: controller.ctx, sharedNetworkId: net.id, sharedSubnetId: subnet.id, projectIds,
    async call(who, method, path, body) {
      const headers: Record<string, string> = {};
      if (who) headers['x-auth-token'] = tokens[who];
      let payload: string | undefined;
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        payload = typeof body === 'string' ? body : JSON.stringify(body);
      }
      const res = await fetch(`${url}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    close: () => controller.close(),
  };
}
