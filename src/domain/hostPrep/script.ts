import type { HostPrepPlan, PrepStep } from './plan.js';

/** The plan as the shell commands it stands for (`--dry-run` prints them; `--apply` runs the same steps). */

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function shellQuote(word: string): string {
  return SAFE.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The literal command of a step; sysfs paths under `sysfsRoot`. */
export function commandOf(step: PrepStep, sysfsRoot: string): string {
  if (step.kind === 'exec') return step.argv.map(shellQuote).join(' ');
  const path = `${sysfsRoot.replace(/\/+$/, '')}/${step.path}`;
  return `echo ${shellQuote(step.value)} > ${shellQuote(path)}`;
}

/** A POSIX shell script running the plan: stops at the first failure, runs the `finally` steps in any case. */
export function planScript(plan: HostPrepPlan, sysfsRoot: string): string {
  const lines = ['#!/bin/sh', '# vdpa-compute host-prep: the steps this host is missing'];
  if (plan.steps.length === 0) return `${[...lines, '# nothing to do: the host matches its config'].join('\n')}\n`;
  lines.push('set -e');
  if (plan.finally.length > 0) lines.push(`trap ${shellQuote(plan.finally.map((s) => commandOf(s, sysfsRoot)).join('; '))} EXIT`);
  for (const step of plan.steps) lines.push(commandOf(step, sysfsRoot));
  return `${lines.join('\n')}\n`;
}
