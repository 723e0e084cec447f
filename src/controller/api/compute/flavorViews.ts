import type { FastifyRequest } from 'fastify';
import type { FlavorTable } from '../../../storage/schema.js';
import type { ControllerContext } from '../../context.js';
import { atLeast } from './microversion.js';

/** Flavors as the compute API shows them (full and summary), by microversion. */

function links(ctx: ControllerContext, id: string) {
  const base = ctx.publicUrl.replace(/\/+$/, '');
  return [
    { rel: 'self', href: `${base}/compute/v2.1/flavors/${id}` },
    { rel: 'bookmark', href: `${base}/compute/flavors/${id}` },
  ];
}

export function flavorView(req: FastifyRequest, ctx: ControllerContext, f: FlavorTable, extraSpecs: Record<string, string>) {
  return {
    id: f.id,
    name: f.name,
    ram: f.ram,
    disk: f.disk,
    vcpus: f.vcpus,
    // Before 2.75 Nova shows a zero swap as an empty string.
    swap: f.swap === 0 && !atLeast(req, '2.75') ? '' : f.swap,
    'OS-FLV-EXT-DATA:ephemeral': f.ephemeral,
    'OS-FLV-DISABLED:disabled': false,
    'os-flavor-access:is_public': f.is_public === 1,
    rxtx_factor: f.rxtx_factor,
    links: links(ctx, f.id),
    ...(atLeast(req, '2.55') ? { description: f.description } : {}),
    ...(atLeast(req, '2.61') ? { extra_specs: extraSpecs } : {}),
  };
}

export function summaryView(req: FastifyRequest, ctx: ControllerContext, f: FlavorTable) {
  return {
    id: f.id,
    name: f.name,
    links: links(ctx, f.id),
    ...(atLeast(req, '2.55') ? { description: f.description } : {}),
  };
}
