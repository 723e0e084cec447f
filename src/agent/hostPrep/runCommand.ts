import { execFile } from 'node:child_process';

/** Runs argv (found on PATH) and resolves with its standard output; rejects with its standard error. */
export type CommandRunner = (argv: string[]) => Promise<string>;

export class CommandFailed extends Error {
  constructor(readonly argv: string[], message: string) {
    super(message);
    this.name = 'CommandFailed';
  }
}

/** A runner with this environment (PATH decides which devlink and vdpa run). */
export function commandRunner(env: NodeJS.ProcessEnv = process.env): CommandRunner {
  return (argv) => new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { env, timeout: 120_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(String(stdout));
      const detail = String(stderr).trim() || err.message;
      const code = typeof (err as { code?: unknown }).code === 'number' ? ` (exit ${(err as { code: number }).code})` : '';
      reject(new CommandFailed(argv, `${detail}${code}`));
    });
  });
}

export const runCommand: CommandRunner = commandRunner();
