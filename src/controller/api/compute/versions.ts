import type { FastifyInstance } from 'fastify';
import type { ControllerContext } from '../../context.js';
import { MAX_MICROVERSION, MIN_MICROVERSION } from './microversion.js';
import { publicBase } from './lookup.js';
import { computeRoute, queryOf } from './schemaTypes.js';

function v21(ctx: ControllerContext) {
  return {
    id: 'v2.1',
    status: 'CURRENT',
    version: `${MAX_MICROVERSION.major}.${MAX_MICROVERSION.minor}`,
    min_version: `${MIN_MICROVERSION.major}.${MIN_MICROVERSION.minor}`,
    updated: '2013-07-23T11:33:21Z',
    links: [{ rel: 'self', href: `${publicBase(ctx)}/compute/v2.1/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
  };
}

/** Version discovery needs no token (openstack-cli-contract.md §1). */
export function registerVersionRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  app.get('/', computeRoute('List compute API versions (no token)', { querystring: queryOf({}) }), async () => ({ versions: [v21(ctx)] }));
  app.get('/v2.1', computeRoute('Show the compute API version (no token)', { querystring: queryOf({}) }), async () => ({ version: v21(ctx) }));
}
