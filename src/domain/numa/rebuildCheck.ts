import { isDeepStrictEqual } from 'node:util';
import { BadRequest } from '../errors.js';
import { guestNumaTopology, type FlavorShape, type ImageProperties } from './guestTopology.js';

/** Nova's ImageNUMATopologyRebuildConflict text. */
export const NUMA_REBUILD_CONFLICT = "An instance's NUMA topology cannot be changed as part of a rebuild. The image provided is invalid for this instance.";

/**
 * Nova's _validate_numa_rebuild: a rebuild keeps the server's claims and
 * pins, so the new image must ask for exactly the NUMA topology the old one
 * did with the server's flavor (neither introducing nor removing one, nor
 * changing it). Throws the 400; an invalid new image throws its own 400.
 */
export function checkNumaRebuild(flavor: FlavorShape, oldImage: ImageProperties, newImage: ImageProperties): void {
  const before = guestNumaTopology(flavor, oldImage);
  const after = guestNumaTopology(flavor, newImage);
  if (!isDeepStrictEqual(before, after)) throw new BadRequest(NUMA_REBUILD_CONFLICT);
}
