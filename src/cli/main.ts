import { Command, InvalidArgumentError } from 'commander';
import { resolve } from 'node:path';
import { registerDiscoverCommand } from './discover.js';
import { registerAgentCommand } from './agent.js';
import { registerDoctorCommand } from './doctor.js';
import { registerHostPrepCommand } from './hostPrep.js';
import { startAllInOne } from './allInOne.js';
import { parseHttpBaseUrl } from './httpUrl.js';
import { registerAgentCredentialCommand } from './agentCredential.js';

function portNumber(v: string): number {
  const n = Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n < 0 || n > 65535 || String(n) !== v.trim()) throw new InvalidArgumentError('must be a TCP port number');
  return n;
}

const program = new Command();
program.name('vdpa-compute').description('A compute control plane for VMs with vDPA network interfaces');

program
  .command('serve')
  .description('run the all-in-one: controller and simulated compute hosts in one process')
  .option('--port <port>', 'TCP port to listen on (env VDPA_PORT)', portNumber)
  .option('--host <address>', 'address to listen on (env VDPA_LISTEN)', process.env.VDPA_LISTEN ?? '127.0.0.1')
  .option('--data-dir <dir>', 'where the database and clouds.yaml live (env VDPA_DATA_DIR)')
  .option('--hosts-file <file>', 'simulated host inventory, JSON or YAML (env VDPA_HOSTS_FILE)')
  .option('--config <file>', 'operator settings, YAML or JSON (env VDPA_CONFIG)')
  .option('--database-url <url>', 'postgres://… for PostgreSQL, else a SQLite file (env VDPA_DATABASE_URL)')
  .option('--public-url <url>', 'the endpoint the identity catalog and clouds.yaml advertise, e.g. a load balancer (env VDPA_PUBLIC_URL; default: the listen address)')
  .option('--no-simulated-hosts', 'start the controller only (hosts run their own agents)')
  .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain); needs --tls-key')
  .option('--tls-key <file>', 'the PEM private key of --tls-cert')
  .action(async (opts) => {
    const envPort = process.env.VDPA_PORT;
    const port = opts.port ?? (envPort ? portNumber(envPort) : 8774);
    const dataDir = resolve(opts.dataDir ?? process.env.VDPA_DATA_DIR ?? 'var');
    const publicUrl = opts.publicUrl !== undefined
      ? parseHttpBaseUrl(opts.publicUrl, '--public-url')
      : process.env.VDPA_PUBLIC_URL ? parseHttpBaseUrl(process.env.VDPA_PUBLIC_URL, 'VDPA_PUBLIC_URL') : undefined;
    if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
      throw new Error('--tls-cert and --tls-key go together');
    }
    const aio = await startAllInOne({
      ...(opts.tlsCert !== undefined ? { tls: { certFile: opts.tlsCert, keyFile: opts.tlsKey } } : {}),
      host: opts.host,
      port,
      dataDir,
      databaseUrl: opts.databaseUrl ?? process.env.VDPA_DATABASE_URL,
      hostsFile: opts.hostsFile ?? process.env.VDPA_HOSTS_FILE,
      configFile: opts.config ?? process.env.VDPA_CONFIG,
      adminPassword: process.env.VDPA_ADMIN_PASSWORD,
      logLevel: process.env.VDPA_LOG_LEVEL ?? 'info',
      noSimulatedHosts: opts.simulatedHosts === false,
      publicUrl,
    });
    const hostNames = aio.agents.map((a) => a.host).join(', ') || 'none';
    process.stderr.write([
      '',
      `vdpa-compute is listening on ${aio.url} (database: ${aio.ctx.store.backend})`,
      ...(aio.ctx.publicUrl !== aio.url ? [`advertised endpoint: ${aio.ctx.publicUrl}`] : []),
      `simulated compute hosts: ${hostNames}`,
      `clouds file: ${aio.cloudsYaml}`,
      `try:  export OS_CLIENT_CONFIG_FILE=${aio.cloudsYaml} OS_CLOUD=vdpa-compute`,
      '      openstack port create --network vdpa-net --vnic-type vdpa vdpa-port',
      '',
    ].join('\n'));
    let stopping = false;
    const shutdown = async () => {
      if (stopping) return;
      stopping = true;
      await aio.stop();
      process.exit(0);
    };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  });

registerDiscoverCommand(program, {
  // The libvirt addon is optional: it is loaded only when discovery asks libvirt itself.
  readNodeDeviceXml: async (uri) => {
    const { openLibvirt } = await import('../agent/drivers/libvirt/connection.js');
    const { listNodeDeviceXml } = await import('../agent/drivers/libvirt/libvirtDriver.js');
    const conn = await openLibvirt(uri ?? 'qemu:///system');
    try {
      return await listNodeDeviceXml(conn);
    } finally {
      await conn.close();
    }
  },
});
registerAgentCommand(program);
registerDoctorCommand(program);
registerHostPrepCommand(program);
registerAgentCredentialCommand(program);

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`vdpa-compute: ${err.message}\n`);
  process.exit(1);
});
