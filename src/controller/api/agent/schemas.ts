/**
 * JSON schemas of the agent protocol's request bodies (src/protocol/agentProtocol.ts),
 * so that a malformed report is a 400 at the edge, never a half-applied change.
 */
const str = { type: 'string' } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const HOST_NAME = { type: 'string', minLength: 1, maxLength: 255 } as const;
const cpuNumbers = { type: 'array', items: { type: 'integer', minimum: 0 } } as const;

const versions = {
  type: 'object',
  required: ['kernel', 'libvirt', 'qemu'],
  properties: { kernel: str, libvirt: str, qemu: str },
} as const;

export const registrationSchema = {
  type: 'object',
  required: ['host', 'serviceVersion', 'hypervisorType', 'hostIp', 'vcpus', 'memoryMb', 'diskGb', 'versions', 'vdpaUnsupportedReason'],
  properties: {
    host: HOST_NAME,
    serviceVersion: { type: 'integer', minimum: 0 },
    hypervisorType: str,
    hostIp: str,
    vcpus: { type: 'integer', minimum: 0 },
    memoryMb: { type: 'integer', minimum: 0 },
    diskGb: { type: 'integer', minimum: 0 },
    versions,
    vdpaUnsupportedReason: nullableStr,
    numaTopology: {
      type: ['object', 'null'],
      required: ['cells', 'cpuDedicatedSet', 'cpuSharedSet'],
      properties: {
        cells: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            required: ['id', 'socket', 'cpus', 'memoryMb', 'hugepages'],
            properties: {
              id: { type: 'integer', minimum: 0 },
              socket: { type: ['integer', 'null'], minimum: 0 },
              cpus: cpuNumbers,
              memoryMb: { type: 'integer', minimum: 0 },
              hugepages: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } },
            },
          },
        },
        cpuDedicatedSet: { anyOf: [cpuNumbers, { type: 'null' }] },
        cpuSharedSet: { anyOf: [cpuNumbers, { type: 'null' }] },
      },
    },
  },
} as const;

const trackedDevice = {
  type: 'object',
  required: ['address', 'vendorId', 'productId', 'devType', 'parentAddr', 'numaNode', 'devname', 'vdpaName', 'vdpaChardev', 'physicalNetwork', 'tags'],
  properties: {
    address: str,
    vendorId: str,
    productId: str,
    devType: { type: 'string', enum: ['type-PCI', 'type-PF', 'type-VF', 'vdpa', 'vdpa-sim'] },
    parentAddr: nullableStr,
    numaNode: { type: ['integer', 'null'] },
    devname: nullableStr,
    vdpaName: nullableStr,
    vdpaChardev: nullableStr,
    physicalNetwork: nullableStr,
    tags: { type: 'object', additionalProperties: str },
  },
} as const;

export const inventorySchema = {
  type: 'object',
  required: ['host', 'devices'],
  properties: { host: HOST_NAME, devices: { type: 'array', items: trackedDevice } },
} as const;

export const guestReportSchema = {
  type: 'object',
  required: ['host', 'instanceUuid', 'generation', 'observedState', 'domainXml', 'error'],
  properties: {
    host: HOST_NAME,
    instanceUuid: str,
    generation: { type: 'integer', minimum: 0 },
    observedState: { type: ['string', 'null'], enum: ['running', 'paused', 'suspended', 'shutoff', 'absent', null] },
    domainXml: nullableStr,
    error: nullableStr,
    requestId: str,
  },
} as const;

export const powerStateSchema = {
  type: 'object',
  required: ['host', 'instanceUuid', 'state'],
  properties: {
    host: HOST_NAME,
    instanceUuid: str,
    state: { type: 'string', enum: ['running', 'paused', 'suspended', 'shutoff', 'absent'] },
  },
} as const;

export const hostParams = {
  type: 'object',
  required: ['host'],
  properties: { host: HOST_NAME },
} as const;

/** PUT …/guests/{uuid}/snapshots/{image}: the snapshot's data (the body is a byte stream, not JSON). */
export const snapshotParams = {
  type: 'object',
  required: ['host', 'uuid', 'image'],
  properties: { host: HOST_NAME, uuid: { type: 'string', minLength: 1, maxLength: 255 }, image: { type: 'string', minLength: 1, maxLength: 255 } },
} as const;

/** PUT|GET …/guests/{uuid}/disk-transfers/{migration}: a cold move's disk (the body is a byte stream, not JSON). */
export const diskTransferParams = {
  type: 'object',
  required: ['host', 'uuid', 'migration'],
  properties: {
    host: HOST_NAME,
    uuid: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9_-][A-Za-z0-9_.-]*$' },
    migration: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9_-][A-Za-z0-9_.-]*$' },
  },
} as const;

export const consoleAnswerSchema = {
  type: 'object',
  required: ['host', 'id', 'output', 'error', 'notAvailable'],
  properties: { host: HOST_NAME, id: str, output: nullableStr, error: nullableStr, notAvailable: { type: 'boolean' } },
} as const;
