/** Layers with one import direction: domain <- storage / controller / agent <- cli. */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-plain',
      comment: 'The domain layer has no HTTP, SQL, file system or other layers in it.',
      severity: 'error',
      from: { path: '^src/domain' },
      to: { path: '^src/(storage|controller|agent|cli)|^node_modules/(fastify|kysely|pg|better-sqlite3)|^(fs|node:fs|http|node:http|net|node:net)$' },
    },
    {
      name: 'storage-below-controller',
      severity: 'error',
      from: { path: '^src/storage' },
      to: { path: '^src/(controller|agent|cli)' },
    },
    {
      name: 'agent-not-into-controller',
      comment: 'Agents talk to the controller only through src/protocol.',
      severity: 'error',
      from: { path: '^src/agent' },
      to: { path: '^src/(controller|storage|cli)' },
    },
    {
      name: 'controller-not-into-agent',
      severity: 'error',
      from: { path: '^src/controller' },
      to: { path: '^src/(agent|cli)' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
