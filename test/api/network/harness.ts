import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { DEFAULT_CONFIG } from '../../../src/config.js';
import { buildApp } from '../../../src/controller/app.js';
import type { AuthContext, ControllerContext } from '../../../src/controller/context.js';
import { createHostSignals } from '../../../src/controller/services/hostSignals.js';
import { createNetwork, createSubnet } from '../../../src/controller/services/networking.js';
import { openStore } from '../../../src/storage/db.js';

/**
 * The controller's real HTTP app on a real database, with fixed bearer
 * tokens standing in for the identity service (the token check itself is
 * the identity API's concern, tested there).
 */
export const PROJECTS = { admin: 'project-admin', demo: 'project-demo', other: 'project-other' } as const;
export type Who = keyof typeof PROJECTS;

export function authOf(who: Who): AuthContext {
  return {
    userId: `user-${who}`, userName: who, projectId: PROJECTS[who], projectName: who,
    roles: who === 'admin' ? ['admin', 'member', 'reader'] : ['member', 'reader'], isAdmin: who === 'admin',
    isService: false,
  };
}

export interface NetworkHarness {
  url: string; ctx: ControllerContext; sharedNetworkId: string; sharedSubnetId: string;
  call(who: Who | null, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function startNetworkHarness(dbUrl = ':memory:'): Promise<NetworkHarness> {
  const store = await openStore(dbUrl);
  const ctx: ControllerContext = {
    store, config: structuredClone(DEFAULT_CONFIG), log: pino({ level: 'silent' }), signals: createHostSignals(),
    publicUrl: '',
    tokens: { verify: async (t) => (t in PROJECTS ? authOf(t as Who) : null) },
  };
  const net = await createNetwork(store.db, {
    name: 'vdpa-net', projectId: PROJECTS.admin, shared: true, physicalNetwork: 'physnet4', networkType: 'flat',
  });
  const subnet = await createSubnet(store.db, {
    name: 'vdpa-subnet', networkId: net.id, projectId: PROJECTS.admin, cidr: '10.0.0.0/24', ipVersion: 4,
  });
  const app: FastifyInstance = await buildApp(ctx);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  ctx.publicUrl = url;
  return {
    url, ctx, sharedNetworkId: net.id, sharedSubnetId: subnet.id,
    async call(who, method, path, body) {
      const headers: Record<string, string> = {};
      if (who) headers['x-auth-token'] = who;
      let payload: string | undefined;
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        payload = typeof body === 'string' ? body : JSON.stringify(body);
      }
      const res = await fetch(`${url}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async close() {
      await app.close();
      await store.close();
    },
  };
}
