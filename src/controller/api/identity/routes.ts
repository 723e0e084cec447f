import type { FastifyInstance } from 'fastify';
import type { ControllerContext } from '../../context.js';
import { authenticate } from '../auth.js';
import { useErrorFormat } from '../errors.js';
import { guardInput } from '../inputGuards.js';
import { identityErrorFormat } from './errorFormat.js';
import { registerIdentityResources } from './resources.js';
import { registerTokenInspection, registerTokenIssue } from './tokens.js';
import { versionDoc } from './views.js';
import { discoverySchemas, keystoneWording } from './schemas.js';
import { validateSchemas } from '../schemaValidation.js';

/** Identity v3 (Keystone-compatible); everything but discovery and token issue needs a token. */
export async function identityApi(app: FastifyInstance, ctx: ControllerContext): Promise<void> {
  useErrorFormat(app, identityErrorFormat);
  validateSchemas(app, keystoneWording);
  guardInput(app);

  app.get('/', { schema: discoverySchemas.versions }, async (_req, reply) => reply.code(300).send({ versions: { values: [versionDoc(ctx.publicUrl)] } }));
  app.get('/v3', { schema: discoverySchemas.v3 }, async () => ({ version: versionDoc(ctx.publicUrl) }));
  registerTokenIssue(app, ctx);

  await app.register(async (secured) => {
    secured.addHook('onRequest', async (req) => authenticate(ctx, req));
    registerTokenInspection(secured, ctx);
    registerIdentityResources(secured, ctx);
  });
}
