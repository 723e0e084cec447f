/**
 * JSON Schema (draft-07) of a simulated host inventory file. It is kept in code
 * because the domain layer reads no files; schemas/host-inventory.schema.json is
 * the published copy, and a test keeps the two identical.
 */
const CPU_LIST = { type: 'string', pattern: '^\\s*\\^?\\d+(\\s*-\\s*\\d+)?(\\s*,\\s*\\^?\\d+(\\s*-\\s*\\d+)?)*\\s*$' } as const;

export const HOST_INVENTORY_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://vdpa-compute.invalid/schemas/host-inventory.schema.json',
  title: 'vdpa-compute simulated host inventory',
  description:
    'The hosts a simulated deployment runs: their size, software versions, device_spec and SR-IOV NICs. ' +
    'The file is either {"hosts": [...]} or a bare list of hosts, in JSON or YAML.',
  type: 'object',
  required: ['hosts'],
  additionalProperties: false,
  properties: {
    hosts: { type: 'array', items: { $ref: '#/definitions/host' } },
  },
  definitions: {
    hexId: {
      type: 'string',
      pattern: '^[0-9a-fA-F]{4}$',
      description: 'A PCI vendor or product id: 4 hex digits, without 0x (quote it in YAML).',
    },
    pciAddress: {
      type: 'string',
      pattern: '^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]\\.[0-7]$',
      description: 'A PCI address DDDD:BB:SS.F.',
    },
    versions: {
      type: 'object',
      required: ['kernel', 'libvirt', 'qemu'],
      additionalProperties: false,
      properties: {
        kernel: { type: 'string', minLength: 1, description: 'e.g. 6.1.0-18-amd64; vDPA needs 5.7 or newer' },
        libvirt: { type: 'string', minLength: 1, description: 'e.g. 9.0.0; vDPA needs 6.9.0 or newer' },
        qemu: { type: 'string', minLength: 1, description: 'e.g. 7.2.0; vDPA needs 5.1 or newer' },
      },
    },
    nic: {
      type: 'object',
      description:
        'One SR-IOV physical function and its VFs. VF k (1-based) has the routing id of the PF plus k, ' +
        'so past function 7 the slot carries on (VF 8 of 0000:06:00.0 is 0000:06:01.0).',
      required: ['pf', 'vendor_id', 'product_id', 'vfs'],
      additionalProperties: false,
      properties: {
        pf: { $ref: '#/definitions/pciAddress' },
        vendor_id: { $ref: '#/definitions/hexId' },
        product_id: { $ref: '#/definitions/hexId', description: 'The PF product id.' },
        numa_node: { type: ['integer', 'null'], minimum: 0, description: 'NUMA node of the PF and its VFs (default: none).' },
        vfs: { type: 'integer', minimum: 0, description: 'How many VFs the PF has.' },
        vf_product_id: { $ref: '#/definitions/hexId', description: 'The VF product id; required when vfs > 0.' },
        vdpa: {
          type: 'boolean',
          default: false,
          description: 'When true every VF carries a vDPA device vdpaN with chardev /dev/vhost-vdpa-N, N counting from 0 per host across its NICs.',
        },
        devname: { type: 'string', minLength: 1, description: "The PF's network interface name, for devname device_spec entries." },
      },
      if: { type: 'object', required: ['vfs'], properties: { vfs: { type: 'integer', minimum: 1 } } },
      then: { required: ['vf_product_id'] },
    },
    fault: {
      type: ['string', 'object'],
      minLength: 1,
      description:
        'A message: every call fails with it (a libvirt internal error). Or an object: {message, times?} fails ' +
        'only the first `times` calls, then the operation works; {hang: true, times?} never answers.',
      additionalProperties: false,
      properties: {
        message: { type: 'string', minLength: 1, description: 'The error the operation fails with, as libvirt would word it.' },
        hang: { type: 'boolean', description: 'true: the operation never answers (the controller\'s deadline has to act).' },
        times: { type: 'integer', minimum: 1, description: 'Only the first this many calls meet the fault (default: every call).' },
      },
    },
    faults: {
      type: 'object',
      description:
        'Fault injection (labs and tests): makes the simulated hypervisor fail or hang an operation. ' +
        'live_migrate is this host\'s side of a live migration: as the source, letting the guest go; as the destination, receiving it.',
      additionalProperties: false,
      properties: {
        spawn: { $ref: '#/definitions/fault' },
        destroy: { $ref: '#/definitions/fault' },
        power_off: { $ref: '#/definitions/fault' },
        power_on: { $ref: '#/definitions/fault' },
        suspend: { $ref: '#/definitions/fault' },
        resume: { $ref: '#/definitions/fault' },
        attach_interface: { $ref: '#/definitions/fault' },
        detach_interface: { $ref: '#/definitions/fault' },
        live_migrate: { $ref: '#/definitions/fault' },
        reboot: { $ref: '#/definitions/fault' },
        pause: { $ref: '#/definitions/fault' },
        unpause: { $ref: '#/definitions/fault' },
        rebuild: { $ref: '#/definitions/fault' },
        rescue: { $ref: '#/definitions/fault' },
        unrescue: { $ref: '#/definitions/fault' },
        snapshot: { $ref: '#/definitions/fault' },
        console_log: { $ref: '#/definitions/fault' },
      },
    },
    cpuList: { ...CPU_LIST, description: 'A CPU list as Linux and Nova write it: "0-15", "0-3,8-11", "0-15,^0".' },
    numaCell: {
      type: 'object',
      description: 'One NUMA node of the host: its CPUs, memory and huge pages.',
      required: ['id', 'cpus', 'memory_mb'],
      additionalProperties: false,
      properties: {
        id: { type: 'integer', minimum: 0, description: 'The NUMA node number (nodeN in sysfs).' },
        socket: { type: ['integer', 'null'], minimum: 0, description: 'The physical package (socket) of its CPUs (default: none).' },
        cpus: { $ref: '#/definitions/cpuList' },
        memory_mb: { type: 'integer', minimum: 1 },
        hugepages: {
          type: 'object',
          default: {},
          description: 'Huge pages of the node: page size in KiB (e.g. 2048, 1048576) to how many it has.',
          propertyNames: { pattern: '^[1-9][0-9]*$' },
          additionalProperties: { type: 'integer', minimum: 0 },
        },
      },
    },
    host: {
      type: 'object',
      required: ['name', 'vcpus', 'memory_mb', 'disk_gb', 'versions'],
      additionalProperties: false,
      properties: {
        name: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'The compute host name.' },
        vcpus: { type: 'integer', minimum: 1 },
        memory_mb: { type: 'integer', minimum: 1 },
        disk_gb: { type: 'integer', minimum: 0 },
        versions: { $ref: '#/definitions/versions' },
        service_version: { type: 'integer', minimum: 1, description: 'Compute service version (default: the current one).' },
        host_ip: { type: 'string', minLength: 1, description: 'The address the host is reached at (default 127.0.0.1).' },
        device_spec: {
          type: 'array',
          default: [],
          description: 'device_spec entries: objects, or JSON strings as in Nova configuration.',
          items: { type: ['object', 'string'] },
        },
        nics: { type: 'array', default: [], items: { $ref: '#/definitions/nic' } },
        faults: { $ref: '#/definitions/faults' },
        numa_cells: {
          type: 'array',
          minItems: 1,
          description: 'The host NUMA topology (default: one cell holding every CPU and all memory, no huge pages).',
          items: { $ref: '#/definitions/numaCell' },
        },
        cpu_dedicated_set: { ...CPU_LIST, description: "Nova's [compute] cpu_dedicated_set: the CPUs guests are pinned to." },
        cpu_shared_set: { ...CPU_LIST, description: "Nova's [compute] cpu_shared_set: the CPUs unpinned guests float on." },
      },
    },
  },
} as const;
