import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { runHostPrep } from '../../src/cli/hostPrep.js';
import { HostPrepStepError } from '../../src/agent/hostPrep/applyPlan.js';
import { commandRunner } from '../../src/agent/hostPrep/runCommand.js';
import { simulatedKernel } from '../helpers/hostPrepTree.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const FIXTURES = join(ROOT, 'test/fixtures/hostprep');
const CONFIG = join(FIXTURES, 'host-prep.yaml');
const CLI = join(ROOT, 'dist/src/cli/main.js');

const ALL_DEVICES = [
  ['vdpa0-0', '0000:3b:00.2'], ['vdpa0-1', '0000:3b:00.3'], ['vdpa0-2', '0000:3b:00.4'], ['vdpa0-3', '0000:3b:00.5'],
  ['vdpa1-0', '0000:3b:01.2'], ['vdpa1-1', '0000:3b:01.3'],
];
const addAndBind = (sys: string, devices: string[][]) => devices.flatMap(([name, vf]) => [
  `vdpa dev add name ${name} mgmtdev pci/${vf}`, `echo ${name} > ${sys}/bus/vdpa/drivers/vhost_vdpa/bind`,
]);

/** Exactly the script each fixture's --dry-run prints, for its sysfs root. */
const EXPECTED: Record<string, (sys: string) => string[]> = {
  fresh: (sys) => [
    `trap 'echo 1 > ${sys}/bus/vdpa/drivers_autoprobe' EXIT`,
    'devlink dev eswitch set pci/0000:3b:00.0 mode switchdev',
    `echo 4 > ${sys}/bus/pci/devices/0000:3b:00.0/sriov_numvfs`,
    'devlink dev eswitch set pci/0000:3b:00.1 mode switchdev',
    `echo 2 > ${sys}/bus/pci/devices/0000:3b:00.1/sriov_numvfs`,
    'modprobe vhost_vdpa',
    `echo 0 > ${sys}/bus/vdpa/drivers_autoprobe`,
    ...addAndBind(sys, ALL_DEVICES),
  ],
  'half-prepared': (sys) => [
    `trap 'echo 1 > ${sys}/bus/vdpa/drivers_autoprobe' EXIT`,
    'devlink dev eswitch set pci/0000:3b:00.1 mode switchdev',
    `echo 2 > ${sys}/bus/pci/devices/0000:3b:00.1/sriov_numvfs`,
    `echo 0 > ${sys}/bus/vdpa/drivers_autoprobe`,
    `echo vdpa0-1 > ${sys}/bus/vdpa/drivers/virtio_vdpa/unbind`,
    `echo vdpa0-1 > ${sys}/bus/vdpa/drivers/vhost_vdpa/bind`,
    `echo vdpa0-2 > ${sys}/bus/vdpa/drivers/vhost_vdpa/bind`,
    ...addAndBind(sys, ALL_DEVICES.slice(3)),
  ],
  prepared: () => [],
  'wrong-eswitch-mode': (sys) => [
    `trap 'echo 1 > ${sys}/bus/vdpa/drivers_autoprobe' EXIT`,
    `echo 0 > ${sys}/bus/pci/devices/0000:3b:00.0/sriov_numvfs`,
    'devlink dev eswitch set pci/0000:3b:00.0 mode switchdev',
    `echo 4 > ${sys}/bus/pci/devices/0000:3b:00.0/sriov_numvfs`,
    `echo 0 > ${sys}/bus/vdpa/drivers_autoprobe`,
    ...addAndBind(sys, ALL_DEVICES.slice(0, 4)),
  ],
};

function script(lines: string[]): string {
  const head = ['#!/bin/sh', '# vdpa-compute host-prep: the steps this host is missing'];
  return `${(lines.length === 0 ? [...head, '# nothing to do: the host matches its config'] : [...head, 'set -e', ...lines]).join('\n')}\n`;
}

interface Run { code: number; stdout: string; stderr: string }

let work: string;
let log: string;

