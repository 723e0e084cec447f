/** One host's inventory file text: 4 vCPUs, one PF per NIC address given, each with `vfs` vdpa VFs on physnet0. */
export const vdpaInventoryYaml = (name: string, nics: string[], vfs: number) => `
hosts:
  - name: ${name}
    vcpus: 4
    memory_mb: 8192
    disk_gb: 100
    versions: { kernel: 6.1.0, libvirt: 9.0.0, qemu: 7.2.0 }
    device_spec:
      - { vendor_id: "15b3", product_id: "101d", physical_network: physnet0 }
      - { vendor_id: "15b3", product_id: "101e", physical_network: physnet0 }
    nics:
${nics.map((pf) => `      - { pf: "${pf}", vendor_id: "15b3", product_id: "101d", numa_node: 0, vfs: ${vfs}, vf_product_id: "101e", vdpa: true }`).join('\n')}
`;
