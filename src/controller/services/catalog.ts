/** The service catalog handed out with every token: one endpoint per service and interface. */
export const REGION = 'RegionOne';

const SERVICES: Array<{ type: string; name: string; path: string }> = [
  { type: 'identity', name: 'keystone', path: '/identity' },
  { type: 'compute', name: 'nova', path: '/compute/v2.1' },
  { type: 'network', name: 'neutron', path: '/network' },
  { type: 'image', name: 'glance', path: '/image' },
];

export interface CatalogEntry {
  id: string;
  type: string;
  name: string;
  endpoints: Array<{ id: string; interface: string; region_id: string; region: string; url: string }>;
}

export function buildCatalog(publicUrl: string): CatalogEntry[] {
  const base = publicUrl.replace(/\/+$/, '');
  return SERVICES.map((s) => ({
    id: s.name,
    type: s.type,
    name: s.name,
    endpoints: ['public', 'internal', 'admin'].map((iface) => ({
      id: `${s.name}-${iface}`,
      interface: iface,
      region_id: REGION,
      region: REGION,
      url: base + s.path,
    })),
  }));
}
