import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostPrepPlan, PrepStep } from '../../domain/hostPrep/plan.js';
import { commandOf } from '../../domain/hostPrep/script.js';
import type { CommandRunner } from './runCommand.js';

/** How a step's sysfs write reaches the kernel (a file write; tests hand in a simulated kernel). */
export type SysfsWriter = (path: string, value: string) => Promise<void>;

export const writeSysfs: SysfsWriter = (path, value) => writeFile(path, `${value}\n`);

export class HostPrepStepError extends Error {
  constructor(readonly command: string, override readonly cause: unknown, readonly done: string[]) {
    super(`${command}: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'HostPrepStepError';
  }
}

export interface ApplyIo {
  sysfsRoot: string;
  run: CommandRunner;
  write?: SysfsWriter;
  /** Told each command before it runs. */
  onStep?: (command: string) => void;
}

async function runStep(step: PrepStep, io: ApplyIo): Promise<void> {
  if (step.kind === 'exec') await io.run(step.argv);
  else await (io.write ?? writeSysfs)(join(io.sysfsRoot, step.path), step.value);
}

/**
 * Runs the steps in order and stops at the first that fails, with its
 * command and error. Each step is one kernel operation that either happened
 * or did not, so what ran before stays as it is (a later run picks up from
 * there); the plan's `finally` steps (autoprobe back on) run in any case.
 */
export async function applyPlan(plan: HostPrepPlan, io: ApplyIo): Promise<string[]> {
  const done: string[] = [];
  let failure: HostPrepStepError | null = null;
  for (const step of plan.steps) {
    const command = commandOf(step, io.sysfsRoot);
    io.onStep?.(command);
    try {
      await runStep(step, io);
    } catch (e) {
      failure = new HostPrepStepError(command, e, done);
      break;
    }
    done.push(command);
  }
  for (const step of plan.finally) {
    const command = commandOf(step, io.sysfsRoot);
    io.onStep?.(command);
    try {
      await runStep(step, io);
      done.push(command);
    } catch (e) {
      failure ??= new HostPrepStepError(command, e, done);
    }
  }
  if (failure) throw failure;
  return done;
}
