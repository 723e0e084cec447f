import { BadRequest } from '../errors.js';

/** Nova's `default_availability_zone`: the zone of a host in no aggregate with one. */
export const DEFAULT_ZONE = 'nova';
/** Nova's `internal_service_availability_zone`: where controller services are listed. */
export const INTERNAL_ZONE = 'internal';
/** The aggregate metadata key that makes an aggregate an availability zone. */
export const ZONE_KEY = 'availability_zone';

/** The zones of a host from the metadata of the aggregates it is in (Nova: theirs joined, else the default). */
export function zonesOfHost(aggregateMetadata: Iterable<Record<string, string>>): string[] {
  const zones = new Set<string>();
  for (const m of aggregateMetadata) if (m[ZONE_KEY] !== undefined) zones.add(m[ZONE_KEY]);
  return zones.size ? [...zones].sort() : [DEFAULT_ZONE];
}

export interface RequestedZone {
  zone: string | null;
  host: string | null;
  node: string | null;
}

/** `zone`, `zone:host`, `zone:host:node`, `zone::node` (server create's availability_zone, Nova's parse). */
export function parseRequestedZone(text: string): RequestedZone {
  const parts = text.split(':');
  if (parts.length > 3) throw new BadRequest('Invalid input received: Unable to parse availability_zone');
  const [zone, host, node] = parts;
  return { zone: zone || null, host: host || null, node: node || null };
}
