import type { FastifyInstance } from 'fastify';
import type { ControllerContext } from '../../context.js';

/** Small read-only resources the clients ask for on the way (limits, availability zones). */
export function registerComputeExtras(app: FastifyInstance, ctx: ControllerContext): void {
  void ctx;
  app.get('/v2.1/limits', async () => ({
    limits: {
      rate: [],
      absolute: {
        maxTotalInstances: -1, maxTotalCores: -1, maxTotalRAMSize: -1, maxServerMeta: 128, maxImageMeta: 128,
        maxPersonality: 5, maxPersonalitySize: 10240, maxTotalKeypairs: 100, maxServerGroups: 10,
        maxServerGroupMembers: 10, totalCoresUsed: 0, totalInstancesUsed: 0, totalRAMUsed: 0, totalServerGroupsUsed: 0,
      },
    },
  }));
  app.get('/v2.1/os-availability-zone', async () => ({
    availabilityZoneInfo: [{ zoneName: 'nova', zoneState: { available: true }, hosts: null }],
  }));
}
