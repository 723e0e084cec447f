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
      name: 'domain-not-into-protocol-or-config',
      comment: 'The domain imports neither the agent protocol nor config.ts (which reads files): they import the domain.',
      severity: 'error',
      from: { path: '^src/domain' },
      to: { path: '^src/(protocol/|config\\.ts$)' },
    },
    {
      name: 'no-sql-in-routes',
      comment: 'SQL lives in src/storage: API routes call services and repositories, never Kysely.',
      severity: 'error',
      from: { path: '^src/controller/api' },
      to: { path: '^node_modules/(kysely|pg|better-sqlite3)/|^src/storage/(db|pipelining|precompiled|inTransaction|groupCommit|pgConnection|pgPipeline)\\.ts$' },
    },
    {
      name: 'database-only-in-storage',
      comment: 'Only src/storage talks to the database: others hold a Unit or a Reader (src/storage/unit.ts), never a Kysely handle.',
      severity: 'error',
      from: { pathNot: '^src/storage/' },
      to: { path: '^node_modules/(kysely|pg|better-sqlite3)/' },
    },
    {
      name: 'storage-internals-private',
      comment: 'How statements run (group commit, pipelining, deferred writes, prepared and precompiled statements, the handles behind a Unit) is private to src/storage.',
      severity: 'error',
      from: { pathNot: '^src/storage/' },
      to: { path: '^src/storage/(internal/|pipelining|precompiled|inTransaction|groupCommit|pgConnection|pgPipeline|limitOne|preparingPool|statementCache|sqlProfile)' },
    },
    {
      name: 'services-not-into-api',
      comment: 'Services (and lifecycle, operations) sit below the API layer: routes call them, not the other way round.',
      severity: 'error',
      from: { path: '^src/controller/(services|lifecycle|operations)' },
      to: { path: '^src/controller/api' },
    },
    {
      name: 'device-feed-is-storage-only',
      comment: 'Only storage notes device changes (src/storage/devices/changeFeed.ts); others subscribe through store.deviceChanges.',
      severity: 'error',
      from: { pathNot: '^src/storage/' },
      to: { path: '^src/storage/devices/changeFeed\\.ts$' },
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
