import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { serverStatus, VmState } from '../../../domain/lifecycle/serverStatus.js';
import type { InstanceRecord } from '../../../storage/repositories/instances.js';
import type { PortRecord } from '../../../storage/repositories/ports.js';
import { domainNameOf } from '../../services/guestSpecs.js';
import { atLeast } from './microversion.js';

export function hostId(projectId: string, host: string | null): string {
  if (!host) return '';
  return createHash('sha224').update(projectId + host).digest('hex');
}

function addressesOf(ports: PortRecord[]): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const p of ports) {
    const list = (out[p.networkName] ??= []);
    for (const ip of p.fixedIps) {
      list.push({
        version: ip.ipAddress.includes(':') ? 6 : 4,
        addr: ip.ipAddress,
        'OS-EXT-IPS:type': 'fixed',
        'OS-EXT-IPS-MAC:mac_addr': p.macAddress,
      });
    }
  }
  return out;
}

function link(base: string, kind: string, id: string) {
  return [
    { rel: 'self', href: `${base}/compute/v2.1/${kind}/${id}` },
    { rel: 'bookmark', href: `${base}/compute/${kind}/${id}` },
  ];
}

/** The short list form (`GET /servers`): what the client matches names against. */
export function serverSummary(base: string, i: InstanceRecord) {
  return { id: i.uuid, name: i.name, links: link(base, 'servers', i.uuid) };
}

/** The full server body, with the admin-only host fields only for admins (Nova's policy). */
export function serverDetail(
  req: FastifyRequest, base: string, i: InstanceRecord, ports: PortRecord[], tags: string[] = [], securityGroups?: string[],
) {
  const admin = req.auth.isAdmin;
  const body: Record<string, unknown> = {
    id: i.uuid,
    name: i.name,
    status: serverStatus(i.vmState, i.taskState),
    tenant_id: i.projectId,
    user_id: i.userId,
    metadata: i.metadata,
    hostId: hostId(i.projectId, i.host),
    image: { id: i.imageRef, links: [{ rel: 'bookmark', href: `${base}/compute/images/${i.imageRef}` }] },
    created: i.createdAt.replace(/\.\d+Z$/, 'Z'),
    updated: i.updatedAt.replace(/\.\d+Z$/, 'Z'),
    addresses: addressesOf(ports),
    accessIPv4: '',
    accessIPv6: '',
    links: link(base, 'servers', i.uuid),
    'OS-DCF:diskConfig': 'MANUAL',
    progress: 0,
    'OS-EXT-AZ:availability_zone': i.availabilityZone,
    config_drive: '',
    key_name: i.keyName,
    'OS-SRV-USG:launched_at': i.launchedAt ? i.launchedAt.replace('Z', '') : null,
    'OS-SRV-USG:terminated_at': null,
    'os-extended-volumes:volumes_attached': [],
    'OS-EXT-STS:task_state': i.taskState,
    'OS-EXT-STS:vm_state': i.vmState,
    'OS-EXT-STS:power_state': i.powerState,
  };
  if (atLeast(req, '2.47')) {
    body.flavor = {
      original_name: i.flavor.name, vcpus: i.flavor.vcpus, ram: i.flavor.ram, disk: i.flavor.disk,
      ephemeral: i.flavor.ephemeral, swap: i.flavor.swap, extra_specs: i.flavor.extra_specs,
    };
  } else {
    body.flavor = { id: i.flavor.id, links: [{ rel: 'bookmark', href: `${base}/compute/flavors/${i.flavor.id}` }] };
  }
  // Nova shows the groups of the server's ports (each name once), and no key when they carry none.
  if (securityGroups?.length) body.security_groups = securityGroups.map((name) => ({ name }));
  if (admin) {
    body['OS-EXT-SRV-ATTR:host'] = i.host;
    body['OS-EXT-SRV-ATTR:hypervisor_hostname'] = i.node;
    body['OS-EXT-SRV-ATTR:instance_name'] = domainNameOf(i.uuid);
    if (atLeast(req, '2.3')) {
      body['OS-EXT-SRV-ATTR:reservation_id'] = `r-${i.uuid.slice(0, 8)}`;
      body['OS-EXT-SRV-ATTR:launch_index'] = 0;
      body['OS-EXT-SRV-ATTR:hostname'] = i.name.toLowerCase().replace(/[^a-z0-9-]+/g, '-');
      body['OS-EXT-SRV-ATTR:kernel_id'] = '';
      body['OS-EXT-SRV-ATTR:ramdisk_id'] = '';
      body['OS-EXT-SRV-ATTR:root_device_name'] = '/dev/vda';
      body['OS-EXT-SRV-ATTR:user_data'] = null;
    }
  }
  if (atLeast(req, '2.9')) body.locked = i.locked;
  if (atLeast(req, '2.19')) body.description = i.description;
  if (atLeast(req, '2.26')) body.tags = tags;
  if (atLeast(req, '2.63')) body.trusted_image_certificates = null;
  if (atLeast(req, '2.73')) body.locked_reason = i.lockedReason;
  if (i.fault && (i.vmState === VmState.ERROR || i.vmState === VmState.DELETED)) {
    body.fault = {
      code: i.fault.code,
      message: i.fault.message,
      created: i.fault.created.replace(/\.\d+Z$/, 'Z'),
      ...(admin && i.fault.details ? { details: i.fault.details } : {}),
    };
  }
  return body;
}
