import type { ImageTable } from '../../../storage/schema.js';
import { imageExtras } from '../../services/images.js';

/** A Glance v2 image: flat, no wrapper object; extra properties sit beside the core fields. */
export function imageView(row: ImageTable) {
  const extras = imageExtras(row);
  return {
    ...extras.properties,
    id: row.id,
    name: row.name === '' ? null : row.name,
    status: row.status,
    visibility: row.visibility,
    disk_format: row.disk_format,
    container_format: row.container_format,
    min_disk: row.min_disk,
    min_ram: row.min_ram,
    size: row.size,
    virtual_size: null,
    checksum: extras.checksum ?? null,
    os_hash_algo: extras.osHashValue ? 'sha512' : null,
    os_hash_value: extras.osHashValue ?? null,
    owner: row.owner,
    protected: row.protected === 1,
    os_hidden: false,
    created_at: row.created_at,
    updated_at: row.updated_at,
    tags: extras.tags,
    self: `/v2/images/${row.id}`,
    file: `/v2/images/${row.id}/file`,
    schema: '/v2/schemas/image',
  };
}
