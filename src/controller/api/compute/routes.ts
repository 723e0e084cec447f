import type { FastifyInstance } from 'fastify';
import type { ControllerContext } from '../../context.js';
import { authenticate } from '../auth.js';
import { useErrorFormat } from '../errors.js';
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

const PUBLIC_PATHS = new Set(['/compute', '/compute/', '/compute/v2.1', '/compute/v2.1/']);

export async function computeApi(app: FastifyInstance, ctx: ControllerContext): Promise<void> {
  useErrorFormat(app, computeErrorFormat);
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    if (PUBLIC_PATHS.has(path)) return;
    await authenticate(ctx, req);
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
}
