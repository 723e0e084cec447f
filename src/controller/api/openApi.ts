import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';

/**
 * The OpenAPI document of every API this controller serves, generated from
 * the routes' own validation schemas, so it cannot drift from what the
 * controller accepts. Served unauthenticated at /openapi.json (it describes
 * shapes, not data), as the fuzzer (npm run fuzz) and client authors read it.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'vdpa-compute',
        description: 'OpenStack-compatible identity v3, compute v2.1, networking v2.0 and image v2 subsets, and the compute agent API.',
        version: '0.1.0',
      },
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
