import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NotFound } from '../../../domain/errors.js';
import type { ControllerContext } from '../../context.js';
import { discoverySchemas, neutronWording } from './schemas.js';
import { validateSchemas } from '../schemaValidation.js';
import { authenticate } from '../auth.js';
import { requireProjectRole } from '../projectRoles.js';
import { useErrorFormat } from '../errors.js';
import { guardInput } from '../inputGuards.js';
import { networkErrorFormat } from './errorFormat.js';
import { EXTENSIONS, extensionView } from './extensions.js';
import { networkRoutes } from './networkRoutes.js';
import { portRoutes } from './portRoutes.js';
import { securityGroupRoutes } from './securityGroupRoutes.js';
import { subnetRoutes } from './subnetRoutes.js';
import { quotaRoutes } from './quotaRoutes.js';

const RESOURCES = [
  ['network', 'networks'], ['subnet', 'subnets'], ['port', 'ports'], ['security_group', 'security-groups'],
  ['security_group_rule', 'security-group-rules'],
] as const;
/** Neutron answers these to any token: the API's own description. */
const ANY_ROLE = new Set(['GET /network/v2.0', 'GET /network/v2.0/extensions', 'GET /network/v2.0/extensions/:alias']);

/** Networking v2.0 under /network; the client appends /v2.0 itself, so only the root is discovery. */
export async function networkApi(app: FastifyInstance, ctx: ControllerContext): Promise<void> {
  useErrorFormat(app, networkErrorFormat);
  validateSchemas(app, neutronWording);
  guardInput(app, {
    // Neutron's list filters take several values (?id=a&id=b); its paging parameters one.
    repeatable: (name) => !['limit', 'marker', 'page_reverse', 'sort_dir', 'sort_key'].includes(name),
  });
  // Read per request: the public URL may be known only once the listener is up.
  const base = () => `${ctx.publicUrl.replace(/\/$/, '')}/network`;

  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0]!;
    if (path === '/network' || path === '/network/') return;
    await authenticate(ctx, req);
    requireProjectRole(req, ANY_ROLE, (action) => `rule:${action} is disallowed by policy`);
  });

  app.get('/', { schema: discoverySchemas.versions }, async () => ({
    versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ rel: 'self', href: `${base()}/v2.0/` }] }],
  }));

  app.get('/v2.0', { schema: discoverySchemas.resources }, async () => ({
    resources: RESOURCES.map(([name, collection]) => ({
      name, collection, links: [{ rel: 'self', href: `${base()}/v2.0/${collection}` }],
    })),
  }));

  app.get('/v2.0/extensions', { schema: discoverySchemas.extensions }, async () => ({ extensions: EXTENSIONS.map(extensionView) }));
  app.get('/v2.0/extensions/:alias', { schema: discoverySchemas.extension }, async (req: FastifyRequest<{ Params: { alias: string } }>) => {
    const ext = EXTENSIONS.find((e) => e.alias === req.params.alias);
    if (!ext) throw new NotFound(`Extension with alias ${req.params.alias} does not exist`, 'ExtensionNotFound');
    return { extension: extensionView(ext) };
  });

  networkRoutes(app, ctx);
  subnetRoutes(app, ctx);
  portRoutes(app, ctx);
  securityGroupRoutes(app, ctx);
  quotaRoutes(app, ctx);
}