/** The stand-ins on PATH, recording into `log`, simulating the tree at `tree`. */
function standInEnv(tree: string, fail?: string): NodeJS.ProcessEnv {
  return {
    ...process.env, PATH: `${join(FIXTURES, 'bin')}:${process.env.PATH}`,
    HOSTPREP_STANDIN_ROOT: tree, HOSTPREP_STANDIN_LOG: log, ...(fail ? { HOSTPREP_STANDIN_FAIL: fail } : {}),
  };
}

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((res) => {
    execFile(process.execPath, [CLI, 'host-prep', ...args], { env }, (err, stdout, stderr) => {
      res({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** A copy of a fixture to change (the fixtures themselves stay as committed). */
async function copyOf(fixture: string): Promise<string> {
  const dir = join(work, `${fixture}-${Math.random().toString(36).slice(2, 8)}`);
  await cp(join(FIXTURES, fixture), dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

async function calls(): Promise<string[]> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('devlink -j dev eswitch show'));
}

/** Every vdpa device of a tree: name → [its VF, its driver]. */
async function devicesOf(sys: string): Promise<Record<string, [string, string | null]>> {
  const out: Record<string, [string, string | null]> = {};
  for (const name of await readdir(join(sys, 'bus/vdpa/devices'))) {
    const dir = await realpath(join(sys, 'bus/vdpa/devices', name));
    out[name] = [basename(join(dir, '..')), await readlink(join(dir, 'driver')).then((l) => basename(l), () => null)];
  }
  return out;
}

const BOUND_EVERYWHERE = Object.fromEntries(ALL_DEVICES.map(([name, vf]) => [name, [vf, 'vhost_vdpa']]));

describe('vdpa-compute host-prep', { timeout: 240_000 }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'vdpa-hostprep-'));
  });
  after(async () => { await rm(work, { recursive: true, force: true }); });

  for (const fixture of Object.keys(EXPECTED)) {
    test(`--dry-run on the ${fixture} fixture prints exactly its missing steps and changes nothing`, { timeout: 240_000 }, async () => {
      log = join(work, `dry-${fixture}.log`);
      const tree = join(FIXTURES, fixture);
      const r = await cli(['--config', CONFIG, '--sysfs-root', join(tree, 'sys'), '--dry-run'], standInEnv(tree));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, script(EXPECTED[fixture]!(join(tree, 'sys'))));
      assert.deepEqual(await calls(), [], 'only reads: devlink eswitch show');
    });
  }

  test('--apply runs the dry run\'s steps in order through devlink and vdpa', { timeout: 240_000 }, async () => {
    const tree = await copyOf('fresh');
    const sys = join(tree, 'sys');
    log = join(work, 'apply-cli.log');
    const r = await cli(['--config', CONFIG, '--sysfs-root', sys, '--apply'], standInEnv(tree));
    assert.equal(r.code, 0, r.stderr);
    const expected = EXPECTED.fresh!(sys);
    assert.deepEqual(r.stdout.split('\n').filter((l) => l.startsWith('+ ')).map((l) => l.slice(2)),
      [...expected.slice(1), `echo 1 > ${sys}/bus/vdpa/drivers_autoprobe`]);
    assert.deepEqual(await calls(), expected.filter((c) => !c.startsWith('echo') && !c.startsWith('trap')));
    assert.equal((await readFile(join(sys, 'bus/pci/devices/0000:3b:00.0/sriov_numvfs'), 'utf8')).trim(), '4');
    assert.equal((await readFile(join(tree, 'devlink/eswitch/0000:3b:00.1'), 'utf8')).trim(), 'switchdev');
  });

  for (const fixture of ['fresh', 'half-prepared', 'wrong-eswitch-mode']) {
    test(`--apply on the ${fixture} fixture (simulated kernel) leaves a prepared host, and a second run does nothing`, { timeout: 240_000 }, async () => {
      const tree = await copyOf(fixture);
      const sys = join(tree, 'sys');
      log = join(work, `apply-${fixture}.log`);
      const io = { out: () => {}, run: commandRunner(standInEnv(tree)), write: simulatedKernel(tree) };
      const first = await runHostPrep({ config: CONFIG, sysfsRoot: sys, mode: 'apply' }, io);
      assert.equal(first.steps.length, EXPECTED[fixture]!(sys).length - 1);
      assert.deepEqual(await devicesOf(sys), BOUND_EVERYWHERE);
      assert.equal((await readFile(join(sys, 'bus/vdpa/drivers_autoprobe'), 'utf8')).trim(), '1', 'autoprobe back on');

      const before = await calls();
      const printed: string[] = [];
      const second = await runHostPrep({ config: CONFIG, sysfsRoot: sys, mode: 'apply' }, { ...io, out: (t) => printed.push(t) });
      assert.deepEqual(second, { steps: [], finally: [] });
      assert.deepEqual(printed, ['host-prep: nothing to do: the host matches its config\n']);
      assert.deepEqual(await calls(), before, 'the second run ran nothing');
    });
  }

  test('a failing step stops with its command and error; what ran stays, autoprobe is restored, a rerun finishes', { timeout: 240_000 }, async () => {
    const tree = await copyOf('fresh');
    const sys = join(tree, 'sys');
    log = join(work, 'fail.log');
    const failing = 'vdpa dev add name vdpa0-2 mgmtdev pci/0000:3b:00.4';
    const write = simulatedKernel(tree);
    const err = await runHostPrep({ config: CONFIG, sysfsRoot: sys, mode: 'apply' },
      { out: () => {}, run: commandRunner(standInEnv(tree, failing)), write }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof HostPrepStepError);
    assert.equal(err.command, failing);
    assert.equal(err.message, `${failing}: kernel answers: No space left on device (exit 1)`);
    assert.deepEqual(await devicesOf(sys), { 'vdpa0-0': ['0000:3b:00.2', 'vhost_vdpa'], 'vdpa0-1': ['0000:3b:00.3', 'vhost_vdpa'] });
    assert.equal((await readFile(join(sys, 'bus/vdpa/drivers_autoprobe'), 'utf8')).trim(), '1');
    assert.equal((await calls()).at(-1), failing, 'nothing ran after the failure');

    const rerun = await runHostPrep({ config: CONFIG, sysfsRoot: sys, mode: 'apply' }, { out: () => {}, run: commandRunner(standInEnv(tree)), write });
    assert.deepEqual(rerun.steps.filter((s) => s.kind === 'exec').map((s) => s.kind === 'exec' && s.argv.join(' ')), [
      failing, 'vdpa dev add name vdpa0-3 mgmtdev pci/0000:3b:00.5', 'vdpa dev add name vdpa1-0 mgmtdev pci/0000:3b:01.2', 'vdpa dev add name vdpa1-1 mgmtdev pci/0000:3b:01.3',
    ]);
    assert.deepEqual(await devicesOf(sys), BOUND_EVERYWHERE);
  });

  test('the CLI reports a failed step with its command and exits 1', { timeout: 240_000 }, async () => {
    const tree = await copyOf('fresh');
    log = join(work, 'fail-cli.log');
    const r = await cli(['--config', CONFIG, '--sysfs-root', join(tree, 'sys'), '--apply'], standInEnv(tree, 'devlink dev eswitch set pci/0000:3b:00.1'));
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'vdpa-compute host-prep: devlink dev eswitch set pci/0000:3b:00.1 mode switchdev: kernel answers: Operation not supported (exit 1)\n');
    assert.equal((await readFile(join(tree, 'devlink/eswitch/0000:3b:00.0'), 'utf8')).trim(), 'switchdev', 'the step before it stays done');
  });

  test('a config error names the field; no mode flag is refused', { timeout: 240_000 }, async () => {
    const bad = join(work, 'bad.yaml');
    await writeFile(bad, 'nics:\n  - {pf: "0000:3b:00.0", num_vfs: four}\n');
    const tree = join(FIXTURES, 'prepared');
    const r = await cli(['--config', bad, '--sysfs-root', join(tree, 'sys'), '--dry-run'], standInEnv(tree));
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `vdpa-compute host-prep: ${bad}: nics[0].num_vfs: expected a whole number of VFs (0 or more)\n`);
    const none = await cli(['--config', CONFIG], standInEnv(tree));
    assert.equal(none.code, 1);
    assert.match(none.stderr, /give one of --dry-run, --apply or --install-systemd DIR/);
  });

  test('--install-systemd writes the oneshot unit, ordered before the agent\'s unit', { timeout: 240_000 }, async () => {
    const dir = join(work, 'units');
    const r = await cli(['--config', CONFIG, '--install-systemd', dir], standInEnv(join(FIXTURES, 'prepared')));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(dir)).sort(), ['vdpa-compute-agent.service', 'vdpa-compute-host-prep.service']);
    const prep = await readFile(join(dir, 'vdpa-compute-host-prep.service'), 'utf8');
    assert.match(prep, /^Type=oneshot$/m);
    assert.match(prep, /^RemainAfterExit=yes$/m);
    assert.match(prep, /^Before=vdpa-compute-agent\.service /m);
    assert.ok(prep.includes(`\nExecStart=${process.execPath} ${CLI} host-prep --apply --config ${CONFIG}\n`), prep);
    const agent = await readFile(join(dir, 'vdpa-compute-agent.service'), 'utf8');
    assert.match(agent, /^Requires=vdpa-compute-host-prep\.service$/m);
    assert.match(agent, /^After=vdpa-compute-host-prep\.service /m);
    assert.ok(agent.includes(`\nExecStart=${process.execPath} ${CLI} agent $VDPA_AGENT_ARGS\n`), agent);
  });
});
