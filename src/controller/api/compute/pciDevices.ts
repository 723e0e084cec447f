import type { FastifyInstance } from 'fastify';
import { allDevices, devicesOfHost } from '../../../storage/repositories/pciDevices.js';
import type { ControllerContext } from '../../context.js';
import { requireAdmin } from '../auth.js';
import { QUERY_TEXT, computeRoute, queryOf } from './schemaTypes.js';

/** vdpa-compute extension: the tracked devices of a host, as the tracker records them. */
export function registerPciRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  app.get<{ Querystring: { host?: string } }>('/v2.1/os-pci/detail', computeRoute('List tracked PCI and vDPA devices (vdpa-compute, admin)', { querystring: queryOf({ host: QUERY_TEXT }) }), async (req) => {
    requireAdmin(req, 'vdpa-compute:os-pci:detail');
    const devices = req.query.host
      ? await devicesOfHost(ctx.store.reader, req.query.host)
      : await allDevices(ctx.store.reader);
    return {
      pci_devices: devices.map((d) => ({
        id: d.id,
        host: d.host,
        address: d.address,
        vendor_id: d.vendorId,
        product_id: d.productId,
        dev_type: d.devType,
        status: d.status,
        parent_addr: d.parentAddr,
        instance_uuid: d.instanceUuid,
        physical_network: d.physicalNetwork,
        numa_node: d.numaNode,
        dev_name: d.devname,
        tags: d.tags,
        missing: d.missing,
        ...(d.devType === 'vdpa' || d.devType === 'vdpa-sim' ? { vdpa_chardev: d.vdpaChardev, vdpa_name: d.vdpaName } : {}),
      })),
    };
  });
}
