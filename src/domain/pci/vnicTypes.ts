/** binding:vnic_type values networking accepts (behaviour.md, "Ports"); anything else is a 400. */
export const VNIC_TYPES: readonly string[] = Object.freeze([
  'normal',
  'direct',
  'macvtap',
  'baremetal',
  'direct-physical',
  'virtio-forwarder',
  'smart-nic',
  'vdpa',
  'accelerator-direct',
  'accelerator-direct-physical',
  'remote-managed',
]);

export function isVnicType(v: unknown): boolean {
  return typeof v === 'string' && VNIC_TYPES.includes(v);
}
