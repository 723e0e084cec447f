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

const GUEST_ID = { type: 'string', minLength: 1, maxLength: 255 } as const;

export const guestParams = {
  type: 'object',
  required: ['host', 'uuid'],
  properties: { host: HOST_NAME, uuid: GUEST_ID },
} as const;

export const consoleRequestParams = {
  type: 'object',
  required: ['host', 'id'],
  properties: { host: HOST_NAME, id: GUEST_ID },
} as const;

/** Query strings arrive as text; nothing else is read from them. */
export const noQuery = { type: 'object', properties: {}, additionalProperties: false } as const;

export const guestsQuery = {
  type: 'object',
  properties: { pending: { type: 'string', enum: ['true', 'false'] } },
  additionalProperties: false,
} as const;

export const workQuery = {
  type: 'object',
  properties: { timeout_ms: { type: 'string', pattern: '^[0-9]{0,10}$' } },
  additionalProperties: false,
} as const;

/** The route schemas: every part of every agent call, tagged for /openapi.json. */
const route = (summary: string, parts: Record<string, unknown>) => ({ tags: ['agent'], summary, ...parts });
export const agentSchemas = {
  register: route('Register (or re-register) a compute host', { params: hostParams, querystring: noQuery, body: registrationSchema }),
  inventory: route("Report a host's PCI/vDPA inventory", { params: hostParams, querystring: noQuery, body: inventorySchema }),
  heartbeat: route('Heartbeat', { params: hostParams, querystring: noQuery }),
  guests: route("List the host's guests (or only those with pending work)", { params: hostParams, querystring: guestsQuery }),
  report: route("Report a guest's observed state", { params: guestParams, querystring: noQuery, body: guestReportSchema }),
  powerState: route("Report a guest's power state", { params: guestParams, querystring: noQuery, body: powerStateSchema }),
  consoleRequests: route('List pending console requests', { params: hostParams, querystring: noQuery }),
  consoleAnswer: route('Answer a console request', { params: consoleRequestParams, querystring: noQuery, body: consoleAnswerSchema }),
  work: route('Wait for work (long poll)', { params: hostParams, querystring: workQuery }),
  snapshot: route("Upload a snapshot's disk data (a byte stream)", { params: snapshotParams, querystring: noQuery }),
  diskUpload: route("Upload a cold move's disk from its source host (a byte stream)", { params: diskTransferParams, querystring: noQuery }),
  diskDownload: route("Download a cold move's disk to its destination host (a byte stream)", { params: diskTransferParams, querystring: noQuery }),
};
