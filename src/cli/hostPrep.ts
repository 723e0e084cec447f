/**
 * `host-prep`: makes a hypervisor's SR-IOV NICs match a declarative file —
 * VF count, eswitch mode, a vDPA device bound to vhost_vdpa on every VF —
 * doing only what is missing. The plan is src/domain/hostPrep/; reading
 * the host and running the steps src/agent/hostPrep/.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { HostPrepConfigError, parseHostPrepConfig } from '../domain/hostPrep/config.js';
import { HostPrepPlanError, planHostPrep, type HostPrepPlan } from '../domain/hostPrep/plan.js';
import { planScript } from '../domain/hostPrep/script.js';
import { applyPlan, HostPrepStepError, type SysfsWriter } from '../agent/hostPrep/applyPlan.js';
import { HostStateError, readHostState } from '../agent/hostPrep/readHostState.js';
import { CommandFailed, runCommand, type CommandRunner } from '../agent/hostPrep/runCommand.js';
import { installUnits } from './systemdUnits.js';

export interface HostPrepOptions {
  config: string;
  sysfsRoot: string;
  mode: 'dry-run' | 'apply';
}

export interface HostPrepIo {
  out: (text: string) => void;
  run?: CommandRunner;
  write?: SysfsWriter;
}

/** Errors an operator fixes (the file, the host, a failed step): reported in one line, exit status 1. */
export const HOST_PREP_ERRORS = [HostPrepConfigError, HostPrepPlanError, HostStateError, HostPrepStepError, CommandFailed];

async function loadConfig(file: string) {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, 'utf8'));
  } catch (e) {
    throw new HostPrepConfigError(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return parseHostPrepConfig(raw);
  } catch (e) {
    if (e instanceof HostPrepConfigError) throw new HostPrepConfigError(`${file}: ${e.message}`);
    throw e;
  }
}

/** Plans (and with `apply` runs) the preparation; returns the plan. */
export async function runHostPrep(o: HostPrepOptions, io: HostPrepIo): Promise<HostPrepPlan> {
  const run = io.run ?? runCommand;
  const config = await loadConfig(o.config);
  const plan = planHostPrep(config, await readHostState(o.sysfsRoot, config, run));
  if (o.mode === 'dry-run') {
    io.out(planScript(plan, o.sysfsRoot));
    return plan;
  }
  if (plan.steps.length === 0) {
    io.out('host-prep: nothing to do: the host matches its config\n');
    return plan;
  }
  await applyPlan(plan, { sysfsRoot: o.sysfsRoot, run, write: io.write, onStep: (c) => io.out(`+ ${c}\n`) });
  io.out(`host-prep: done (${plan.steps.length} steps)\n`);
  return plan;
}

export function registerHostPrepCommand(program: Command): void {
  program
    .command('host-prep')
    .description('create the SR-IOV VFs, eswitch mode and vDPA devices a YAML file asks for, doing only what is missing')
    .requiredOption('--config <file>', 'YAML: nics: [{pf, num_vfs, eswitch_mode, vdpa, vdpa_name}], vdpa_name')
    .option('--sysfs-root <dir>', 'sysfs mount point', '/sys')
    .option('--dry-run', 'print the missing steps as a shell script and change nothing')
    .option('--apply', 'run the missing steps')
    .option('--install-systemd <dir>', 'write a oneshot unit running --apply at boot, and the agent\'s unit after it, into DIR')
    .action(async (opts: { config: string; sysfsRoot: string; dryRun?: boolean; apply?: boolean; installSystemd?: string }) => {
      const out = (text: string) => process.stdout.write(text);
      const chosen = [opts.dryRun, opts.apply, opts.installSystemd !== undefined].filter(Boolean).length;
      if (chosen !== 1) throw new Error('host-prep: give one of --dry-run, --apply or --install-systemd DIR');
      try {
        if (opts.installSystemd !== undefined) {
          await loadConfig(opts.config); // a unit that fails at every boot helps nobody
          const files = await installUnits(resolve(opts.installSystemd), {
            node: process.execPath, cli: resolve(process.argv[1]!), configFile: resolve(opts.config), sysfsRoot: resolve(opts.sysfsRoot),
          });
          out(`${files.join('\n')}\nthen: systemctl daemon-reload && systemctl enable vdpa-compute-host-prep.service vdpa-compute-agent.service\n`);
          return;
        }
        await runHostPrep({ config: opts.config, sysfsRoot: resolve(opts.sysfsRoot), mode: opts.apply ? 'apply' : 'dry-run' }, { out });
      } catch (e) {
        if (HOST_PREP_ERRORS.some((k) => e instanceof k)) {
          process.stderr.write(`vdpa-compute host-prep: ${(e as Error).message}\n`);
          process.exit(1);
        }
        throw e;
      }
    });
}
