import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The units `host-prep --install-systemd DIR` writes: a oneshot that
 * prepares the host at boot, and the agent's unit, ordered after it (and
 * needing it: an agent on a host whose devices are not there would report
 * none). The agent's options come from /etc/vdpa-compute/agent.env.
 */
export const HOST_PREP_UNIT = 'vdpa-compute-host-prep.service';
export const AGENT_UNIT = 'vdpa-compute-agent.service';

export interface UnitOptions {
  /** node and the CLI's entry point, absolute. */
  node: string;
  cli: string;
  configFile: string;
  sysfsRoot: string;
}

export function hostPrepUnit(o: UnitOptions): string {
  const sysfs = o.sysfsRoot === '/sys' ? '' : ` --sysfs-root ${o.sysfsRoot}`;
  return `[Unit]
Description=vdpa-compute host preparation: SR-IOV VFs, eswitch mode and vDPA devices
DefaultDependencies=no
After=systemd-modules-load.service local-fs.target
Before=${AGENT_UNIT} libvirtd.service network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${o.node} ${o.cli} host-prep --apply --config ${o.configFile}${sysfs}

[Install]
WantedBy=multi-user.target
`;
}

export function agentUnit(o: UnitOptions): string {
  return `[Unit]
Description=vdpa-compute compute agent
Requires=${HOST_PREP_UNIT}
After=${HOST_PREP_UNIT} network-online.target libvirtd.service
Wants=network-online.target

[Service]
# VDPA_AGENT_ARGS="--controller http://controller:8774 --device-spec /etc/vdpa-compute/device_spec.yaml"
# and the credential (VDPA_AGENT_PASSWORD=...), see docs/agent.md.
EnvironmentFile=/etc/vdpa-compute/agent.env
ExecStart=${o.node} ${o.cli} agent $VDPA_AGENT_ARGS
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
`;
}

/** Writes both units into `dir` (created if missing); returns their paths. */
export async function installUnits(dir: string, o: UnitOptions): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: Array<[string, string]> = [[HOST_PREP_UNIT, hostPrepUnit(o)], [AGENT_UNIT, agentUnit(o)]];
  for (const [name, text] of files) await writeFile(join(dir, name), text);
  return files.map(([name]) => join(dir, name));
}
