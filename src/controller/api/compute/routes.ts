import type { FastifyInstance } from 'fastify';
import type { ControllerContext } from '../../context.js';
import { authenticate } from '../auth.js';
import { requireProjectRole } from '../projectRoles.js';
import { useErrorFormat } from '../errors.js';
import { guardInput } from '../inputGuards.js';
import { computeErrorFormat } from './errorFormat.js';
import { registerFlavorRoutes } from './flavors.js';
import { registerHypervisorRoutes } from './hypervisors.js';
import { microversion } from './microversion.js';
import { registerPciRoutes } from './pciDevices.js';
import { registerServerRoutes } from './servers.js';
import { registerServiceRoutes } from './services.js';
import { registerVersionRoutes } from './versions.js';
import { registerComputeExtras } from './extras.js';
import { registerMigrationRoutes } from './migrations.js';
import { registerInterfaceRoutes } from './interfaces.js';
import { registerDoctorRoutes } from './doctor.js';
import { registerServerMetadataRoutes } from './serverMetadata.js';
import { registerServerTagRoutes } from './serverTags.js';
import { registerKeyPairRoutes } from './keypairs.js';
import { registerAggregateRoutes } from './aggregates.js';
import { registerAvailabilityZoneRoutes } from './availabilityZones.js';
import { registerQuotaSetRoutes } from './quotaSets.js';
import { registerUsageRoutes } from './usage.js';
import { registerVdpaFleetRoutes } from './vdpaFleet.js';
import { registerServerGroupRoutes } from './serverGroups.js';

const PUBLIC_PATHS = new Set(['/compute', '/compute/', '/compute/v2.1', '/compute/v2.1/']);
/** Nova's rules that ask no project role: '@' (flavors, limits, zones, default quotas) and key pairs (the user's own). */
const ANY_ROLE = new Set([
  'GET /compute/v2.1/flavors', 'GET /compute/v2.1/flavors/detail', 'GET /compute/v2.1/flavors/:id', 'GET /compute/v2.1/limits',
  'GET /compute/v2.1/os-availability-zone', 'GET /compute/v2.1/os-quota-sets/:p/defaults',
  'GET /compute/v2.1/os-keypairs', 'POST /compute/v2.1/os-keypairs', 'GET /compute/v2.1/os-keypairs/:name', 'DELETE /compute/v2.1/os-keypairs/:name',
]);

export async function computeApi(app: FastifyInstance, ctx: ControllerContext): Promise<void> {
  useErrorFormat(app, computeErrorFormat);
  guardInput(app);
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    if (PUBLIC_PATHS.has(path)) return;
    await authenticate(ctx, req);
    requireProjectRole(req, ANY_ROLE, (action) => `Policy doesn't allow ${action} to be performed.`);
    const v = microversion(req);
    const text = `${v.major}.${v.minor}`;
    void reply.header('openstack-api-version', `compute ${text}`);
    void reply.header('x-openstack-nova-api-version', text);
    void reply.header('vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
  });
  registerVersionRoutes(app, ctx);
  registerFlavorRoutes(app, ctx);
  registerServerRoutes(app, ctx);
  registerServiceRoutes(app, ctx);
  registerHypervisorRoutes(app, ctx);
  registerPciRoutes(app, ctx);
  registerComputeExtras(app, ctx);
  registerInterfaceRoutes(app, ctx);
  registerMigrationRoutes(app, ctx);
  registerDoctorRoutes(app, ctx);
  registerServerMetadataRoutes(app, ctx);
  registerServerTagRoutes(app, ctx);
  registerKeyPairRoutes(app, ctx);
  registerAggregateRoutes(app, ctx);
  registerAvailabilityZoneRoutes(app, ctx);
  registerQuotaSetRoutes(app, ctx);
  registerUsageRoutes(app, ctx);
  registerVdpaFleetRoutes(app, ctx);
  registerServerGroupRoutes(app, ctx);
}
