/** The networking extensions this API implements; a client probes them before using their attributes. */
export interface Extension { alias: string; name: string; description: string }

export const EXTENSIONS: readonly Extension[] = [
  { alias: 'binding', name: 'Port Binding', description: 'Expose port bindings of a virtual port to external application' },
  { alias: 'binding-extended', name: 'Port Bindings Extended', description: 'Expose port bindings of a virtual port to external application' },
  { alias: 'provider', name: 'Provider Network', description: 'Expose mapping of virtual networks to physical networks' },
  { alias: 'external-net', name: 'Neutron external network', description: 'Adds external network attribute to network resource.' },
  { alias: 'net-mtu', name: 'Network MTU', description: 'Provides MTU attribute for a network resource.' },
  { alias: 'standard-attr-description', name: 'standard-attr-description', description: 'Extension to add descriptions to standard attributes' },
  { alias: 'standard-attr-revisions', name: 'Resource revision numbers', description: 'This extension will display the revision number of neutron resources.' },
  { alias: 'standard-attr-timestamp', name: 'Resource timestamps', description: 'Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.' },
  { alias: 'port-numa-affinity-policy', name: 'Port NUMA affinity policy', description: 'Expose the port NUMA affinity policy' },
  { alias: 'port-numa-affinity-policy-socket', name: 'Port NUMA affinity policy "socket"', description: 'Adds "socket" to the supported port NUMA affinity policies' },
  { alias: 'security-group', name: 'security-group', description: 'The security groups extension.' },
  { alias: 'port-security', name: 'Port Security', description: 'Provides port security' },
  { alias: 'stateful-security-group', name: 'Stateful security group', description: 'Indicates if the security group is stateful or not' },
  { alias: 'quotas', name: 'Quota management support', description: 'Expose functions for quotas management per tenant' },
  { alias: 'quota_details', name: 'Quota details extension', description: 'Expose functions for quotas usage statistics per project' },
  { alias: 'availability_zone', name: 'Availability Zone', description: 'The availability zone extension.' },
  { alias: 'project-id', name: 'project_id field enabled', description: 'Extension that indicates that project_id field is enabled.' },
];

export function extensionView(e: Extension): Record<string, unknown> {
  return { alias: e.alias, name: e.name, description: e.description, updated: '2023-01-01T00:00:00-00:00', links: [] };
}
